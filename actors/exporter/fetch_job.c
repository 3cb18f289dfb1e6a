#include "actors/exporter/fetch_job.h"
#include "actors/exporter/zip.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>

#define S_TICK_MS 10

//  0 to call again, -1 past the deadline or when cancelled.
int
ll_fetch_wait (ll_fetch_job_t *job, int64_t deadline)
{
    if (atomic_load (&job->sh->cancel) || ll_now_ms () > deadline)
        return -1;
    int dir = libssh2_session_block_directions (job->ssh);
    struct pollfd p = {.fd = job->sock, .events = 0};
    if (dir & LIBSSH2_SESSION_BLOCK_INBOUND)
        p.events |= POLLIN;
    if (dir & LIBSSH2_SESSION_BLOCK_OUTBOUND)
        p.events |= POLLOUT;
    poll (&p, 1, S_TICK_MS);
    return 0;
}

//  Send msg to the exporter, waiting while its queue is full; -1 when the
//  export was cancelled.
static int
s_send (ll_fetch_job_t *job, zmsg_t **msg_p)
{
    while (!atomic_load (&job->sh->cancel)) {
        if (zmsg_send (msg_p, job->fetch->pair) == 0)
            return 0;
        if (zmq_errno () != EAGAIN)
            break;
    }
    zmsg_destroy (msg_p);
    return -1;
}

int
ll_fetch_sendf (ll_fetch_job_t *job, const char *command, int count, ...)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, command);
    va_list args;
    va_start (args, count);
    for (int i = 0; i < count; i++)
        zmsg_addstr (msg, va_arg (args, const char *));
    va_end (args);
    return s_send (job, &msg);
}

void
ll_fetch_fail (ll_fetch_job_t *job, const char *what)
{
    char *text = NULL;
    int len = 0;
    if (job->ssh)
        libssh2_session_last_error (job->ssh, &text, &len, 0);
    if (job->ssh
        && libssh2_session_last_errno (job->ssh) == LIBSSH2_ERROR_EAGAIN)
        snprintf (job->error, sizeof job->error, "%s: %s", what,
                  atomic_load (&job->sh->cancel) ? "cancelled" : "timed out");
    else if (job->sftp
             && libssh2_session_last_errno (job->ssh)
                    == LIBSSH2_ERROR_SFTP_PROTOCOL)
        snprintf (job->error, sizeof job->error, "%s: sftp status %lu", what,
                  libssh2_sftp_last_error (job->sftp));
    else if (text && len)
        snprintf (job->error, sizeof job->error, "%s: %.*s", what, len, text);
    else
        snprintf (job->error, sizeof job->error, "%s", what);
}

int
ll_fetch_skip (ll_fetch_job_t *job,
               const char *rel,
               int64_t size,
               const char *why)
{
    char size_text[32];
    snprintf (size_text, sizeof size_text, "%lld", (long long) size);
    return ll_fetch_sendf (job, "SKIP", 3, rel, size_text, why);
}

