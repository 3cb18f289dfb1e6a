#include "actors/exporter_fetch.h"
#include "actors/exporter_tar.h"
#include "actors/exporter_zip.h"
#include "runtime/log.h"
#include "runtime/msg.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libssh2.h>
#include <libssh2_sftp.h>
#include <netdb.h>
#include <openssl/evp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>

#define S_NAME_MAX  1024     //  bytes of one directory entry name
#define S_PATH_MAX  3900     //  bytes of a relative path
#define S_SCAN_MAX  1000000  //  directory entries looked at per VM
#define S_SEND_WAIT 200      //  ms per send attempt (cancel checks)

//  The state of one thread's work.
typedef struct {
    ll_fetch_t *fetch;      //  the job
    ll_fetch_shared_t *sh;  //  its shared part
    int sock;               //  TCP socket or -1
    LIBSSH2_SESSION *ssh;   //  session or NULL
    LIBSSH2_SFTP *sftp;     //  SFTP channel or NULL
    char *base;             //  absolute data folder on the VM
    char error[512];        //  why the VM failed
    long scanned;           //  entries seen
    unsigned char *buffer;  //  LL_FETCH_CHUNK bytes
    EVP_MD_CTX *md;         //  SHA-256 of the current file
} s_job_t;

//  libssh2 runs non-blocking: a call that would block is retried when the
//  socket is ready or after S_TICK_MS, so every call has its own deadline
//  (export.timeout_s) and a cancelled export stops within a tick.
#define S_TICK_MS 10

//  0 to call again, -1 past the deadline or when cancelled.
static int
s_wait (s_job_t *job, int64_t deadline)
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

//  rc = expr, retried while it would block (export.timeout_s at most)
#define S_CALL(job, rc, expr)                                                  \
    do {                                                                       \
        int64_t deadline_ = ll_now_ms () + (job)->sh->timeout_ms;              \
        while (((rc) = (expr)) == LIBSSH2_ERROR_EAGAIN)                        \
            if (s_wait ((job), deadline_) != 0)                                \
                break;                                                         \
    } while (0)

//  The same for calls that return a pointer (NULL + EAGAIN: again)
#define S_CALLP(job, ptr, expr)                                                \
    do {                                                                       \
        int64_t deadline_ = ll_now_ms () + (job)->sh->timeout_ms;              \
        while (!((ptr) = (expr))                                               \
               && libssh2_session_last_errno ((job)->ssh)                      \
                      == LIBSSH2_ERROR_EAGAIN)                                 \
            if (s_wait ((job), deadline_) != 0)                                \
                break;                                                         \
    } while (0)

int
ll_fetch_global_init (void)
{
    return libssh2_init (0) == 0 ? 0 : -1;
}

void
ll_fetch_global_exit (void)
{
    libssh2_exit ();
}

//  Send msg to the exporter, waiting while its queue is full; -1 when the
//  export was cancelled.
static int
s_send (s_job_t *job, zmsg_t **msg_p)
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

static int
s_sendf (s_job_t *job, const char *command, int count, ...)
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

static void
s_fail (s_job_t *job, const char *what)
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

//  TCP connect with a deadline; 0 or -1 (job->error set).
static int
s_connect (s_job_t *job)
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
static int
s_login (s_job_t *job)
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
    S_CALL (job, rc, libssh2_session_handshake (job->ssh, job->sock));
    if (rc != 0) {
        s_fail (job, "ssh handshake failed");
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
    else if (s_sendf (job, "HOSTKEY", 3, s_key_type (type), b64, fp) != 0)
        return -1;

    const char *user = job->sh->user;
    S_CALL (job, rc,
            libssh2_userauth_publickey_frommemory (
                job->ssh, user, strlen (user), NULL, 0, job->sh->key_pem,
                job->sh->key_len, NULL));
    if (rc != 0) {
        s_fail (job, "ssh login refused");
        return -1;
    }
    return 0;
}

