#include "actors/exporter/sftp_walk.h"

#define S_NAME_MAX 1024     //  bytes of one directory entry name
#define S_SCAN_MAX 1000000  //  directory entries looked at per VM

//  The SFTP channel and the data folder's absolute path. 0 or -1.
static int
s_sftp_start (ll_fetch_job_t *job)
{
    LL_FETCH_CALLP (job, job->sftp, libssh2_sftp_init (job->ssh));
    if (!job->sftp) {
        ll_fetch_fail (job, "sftp unavailable");
        return -1;
    }
    //  The data folder, absolute (a relative one is under the login's start
    //  folder: its home, or the local provider's VM home)
    char real[4096];
    int n;
    LL_FETCH_CALL (job, n,
                   libssh2_sftp_realpath (job->sftp, job->sh->data_dir, real,
                                          sizeof real - 1));
    if (n <= 0) {
        ll_fetch_fail (job, "data folder not found");
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
s_close (ll_fetch_job_t *job, LIBSSH2_SFTP_HANDLE *handle)
{
    int rc;
    LL_FETCH_CALL (job, rc, libssh2_sftp_close_handle (handle));
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
static int
s_file (ll_fetch_job_t *job,
        const char *rel,
        const LIBSSH2_SFTP_ATTRIBUTES *attrs)
{
    int64_t size =
        (attrs->flags & LIBSSH2_SFTP_ATTR_SIZE) ? (int64_t) attrs->filesize : 0;
    char size_text[32];
    snprintf (size_text, sizeof size_text, "%lld", (long long) size);
    int reserved = ll_fetch_reserve (job, rel, size);
    if (reserved != 0)
        return reserved > 0 ? 0 : -1;
    char path[8192];
    snprintf (path, sizeof path, "%s/%s", job->base, rel);
    LIBSSH2_SFTP_HANDLE *file;
    LL_FETCH_CALLP (
        job, file,
        libssh2_sftp_open_ex (job->sftp, path, (unsigned) strlen (path),
                              LIBSSH2_FXF_READ, 0, LIBSSH2_SFTP_OPENFILE));
    if (!file) {
        ll_fetch_unreserve (job, size, 0, true);
        if (libssh2_session_last_errno (job->ssh)
            != LIBSSH2_ERROR_SFTP_PROTOCOL) {
            ll_fetch_fail (job, "sftp open failed");
            return -1;
        }
        char why[64];
        snprintf (why, sizeof why, "cannot open: sftp status %lu",
                  libssh2_sftp_last_error (job->sftp));
        return ll_fetch_skip (job, rel, size, why);
    }
    char mtime[32];
    snprintf (mtime, sizeof mtime, "%lu",
              (attrs->flags & LIBSSH2_SFTP_ATTR_ACMODTIME) ? attrs->mtime
                                                           : 0ul);
    if (ll_fetch_sendf (job, "BEGIN", 3, rel, mtime, size_text) != 0) {
        s_close (job, file);
        return -1;
    }
    ll_fetch_begin_hash (job);
    int64_t done = 0;
    const char *note = "";
    int rc = 0;
    while (done < size) {
        size_t want = size - done < LL_FETCH_CHUNK ? (size_t) (size - done)
                                                   : LL_FETCH_CHUNK;
        size_t got = 0;
        while (got < want) {
            ssize_t n;
            LL_FETCH_CALL (job, n,
                           libssh2_sftp_read (file, (char *) job->buffer + got,
                                              want - got));
            if (n < 0) {
                ll_fetch_fail (job, "sftp read failed");
                note = "incomplete: read failed";
                rc = -1;
                break;
            }
            if (n == 0)
                break;
            got += (size_t) n;
        }
        if (got) {
            if (ll_fetch_data (job, job->buffer, got) != 0) {
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
        LL_FETCH_CALL (job, n, libssh2_sftp_read (file, probe, 1));
        if (n > 0)
            note = "incomplete: the file grew while it was read";
    }
    s_close (job, file);
    ll_fetch_unreserve (job, size, done, false);
    if (ll_fetch_end (job, done, note) != 0)
        return -1;
    return rc;
}

//  Walk the data folder depth first (no links followed, models/ and
//  predictions/ left out). 0 or -1.
static int
s_walk (ll_fetch_job_t *job)
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
        LL_FETCH_CALLP (job, dir,
                        libssh2_sftp_open_ex (job->sftp, path,
                                              (unsigned) strlen (path), 0, 0,
                                              LIBSSH2_SFTP_OPENDIR));
        if (!dir) {
            if (!*rel
                || libssh2_session_last_errno (job->ssh)
                       != LIBSSH2_ERROR_SFTP_PROTOCOL) {
                ll_fetch_fail (job, "cannot list the data folder");
                rc = -1;
            }
            free (rel);  //  an unreadable sub-folder is skipped
            continue;
        }
        zlist_t *files = zlist_new ();  //  files of this folder, then read
        while (rc == 0) {
            LIBSSH2_SFTP_ATTRIBUTES attrs;
            int n;
            LL_FETCH_CALL (job, n,
                           libssh2_sftp_readdir_ex (dir, name, S_NAME_MAX, NULL,
                                                    0, &attrs));
            if (n == 0)
                break;
            if (n < 0) {
                ll_fetch_fail (job, "cannot list a folder");
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
            if (rlen + 1 + len > LL_FETCH_PATH_MAX)
                continue;
            char child[LL_FETCH_PATH_MAX + 2];
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
            if (rc == 0 && !ll_fetch_name_refused (job, child, size, &rc))
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


int
ll_sftp_walk (ll_fetch_job_t *job)
{
    int rc = s_sftp_start (job);
    if (rc == 0)
        rc = s_walk (job);
    return rc;
}
