/*  What both sources of one VM's fetch share (the SFTP walker,
    actors/exporter/sftp_walk.h, and the container reader,
    actors/exporter/container.h): the TCP connection, the SSH login with
    the host key check, libssh2's non-blocking calls with a deadline, the
    messages to the exporter (actors/exporter/fetch.h lists them), the caps
    every file is reserved against, and each file's SHA-256. */
#ifndef LL_EXPORTER_FETCH_JOB_H
#define LL_EXPORTER_FETCH_JOB_H

#include "actors/exporter/fetch.h"
#include "runtime/msg.h"

#include <libssh2.h>
#include <libssh2_sftp.h>
#include <openssl/evp.h>

#define LL_FETCH_PATH_MAX 3900  //  bytes of a relative path

//  The state of one thread's work.
typedef struct {
    ll_fetch_t *fetch;      //  the job
    ll_fetch_shared_t *sh;  //  its shared part
    int sock;               //  TCP socket or -1
    LIBSSH2_SESSION *ssh;   //  session or NULL
    LIBSSH2_SFTP *sftp;     //  SFTP channel or NULL (the walker's)
    char *base;             //  absolute data folder on the VM (the walker's)
    char error[512];        //  why the VM failed
    long scanned;           //  entries seen (the walker's)
    unsigned char *buffer;  //  LL_FETCH_CHUNK bytes
    EVP_MD_CTX *md;         //  SHA-256 of the current file
} ll_fetch_job_t;

//  libssh2 runs non-blocking: a call that would block is retried when the
//  socket is ready or after a tick (10 ms), so every call has its own
//  deadline (export.timeout_s) and a cancelled export stops within a tick.
//  0 to call again, -1 past the deadline or when cancelled.
int ll_fetch_wait (ll_fetch_job_t *job, int64_t deadline);

//  rc = expr, retried while it would block (export.timeout_s at most)
#define LL_FETCH_CALL(job, rc, expr)                                           \
    do {                                                                       \
        int64_t deadline_ = ll_now_ms () + (job)->sh->timeout_ms;              \
        while (((rc) = (expr)) == LIBSSH2_ERROR_EAGAIN)                        \
            if (ll_fetch_wait ((job), deadline_) != 0)                         \
                break;                                                         \
    } while (0)

//  The same for calls that return a pointer (NULL + EAGAIN: again)
#define LL_FETCH_CALLP(job, ptr, expr)                                         \
    do {                                                                       \
        int64_t deadline_ = ll_now_ms () + (job)->sh->timeout_ms;              \
        while (!((ptr) = (expr))                                               \
               && libssh2_session_last_errno ((job)->ssh)                      \
                      == LIBSSH2_ERROR_EAGAIN)                                 \
            if (ll_fetch_wait ((job), deadline_) != 0)                         \
                break;                                                         \
    } while (0)

//  Send command and count string frames; -1 when the export was cancelled.
int ll_fetch_sendf (ll_fetch_job_t *job, const char *command, int count, ...);

//  SKIP rel size why: a file left out (the manifest lists it). 0 or -1.
int ll_fetch_skip (ll_fetch_job_t *job,
                   const char *rel,
                   int64_t size,
                   const char *why);

//  job->error = what, with libssh2's reason (timed out, sftp status...).
void ll_fetch_fail (ll_fetch_job_t *job, const char *what);

//  TCP connect with a deadline; 0 or -1 (job->error set).
int ll_fetch_connect (ll_fetch_job_t *job);

//  SSH handshake, host key check (or HOSTKEY for the exporter to pin),
//  login. 0 or -1.
int ll_fetch_login (ll_fetch_job_t *job);

//  Reserve a file of size bytes against the caps: 0 when it may be read,
//  1 when it was skipped (SKIP sent), -1 when the export is cancelled.
int ll_fetch_reserve (ll_fetch_job_t *job, const char *rel, int64_t size);

//  A path that cannot be a zip entry name is refused, never rewritten
//  (SKIP). True when refused; *rc -1 when the SKIP failed.
bool ll_fetch_name_refused (ll_fetch_job_t *job,
                            const char *rel,
                            int64_t size,
                            int *rc);

//  Give back what a file did not use of its reservation (whole: the file
//  itself too).
void ll_fetch_unreserve (ll_fetch_job_t *job,
                         int64_t reserved,
                         int64_t used,
                         bool whole);

//  A file's SHA-256 starts; ll_fetch_data adds its bytes (one DATA
//  message each), ll_fetch_end sends END sha256 bytes note. 0 or -1.
void ll_fetch_begin_hash (ll_fetch_job_t *job);
int ll_fetch_data (ll_fetch_job_t *job, const void *data, size_t len);
int ll_fetch_end (ll_fetch_job_t *job, int64_t done, const char *note);

//  A job for fetch: not connected yet.
void ll_fetch_job_init (ll_fetch_job_t *job, ll_fetch_t *fetch);

//  Say goodbye to the VM and free what the job holds.
void ll_fetch_job_close (ll_fetch_job_t *job);

#endif