//  The SFTP channel and the data folder's absolute path. 0 or -1.
static int
s_sftp_start (s_job_t *job)
{
    S_CALLP (job, job->sftp, libssh2_sftp_init (job->ssh));
    if (!job->sftp) {
        s_fail (job, "sftp unavailable");
        return -1;
    }
    //  The data folder, absolute (a relative one is under the login's start
    //  folder: its home, or the local provider's VM home)
    char real[4096];
    int n;
    S_CALL (job, n,
            libssh2_sftp_realpath (job->sftp, job->sh->data_dir, real,
                                   sizeof real - 1));
    if (n <= 0) {
        s_fail (job, "data folder not found");
        snprintf (job->error + strlen (job->error),
                  sizeof job->error - strlen (job->error), " (%s)",
                  job->sh->data_dir);
        return -1;
    }
    real[n] = '\0';
    job->base = strdup (real);
    return 0;
}

static void
s_close (s_job_t *job, LIBSSH2_SFTP_HANDLE *handle)
{
    int rc;
    S_CALL (job, rc, libssh2_sftp_close_handle (handle));
}

static bool
s_has_suffix (const char *name, size_t len, const char *ext)
{
    size_t elen = strlen (ext);
    return len >= elen + 1 && name[len - elen - 1] == '.'
           && memcmp (name + len - elen, ext, elen) == 0;
}

//  Stream one regular file. 0 to go on, -1 when the VM must stop.
//  Reserve a file of size bytes against the caps: 0 when it may be read,
//  1 when it was skipped (SKIP sent), -1 when the export is cancelled.
static int
s_reserve (s_job_t *job, const char *rel, int64_t size)
{
    ll_fetch_shared_t *sh = job->sh;
    char size_text[32];
    snprintf (size_text, sizeof size_text, "%lld", (long long) size);
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
    return s_sendf (job, "SKIP", 3, rel, size_text, why) == 0 ? 1 : -1;
}

//  A path from the VM that cannot be a zip entry name (a control character,
//  a backslash: ll_zip_name_safe) is refused, never rewritten: SKIP, so
//  the manifest lists it. True when refused; *rc -1 when the SKIP failed.
static bool
s_name_refused (s_job_t *job, const char *rel, int64_t size, int *rc)
{
    if (ll_zip_name_safe (rel, strlen (rel)))
        return false;
    char size_text[32];
    snprintf (size_text, sizeof size_text, "%lld", (long long) size);
    if (s_sendf (job, "SKIP", 3, rel, size_text,
                 "name has a control character or a backslash: refused")
        != 0)
        *rc = -1;
    return true;
}

//  Give back what a file did not use of its reservation.
static void
s_unreserve (s_job_t *job, int64_t reserved, int64_t used, bool whole)
{
    if (reserved > used)
        atomic_fetch_sub (&job->sh->bytes, reserved - used);
    if (whole)
        atomic_fetch_sub (&job->sh->files, 1);
}

//  A file's SHA-256 starts (OpenSSL's: it uses the CPU's SHA extensions,
//  about 8 times libsodium's portable code on this project's machines).
static void
s_begin_hash (s_job_t *job)
{
    EVP_DigestInit_ex (job->md, EVP_sha256 (), NULL);
}

//  The END message of a file: its SHA-256, bytes and note.
static int
s_end (s_job_t *job, int64_t done, const char *note)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex (job->md, digest, &len);
    char hex[EVP_MAX_MD_SIZE * 2 + 1], bytes[32];
    sodium_bin2hex (hex, sizeof hex, digest, len);
    snprintf (bytes, sizeof bytes, "%lld", (long long) done);
    return s_sendf (job, "END", 3, hex, bytes, note);
}

//  One DATA message (bytes also go into the file's hash).
static int
s_data (s_job_t *job, const void *data, size_t len)
{
    EVP_DigestUpdate (job->md, data, len);
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, "DATA");
    zmsg_addmem (msg, data, len);
    return s_send (job, &msg);
}