//  TCP connect with a deadline; 0 or -1 (job->error set).
int
ll_fetch_connect (ll_fetch_job_t *job)
{
    char port[16];
    snprintf (port, sizeof port, "%d", job->fetch->port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV};
    struct addrinfo *list = NULL;
    int rc = getaddrinfo (job->fetch->address, port, &hints, &list);
    if (rc != 0) {
        snprintf (job->error, sizeof job->error, "cannot resolve %s: %s",
                  job->fetch->address, gai_strerror (rc));
        return -1;
    }
    int err = ECONNREFUSED;
    for (struct addrinfo *ai = list; ai && job->sock < 0; ai = ai->ai_next) {
        int fd = socket (ai->ai_family,
                         ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                         ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        if (connect (fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            err = errno;
            if (err == EINPROGRESS) {
                struct pollfd p = {.fd = fd, .events = POLLOUT};
                int n = poll (&p, 1, job->sh->timeout_ms);
                socklen_t len = sizeof err;
                if (n == 1
                    && getsockopt (fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0
                    && err == 0) {
                    job->sock = fd;
                    break;
                }
                if (n == 0)
                    err = ETIMEDOUT;
            }
            close (fd);
            continue;
        }
        job->sock = fd;
    }
    freeaddrinfo (list);
    if (job->sock < 0) {
        snprintf (job->error, sizeof job->error, "cannot connect to %s:%d: %s",
                  job->fetch->address, job->fetch->port, strerror (err));
        return -1;
    }
    int flags = fcntl (job->sock, F_GETFL);
    fcntl (job->sock, F_SETFL, flags & ~O_NONBLOCK);
    int one = 1;
    setsockopt (job->sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    pthread_mutex_lock (&job->fetch->fd_lock);
    job->fetch->fd = job->sock;
    pthread_mutex_unlock (&job->fetch->fd_lock);
    return 0;
}

static const char *
s_key_type (int type)
{
    switch (type) {
        case LIBSSH2_HOSTKEY_TYPE_RSA:
            return "ssh-rsa";
        case LIBSSH2_HOSTKEY_TYPE_ECDSA_256:
            return "ecdsa-sha2-nistp256";
        case LIBSSH2_HOSTKEY_TYPE_ECDSA_384:
            return "ecdsa-sha2-nistp384";
        case LIBSSH2_HOSTKEY_TYPE_ECDSA_521:
            return "ecdsa-sha2-nistp521";
        case LIBSSH2_HOSTKEY_TYPE_ED25519:
            return "ssh-ed25519";
        default:
            return "unknown";
    }
}

//  SSH handshake, host key check, login. 0 or -1.
int
ll_fetch_login (ll_fetch_job_t *job)
{
    job->ssh = libssh2_session_init ();
    if (!job->ssh) {
        snprintf (job->error, sizeof job->error, "cannot make an ssh session");
        return -1;
    }
    libssh2_session_set_blocking (job->ssh, 0);
    //  A fixed preference, so the same host key is offered every time.
    //  Only names libssh2 1.10 knows: removing an unknown one makes it
    //  memcpy overlapping memory (AddressSanitizer reports it).
    libssh2_session_method_pref (job->ssh, LIBSSH2_METHOD_HOSTKEY,
                                 "ssh-ed25519,ecdsa-sha2-nistp256,"
                                 "ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,"
                                 "ssh-rsa");
    //  Only strong ciphers and MACs, whatever an old server would accept
    static const int directions[][2] = {
        {LIBSSH2_METHOD_CRYPT_CS, LIBSSH2_METHOD_MAC_CS},
        {LIBSSH2_METHOD_CRYPT_SC, LIBSSH2_METHOD_MAC_SC}};
    for (int i = 0; i < 2; i++) {
        libssh2_session_method_pref (job->ssh, directions[i][0],
                                     "aes128-ctr,aes256-ctr,aes192-ctr");
        libssh2_session_method_pref (job->ssh, directions[i][1],
                                     "hmac-sha2-256,hmac-sha2-512");
    }
    int rc;
    LL_FETCH_CALL (job, rc, libssh2_session_handshake (job->ssh, job->sock));
    if (rc != 0) {
        ll_fetch_fail (job, "ssh handshake failed");
        return -1;
    }
    size_t len = 0;
    int type = 0;
    const char *key = libssh2_session_hostkey (job->ssh, &len, &type);
    if (!key || len == 0 || len > 4096) {
        snprintf (job->error, sizeof job->error, "no usable host key");
        return -1;
    }
    char b64[sodium_base64_ENCODED_LEN (4096, sodium_base64_VARIANT_ORIGINAL)];
    sodium_bin2base64 (b64, sizeof b64, (const unsigned char *) key, len,
                       sodium_base64_VARIANT_ORIGINAL);
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256 (digest, (const unsigned char *) key, len);
    char fp[64];
    sodium_bin2base64 (fp, sizeof fp, digest, sizeof digest,
                       sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
    if (job->fetch->pinned) {
        if (strcmp (job->fetch->pinned, b64) != 0) {
            snprintf (job->error, sizeof job->error,
                      "host key changed (offered %s SHA256:%s): refused; "
                      "delete its ssh_host_keys row if the change is expected",
                      s_key_type (type), fp);
            return -1;
        }
    }
    else if (ll_fetch_sendf (job, "HOSTKEY", 3, s_key_type (type), b64, fp)
             != 0)
        return -1;

    const char *user = job->sh->user;
    LL_FETCH_CALL (job, rc,
                   libssh2_userauth_publickey_frommemory (
                       job->ssh, user, strlen (user), NULL, 0, job->sh->key_pem,
                       job->sh->key_len, NULL));
    if (rc != 0) {
        ll_fetch_fail (job, "ssh login refused");
        return -1;
    }
    return 0;
}
int
ll_fetch_reserve (ll_fetch_job_t *job, const char *rel, int64_t size)
{
    ll_fetch_shared_t *sh = job->sh;
    const char *why = NULL;
    if (size > sh->max_file_bytes)
        why = "larger than export.max_file_bytes";
    else if (atomic_fetch_add (&sh->files, 1) >= sh->max_files) {
        atomic_fetch_sub (&sh->files, 1);
        why = "past export.max_files";
    }
    else if (atomic_fetch_add (&sh->bytes, size) + size > sh->max_total_bytes) {
        atomic_fetch_sub (&sh->bytes, size);
        atomic_fetch_sub (&sh->files, 1);
        why = "past export.max_total_bytes";
    }
    if (!why)
        return 0;
    return ll_fetch_skip (job, rel, size, why) == 0 ? 1 : -1;
}

//  A path from the VM that cannot be a zip entry name (a control character,
//  a backslash: ll_zip_name_safe) is refused, never rewritten: SKIP, so
//  the manifest lists it. True when refused; *rc -1 when the SKIP failed.
bool
ll_fetch_name_refused (ll_fetch_job_t *job,
                       const char *rel,
                       int64_t size,
                       int *rc)
{
    if (ll_zip_name_safe (rel, strlen (rel)))
        return false;
    if (ll_fetch_skip (job, rel, size,
                       "name has a control character or a backslash: refused")
        != 0)
        *rc = -1;
    return true;
}

//  Give back what a file did not use of its reservation.
void
ll_fetch_unreserve (ll_fetch_job_t *job,
                    int64_t reserved,
                    int64_t used,
                    bool whole)
{
    if (reserved > used)
        atomic_fetch_sub (&job->sh->bytes, reserved - used);
    if (whole)
        atomic_fetch_sub (&job->sh->files, 1);
}

//  A file's SHA-256 starts (OpenSSL's: it uses the CPU's SHA extensions,
//  about 8 times libsodium's portable code on this project's machines).
void
ll_fetch_begin_hash (ll_fetch_job_t *job)
{
    EVP_DigestInit_ex (job->md, EVP_sha256 (), NULL);
}

//  The END message of a file: its SHA-256, bytes and note.
int
ll_fetch_end (ll_fetch_job_t *job, int64_t done, const char *note)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex (job->md, digest, &len);
    char hex[EVP_MAX_MD_SIZE * 2 + 1], bytes[32];
    sodium_bin2hex (hex, sizeof hex, digest, len);
    snprintf (bytes, sizeof bytes, "%lld", (long long) done);
    return ll_fetch_sendf (job, "END", 3, hex, bytes, note);
}

//  One DATA message (bytes also go into the file's hash).
int
ll_fetch_data (ll_fetch_job_t *job, const void *data, size_t len)
{
    EVP_DigestUpdate (job->md, data, len);
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, "DATA");
    zmsg_addmem (msg, data, len);
    return s_send (job, &msg);
}

//  Stream one regular file. 0 to go on, -1 when the VM must stop.

void
ll_fetch_job_init (ll_fetch_job_t *job, ll_fetch_t *fetch)
{
    *job = (ll_fetch_job_t){.fetch = fetch, .sh = fetch->shared, .sock = -1};
    job->buffer = malloc (LL_FETCH_CHUNK);
    job->md = EVP_MD_CTX_new ();
}

void
ll_fetch_job_close (ll_fetch_job_t *job)
{
    if (job->ssh) {
        //  Blocking, briefly, for the goodbyes
        libssh2_session_set_blocking (job->ssh, 1);
        libssh2_session_set_timeout (job->ssh, 1000);
        if (job->sftp)
            libssh2_sftp_shutdown (job->sftp);
        if (!atomic_load (&job->sh->cancel))
            libssh2_session_disconnect (job->ssh, "export done");
        libssh2_session_free (job->ssh);
    }
    pthread_mutex_lock (&job->fetch->fd_lock);
    job->fetch->fd = -1;
    pthread_mutex_unlock (&job->fetch->fd_lock);
    if (job->sock >= 0)
        close (job->sock);
    free (job->base);
    free (job->buffer);
    EVP_MD_CTX_free (job->md);
}
