#include "actors/exporter_fetch.h"
#include "runtime/msg.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libssh2.h>
#include <libssh2_sftp.h>
#include <netdb.h>
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
    //  A fixed preference, so the same host key is offered every time
    libssh2_session_method_pref (job->ssh, LIBSSH2_METHOD_HOSTKEY,
                                 "ssh-ed25519,ecdsa-sha2-nistp256,"
                                 "ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,"
                                 "rsa-sha2-512,rsa-sha2-256,ssh-rsa");
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
static int
s_file (s_job_t *job, const char *rel, const LIBSSH2_SFTP_ATTRIBUTES *attrs)
{
    ll_fetch_shared_t *sh = job->sh;
    int64_t size =
        (attrs->flags & LIBSSH2_SFTP_ATTR_SIZE) ? (int64_t) attrs->filesize : 0;
    char size_text[32];
    snprintf (size_text, sizeof size_text, "%lld", (long long) size);
    if (size > sh->max_file_bytes)
        return s_sendf (job, "SKIP", 3, rel, size_text,
                        "larger than export.max_file_bytes");
    if (atomic_fetch_add (&sh->files, 1) >= sh->max_files) {
        atomic_fetch_sub (&sh->files, 1);
        return s_sendf (job, "SKIP", 3, rel, size_text,
                        "past export.max_files");
    }
    if (atomic_fetch_add (&sh->bytes, size) + size > sh->max_total_bytes) {
        atomic_fetch_sub (&sh->bytes, size);
        atomic_fetch_sub (&sh->files, 1);
        return s_sendf (job, "SKIP", 3, rel, size_text,
                        "past export.max_total_bytes");
    }
    char path[8192];
    snprintf (path, sizeof path, "%s/%s", job->base, rel);
    LIBSSH2_SFTP_HANDLE *file;
    S_CALLP (job, file,
             libssh2_sftp_open_ex (job->sftp, path, (unsigned) strlen (path),
                                   LIBSSH2_FXF_READ, 0, LIBSSH2_SFTP_OPENFILE));
    if (!file) {
        atomic_fetch_sub (&sh->bytes, size);
        atomic_fetch_sub (&sh->files, 1);
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
    crypto_hash_sha256_state state;
    crypto_hash_sha256_init (&state);
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
            crypto_hash_sha256_update (&state, job->buffer, got);
            zmsg_t *msg = zmsg_new ();
            zmsg_addstr (msg, "DATA");
            zmsg_addmem (msg, job->buffer, got);
            if (s_send (job, &msg) != 0) {
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
    if (done < size)
        atomic_fetch_sub (&sh->bytes, size - done);
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final (&state, digest);
    char hex[crypto_hash_sha256_BYTES * 2 + 1], bytes[32];
    sodium_bin2hex (hex, sizeof hex, digest, sizeof digest);
    snprintf (bytes, sizeof bytes, "%lld", (long long) done);
    if (s_sendf (job, "END", 3, hex, bytes, note) != 0)
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
            if (rc == 0)
                rc = s_file (job, (const char *) (f + 1), f);
            free (f);
        }
        zlist_destroy (&files);
        free (rel);
    }
    free (name);
    zlist_destroy (&pending);
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
    int rc = 0;
    if (job.sh->container) {
        snprintf (job.error, sizeof job.error,
                  "export.source container is not implemented yet");
        rc = -1;
    }
    if (rc == 0)
        rc = s_connect (&job);
    if (rc == 0)
        rc = s_login (&job);
    if (rc == 0)
        rc = s_walk (&job);
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
    return NULL;
}