//  Stream one regular file. 0 to go on, -1 when the VM must stop.
static int
s_file (s_job_t *job, const char *rel, const LIBSSH2_SFTP_ATTRIBUTES *attrs)
{
    int64_t size =
        (attrs->flags & LIBSSH2_SFTP_ATTR_SIZE) ? (int64_t) attrs->filesize : 0;
    char size_text[32];
    snprintf (size_text, sizeof size_text, "%lld", (long long) size);
    int reserved = s_reserve (job, rel, size);
    if (reserved != 0)
        return reserved > 0 ? 0 : -1;
    char path[8192];
    snprintf (path, sizeof path, "%s/%s", job->base, rel);
    LIBSSH2_SFTP_HANDLE *file;
    S_CALLP (job, file,
             libssh2_sftp_open_ex (job->sftp, path, (unsigned) strlen (path),
                                   LIBSSH2_FXF_READ, 0, LIBSSH2_SFTP_OPENFILE));
    if (!file) {
        s_unreserve (job, size, 0, true);
        if (libssh2_session_last_errno (job->ssh)
            != LIBSSH2_ERROR_SFTP_PROTOCOL) {
            s_fail (job, "sftp open failed");
            return -1;
        }
        char why[64];
        snprintf (why, sizeof why, "cannot open: sftp status %lu",
                  libssh2_sftp_last_error (job->sftp));
        return s_sendf (job, "SKIP", 3, rel, size_text, why);
    }
    char mtime[32];
    snprintf (mtime, sizeof mtime, "%lu",
              (attrs->flags & LIBSSH2_SFTP_ATTR_ACMODTIME) ? attrs->mtime
                                                           : 0ul);
    if (s_sendf (job, "BEGIN", 3, rel, mtime, size_text) != 0) {
        s_close (job, file);
        return -1;
    }
    s_begin_hash (job);
    int64_t done = 0;
    const char *note = "";
    int rc = 0;
    while (done < size) {
        size_t want = size - done < LL_FETCH_CHUNK ? (size_t) (size - done)
                                                   : LL_FETCH_CHUNK;
        size_t got = 0;
        while (got < want) {
            ssize_t n;
            S_CALL (job, n,
                    libssh2_sftp_read (file, (char *) job->buffer + got,
                                       want - got));
            if (n < 0) {
                s_fail (job, "sftp read failed");
                note = "incomplete: read failed";
                rc = -1;
                break;
            }
            if (n == 0)
                break;
            got += (size_t) n;
        }
        if (got) {
            if (s_data (job, job->buffer, got) != 0) {
                s_close (job, file);
                return -1;
            }
            done += (int64_t) got;
        }
        if (rc != 0)
            break;
        if (got < want) {
            note = "incomplete: the file shrank while it was read";
            break;
        }
    }
    if (rc == 0 && done == size) {
        char probe[1];
        ssize_t n;
        S_CALL (job, n, libssh2_sftp_read (file, probe, 1));
        if (n > 0)
            note = "incomplete: the file grew while it was read";
    }
    s_close (job, file);
    s_unreserve (job, size, done, false);
    if (s_end (job, done, note) != 0)
        return -1;
    return rc;
}

//  Walk the data folder depth first (no links followed, models/ and
//  predictions/ left out). 0 or -1.
static int
s_walk (s_job_t *job)
{
    zlist_t *pending = zlist_new ();  //  relative folders still to read
    zlist_autofree (pending);
    zlist_append (pending, "");
    char *name = malloc (S_NAME_MAX + 1);
    int rc = 0;
    while (rc == 0 && zlist_size (pending)) {
        if (atomic_load (&job->sh->cancel)) {
            snprintf (job->error, sizeof job->error, "cancelled");
            rc = -1;
            break;
        }
        char *rel = zlist_pop (pending);
        int depth = 0;
        for (const char *c = rel; *c; c++)
            depth += *c == '/';
        char path[8192];
        snprintf (path, sizeof path, "%s%s%s", job->base, *rel ? "/" : "", rel);
        LIBSSH2_SFTP_HANDLE *dir;
        S_CALLP (job, dir,
                 libssh2_sftp_open_ex (job->sftp, path,
                                       (unsigned) strlen (path), 0, 0,
                                       LIBSSH2_SFTP_OPENDIR));
        if (!dir) {
            if (!*rel
                || libssh2_session_last_errno (job->ssh)
                       != LIBSSH2_ERROR_SFTP_PROTOCOL) {
                s_fail (job, "cannot list the data folder");
                rc = -1;
            }
            free (rel);  //  an unreadable sub-folder is skipped
            continue;
        }
        zlist_t *files = zlist_new ();  //  files of this folder, then read
        while (rc == 0) {
            LIBSSH2_SFTP_ATTRIBUTES attrs;
            int n;
            S_CALL (job, n,
                    libssh2_sftp_readdir_ex (dir, name, S_NAME_MAX, NULL, 0,
                                             &attrs));
            if (n == 0)
                break;
            if (n < 0) {
                s_fail (job, "cannot list a folder");
                rc = -1;
                break;
            }
            if (++job->scanned > S_SCAN_MAX) {
                snprintf (job->error, sizeof job->error,
                          "more than %d directory entries", S_SCAN_MAX);
                rc = -1;
                break;
            }
            size_t len = (size_t) n;
            //  Names are data: one component, never '.', '..', '/' or NUL
            if ((len == 1 && name[0] == '.')
                || (len == 2 && name[0] == '.' && name[1] == '.')
                || memchr (name, '/', len) || memchr (name, '\0', len))
                continue;
            name[len] = '\0';
            if (!(attrs.flags & LIBSSH2_SFTP_ATTR_PERMISSIONS))
                continue;
            size_t rlen = strlen (rel);
            if (rlen + 1 + len > S_PATH_MAX)
                continue;
            char child[S_PATH_MAX + 2];
            snprintf (child, sizeof child, "%s%s%s", rel, rlen ? "/" : "",
                      name);
            if (LIBSSH2_SFTP_S_ISDIR (attrs.permissions)) {
                if (strcmp (name, "models") == 0
                    || strcmp (name, "predictions") == 0
                    || depth + 1 >= LL_FETCH_DEPTH_MAX)
                    continue;
                zlist_append (pending, child);
            }
            else if (LIBSSH2_SFTP_S_ISREG (attrs.permissions)
                     && s_has_suffix (name, len, job->sh->extension)) {
                LIBSSH2_SFTP_ATTRIBUTES *copy =
                    malloc (sizeof *copy + len + rlen + 2);
                *copy = attrs;
                memcpy ((char *) (copy + 1), child, strlen (child) + 1);
                zlist_append (files, copy);
            }
        }
        s_close (job, dir);
        LIBSSH2_SFTP_ATTRIBUTES *f;
        while ((f = zlist_pop (files))) {
            const char *child = (const char *) (f + 1);
            int64_t size =
                (f->flags & LIBSSH2_SFTP_ATTR_SIZE) ? (int64_t) f->filesize : 0;
            if (rc == 0 && !s_name_refused (job, child, size, &rc))
                rc = s_file (job, child, f);
            free (f);
        }
        zlist_destroy (&files);
        free (rel);
    }
    free (name);
    zlist_destroy (&pending);
    return rc;
}

//  --- files inside the client container (export.source: container) -------
//
//  No SFTP reaches into a container, so two remote commands run through
//  export.container_command. Neither carries a file name: the listing comes
//  back NUL-separated (find -printf), and the names to read go to tar's
//  standard input (--null --verbatim-files-from -T -, so a name starting
//  with '-' is a name, not an option). Only the folder and the extension
//  (from the config, checked against a safe character set) are on the
//  command lines. The tar stream is parsed here; its member names are
//  only compared with the requested ones, never used.

#define S_LIST_MAX (64 * 1024 * 1024)  //  bytes of listing accepted

//  One file of the listing.
typedef struct {
    char *rel;       //  path below the data folder
    int64_t size;    //  bytes when listed
    char mtime[24];  //  seconds, as listed
} s_item_t;

//  A remote command's channel and what is still to be written to it.
typedef struct {
    LIBSSH2_CHANNEL *ch;  //  the channel
    const char *feed;     //  standard input still to send
    size_t feed_len;      //  bytes left in feed
    bool eof_sent;        //  standard input closed
} s_remote_t;

static bool
s_safe_word (const char *s, bool path)
{
    if (!*s || (path && *s != '/'))
        return false;
    for (; *s; s++)
        if (!(isalnum ((unsigned char) *s) || *s == '_' || *s == '-'
              || *s == '.' || (path && *s == '/')))
            return false;
    return true;
}

static int
s_remote_open (s_job_t *job, s_remote_t *r, const char *command)
{
    memset (r, 0, sizeof *r);
    S_CALLP (job, r->ch, libssh2_channel_open_session (job->ssh));
    if (!r->ch) {
        s_fail (job, "cannot open an ssh channel");
        return -1;
    }
    //  Standard error is dropped (it would otherwise hold the window)
    libssh2_channel_handle_extended_data2 (
        r->ch, LIBSSH2_CHANNEL_EXTENDED_DATA_IGNORE);
    int rc;
    S_CALL (job, rc, libssh2_channel_exec (r->ch, command));
    if (rc != 0) {
        s_fail (job, "the remote command was refused");
        libssh2_channel_free (r->ch);
        r->ch = NULL;
        return -1;
    }
    return 0;
}

//  Read up to n bytes (at least 1), feeding standard input meanwhile.
//  Returns bytes read, 0 at the end of the output, -1 on failure.
static ssize_t
s_remote_read (s_job_t *job, s_remote_t *r, void *buf, size_t n)
{
    int64_t deadline = ll_now_ms () + job->sh->timeout_ms;
    while (true) {
        while (r->feed_len) {
            ssize_t w = libssh2_channel_write (r->ch, r->feed, r->feed_len);
            if (w == LIBSSH2_ERROR_EAGAIN)
                break;
            if (w < 0) {
                s_fail (job, "cannot write to the remote command");
                return -1;
            }
            r->feed += w;
            r->feed_len -= (size_t) w;
        }
        if (!r->feed_len && !r->eof_sent
            && libssh2_channel_send_eof (r->ch) != LIBSSH2_ERROR_EAGAIN)
            r->eof_sent = true;
        ssize_t got = libssh2_channel_read (r->ch, buf, n);
        if (got > 0)
            return got;
        if (got == 0 && libssh2_channel_eof (r->ch))
            return 0;
        if (got < 0 && got != LIBSSH2_ERROR_EAGAIN) {
            s_fail (job, "cannot read the remote command's output");
            return -1;
        }
        if (s_wait (job, deadline) != 0) {
            snprintf (job->error, sizeof job->error,
                      "the remote command timed out");
            return -1;
        }
    }
}

//  Close the channel; its exit status, or -1.
static int
s_remote_close (s_job_t *job, s_remote_t *r)
{
    if (!r->ch)
        return -1;
    int rc;
    S_CALL (job, rc, libssh2_channel_close (r->ch));
    if (rc == 0)
        S_CALL (job, rc, libssh2_channel_wait_closed (r->ch));
    int status = rc == 0 ? libssh2_channel_get_exit_status (r->ch) : -1;
    libssh2_channel_free (r->ch);
    r->ch = NULL;
    return status;
}

//  A listed path is one we accept: relative, no empty, '.' or '..' part.
static bool
s_rel_valid (const char *rel)
{
    if (!*rel || *rel == '/' || strlen (rel) > S_PATH_MAX)
        return false;
    const char *part = rel;
    while (true) {
        const char *end = strchr (part, '/');
        size_t len = end ? (size_t) (end - part) : strlen (part);
        if (len == 0 || (len == 1 && part[0] == '.')
            || (len == 2 && part[0] == '.' && part[1] == '.'))
            return false;
        if (!end)
            return true;
        part = end + 1;
    }
}

//  The listing: NUL-separated "size mtime relpath" records. -1 on failure.
static int
s_container_list (s_job_t *job, zlist_t *items)
{
    char *command = zsys_sprintf (
        "%s find '%s' -mindepth 1 -type f -name '*.%s' -not -path "
        "'*/models/*' -not -path '*/predictions/*' -printf '%%s %%T@ %%P\\0'",
        job->sh->container_command, job->sh->data_dir, job->sh->extension);
    s_remote_t r;
    int rc = s_remote_open (job, &r, command);
    zstr_free (&command);
    if (rc != 0)
        return -1;
    size_t cap = 65536, len = 0;
    char *text = malloc (cap);
    ssize_t n;
    while ((n = s_remote_read (job, &r, text + len, cap - len)) > 0) {
        len += (size_t) n;
        if (len == cap) {
            if (cap >= S_LIST_MAX) {
                snprintf (job->error, sizeof job->error,
                          "the file listing is larger than %d bytes",
                          S_LIST_MAX);
                n = -1;
                break;
            }
            cap *= 2;
            text = realloc (text, cap);
        }
    }
    int status = s_remote_close (job, &r);
    if (n < 0) {
        free (text);
        return -1;
    }
    if (status != 0 && len == 0) {
        snprintf (job->error, sizeof job->error,
                  "listing the container's files failed (exit status %d; "
                  "no container, or no %s)",
                  status, job->sh->data_dir);
        free (text);
        return -1;
    }
    for (size_t at = 0; at < len;) {
        char *record = text + at;
        char *nul = memchr (record, '\0', len - at);
        if (!nul)
            break;  //  a truncated last record is dropped
        at = (size_t) (nul - text) + 1;
        char *space1 = strchr (record, ' ');
        char *space2 = space1 ? strchr (space1 + 1, ' ') : NULL;
        if (!space2)
            continue;
        *space1 = *space2 = '\0';
        const char *rel = space2 + 1;
        char *end = NULL;
        long long size = strtoll (record, &end, 10);
        if (*end || size < 0 || !s_rel_valid (rel))
            continue;
        s_item_t *item = calloc (1, sizeof *item);
        item->rel = strdup (rel);
        item->size = size;
        snprintf (item->mtime, sizeof item->mtime, "%.*s",
                  (int) strcspn (space1 + 1, "."), space1 + 1);
        zlist_append (items, item);
    }
    free (text);
    return 0;
}

//  The tar reader's bytes: the remote command's output.
typedef struct {
    s_job_t *job;   //  for the deadline and the failure's reason
    s_remote_t *r;  //  the channel
} s_tar_source_t;

static ssize_t
s_tar_source (void *arg, void *buf, size_t n)
{
    s_tar_source_t *source = arg;
    return s_remote_read (source->job, source->r, buf, n);
}

//  Read the selected files through tar. -1 when the VM must stop. The VM
//  may lie: the tar reader refuses a stream whose sizes cannot be true or
//  are over export.max_file_bytes, and no file gives more than the size it
//  was listed (and reserved against the caps) with.
static int
s_container_read (s_job_t *job, zlist_t *wanted)
{
    //  Standard input: the names, NUL-separated
    size_t feed_len = 0;
    for (s_item_t *i = zlist_first (wanted); i; i = zlist_next (wanted))
        feed_len += strlen (i->rel) + 1;
    char *feed = malloc (feed_len + 1);
    size_t at = 0;
    for (s_item_t *i = zlist_first (wanted); i; i = zlist_next (wanted)) {
        memcpy (feed + at, i->rel, strlen (i->rel) + 1);
        at += strlen (i->rel) + 1;
    }
    char *command =
        zsys_sprintf ("%s tar -C '%s' --null --verbatim-files-from "
                      "--no-recursion -T - -cf -",
                      job->sh->container_command, job->sh->data_dir);
    s_remote_t r;
    int rc = s_remote_open (job, &r, command);
    zstr_free (&command);
    if (rc != 0) {
        free (feed);
        return -1;
    }
    r.feed = feed;
    r.feed_len = feed_len;
    s_tar_source_t source = {.job = job, .r = &r};
    ll_tar_t tar;
    ll_tar_init (&tar, s_tar_source, &source, job->sh->max_file_bytes);
    s_item_t *next = zlist_first (wanted);
    while (rc == 0) {
        const char *member = NULL;
        int64_t size = 0;
        int got = ll_tar_next (&tar, &member, &size);
        if (got <= 0) {
            if (got < 0 && !tar.io_failed)
                snprintf (job->error, sizeof job->error, "%s", tar.error);
            rc = got;
            break;
        }
        //  Files tar could not read are missing: skip to the member's item
        s_item_t *item = next;
        while (item && strcmp (item->rel, member) != 0) {
            s_unreserve (job, item->size, 0, true);
            char size_text[32];
            snprintf (size_text, sizeof size_text, "%lld",
                      (long long) item->size);
            if (s_sendf (job, "SKIP", 3, item->rel, size_text,
                         "vanished before it was read")
                != 0)
                rc = -1;
            item = zlist_next (wanted);
        }
        if (rc != 0)
            break;
        if (!item) {
            snprintf (job->error, sizeof job->error,
                      "tar sent a file that was not asked for");
            rc = -1;
            break;
        }
        next = zlist_next (wanted);
        //  Never more than the listed size: what the caps reserved
        int64_t take = size < item->size ? size : item->size;
        char size_text[32];
        snprintf (size_text, sizeof size_text, "%lld", (long long) take);
        if (s_sendf (job, "BEGIN", 3, item->rel, item->mtime, size_text) != 0) {
            rc = -1;
            break;
        }
        s_begin_hash (job);
        int64_t done = 0;
        while (done < take && rc == 0) {
            size_t want = take - done < LL_FETCH_CHUNK ? (size_t) (take - done)
                                                       : LL_FETCH_CHUNK;
            ssize_t k = ll_tar_read (&tar, job->buffer, want);
            if (k <= 0) {
                if (!tar.io_failed)
                    snprintf (job->error, sizeof job->error, "%s",
                              k == 0 ? "the tar stream ended early"
                                     : tar.error);
                rc = -1;
                break;
            }
            if (s_data (job, job->buffer, (size_t) k) != 0)
                rc = -1;
            done += k;
        }
        s_unreserve (job, item->size, done, false);
        char note[128] = "";
        if (rc != 0)
            snprintf (note, sizeof note, "incomplete: read failed");
        else if (size > item->size)
            snprintf (note, sizeof note,
                      "grew after it was listed: cut at the listed %lld "
                      "bytes",
                      (long long) item->size);
        else if (done != item->size)
            snprintf (note, sizeof note, "changed while it was read");
        if (s_end (job, done, note) != 0)
            rc = -1;
    }
    ll_tar_free (&tar);
    int status = s_remote_close (job, &r);
    if (rc == 0 && status != 0)
        ll_debug ("exporter: tar exited %d", status);
    free (feed);
    return rc;
}

static void
s_item_free (void *p)
{
    s_item_t *item = p;
    free (item->rel);
    free (item);
}

//  The container's files: list, apply the caps, read. 0 or -1.
static int
s_container (s_job_t *job)
{
    if (!s_safe_word (job->sh->data_dir, true)
        || !s_safe_word (job->sh->extension, false)) {
        snprintf (job->error, sizeof job->error,
                  "export.data_dir or machine.extension has characters "
                  "that cannot go on a remote command line");
        return -1;
    }
    zlist_t *items = zlist_new ();
    zlist_t *wanted = zlist_new ();
    int rc = s_container_list (job, items);
    for (s_item_t *i = zlist_first (items); i && rc == 0;
         i = zlist_next (items)) {
        if (s_name_refused (job, i->rel, i->size, &rc))
            continue;
        int reserved = s_reserve (job, i->rel, i->size);
        if (reserved < 0)
            rc = -1;
        else if (reserved == 0)
            zlist_append (wanted, i);
    }
    if (rc == 0 && zlist_size (wanted))
        rc = s_container_read (job, wanted);
    zlist_destroy (&wanted);
    s_item_t *i;
    while ((i = zlist_pop (items)))
        s_item_free (i);
    zlist_destroy (&items);
    return rc;
}

void
ll_fetch_interrupt (ll_fetch_t *fetch)
{
    pthread_mutex_lock (&fetch->fd_lock);
    if (fetch->fd >= 0)
        shutdown (fetch->fd, SHUT_RDWR);
    pthread_mutex_unlock (&fetch->fd_lock);
}

void *
ll_fetch_run (void *arg)
{
    ll_fetch_t *fetch = arg;
    s_job_t job = {.fetch = fetch, .sh = fetch->shared, .sock = -1};
    job.buffer = malloc (LL_FETCH_CHUNK);
    job.md = EVP_MD_CTX_new ();
    int rc = s_connect (&job);
    if (rc == 0)
        rc = s_login (&job);
    if (rc == 0 && job.sh->container)
        rc = s_container (&job);
    else if (rc == 0) {
        rc = s_sftp_start (&job);
        if (rc == 0)
            rc = s_walk (&job);
    }
    if (atomic_load (&job.sh->cancel) && rc != 0)
        snprintf (job.error, sizeof job.error, "cancelled");
    if (rc == 0)
        s_sendf (&job, "DONE", 0);
    else
        s_sendf (&job, "FAIL", 1, job.error);
    if (job.ssh) {
        //  Blocking, briefly, for the goodbyes
        libssh2_session_set_blocking (job.ssh, 1);
        libssh2_session_set_timeout (job.ssh, 1000);
        if (job.sftp)
            libssh2_sftp_shutdown (job.sftp);
        if (!atomic_load (&job.sh->cancel))
            libssh2_session_disconnect (job.ssh, "export done");
        libssh2_session_free (job.ssh);
    }
    pthread_mutex_lock (&fetch->fd_lock);
    fetch->fd = -1;
    pthread_mutex_unlock (&fetch->fd_lock);
    if (job.sock >= 0)
        close (job.sock);
    free (job.base);
    free (job.buffer);
    EVP_MD_CTX_free (job.md);
    return NULL;
}
