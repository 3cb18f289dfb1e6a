#include "actors/exporter/container.h"
#include "actors/exporter/tar.h"
#include "runtime/log.h"

#include <ctype.h>

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
s_remote_open (ll_fetch_job_t *job, s_remote_t *r, const char *command)
{
    memset (r, 0, sizeof *r);
    LL_FETCH_CALLP (job, r->ch, libssh2_channel_open_session (job->ssh));
    if (!r->ch) {
        ll_fetch_fail (job, "cannot open an ssh channel");
        return -1;
    }
    //  Standard error is dropped (it would otherwise hold the window)
    libssh2_channel_handle_extended_data2 (
        r->ch, LIBSSH2_CHANNEL_EXTENDED_DATA_IGNORE);
    int rc;
    LL_FETCH_CALL (job, rc, libssh2_channel_exec (r->ch, command));
    if (rc != 0) {
        ll_fetch_fail (job, "the remote command was refused");
        libssh2_channel_free (r->ch);
        r->ch = NULL;
        return -1;
    }
    return 0;
}

//  Read up to n bytes (at least 1), feeding standard input meanwhile.
//  Returns bytes read, 0 at the end of the output, -1 on failure.
static ssize_t
s_remote_read (ll_fetch_job_t *job, s_remote_t *r, void *buf, size_t n)
{
    int64_t deadline = ll_now_ms () + job->sh->timeout_ms;
    while (true) {
        while (r->feed_len) {
            ssize_t w = libssh2_channel_write (r->ch, r->feed, r->feed_len);
            if (w == LIBSSH2_ERROR_EAGAIN)
                break;
            if (w < 0) {
                ll_fetch_fail (job, "cannot write to the remote command");
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
            ll_fetch_fail (job, "cannot read the remote command's output");
            return -1;
        }
        if (ll_fetch_wait (job, deadline) != 0) {
            snprintf (job->error, sizeof job->error,
                      "the remote command timed out");
            return -1;
        }
    }
}

//  Close the channel; its exit status, or -1.
static int
s_remote_close (ll_fetch_job_t *job, s_remote_t *r)
{
    if (!r->ch)
        return -1;
    int rc;
    LL_FETCH_CALL (job, rc, libssh2_channel_close (r->ch));
    if (rc == 0)
        LL_FETCH_CALL (job, rc, libssh2_channel_wait_closed (r->ch));
    int status = rc == 0 ? libssh2_channel_get_exit_status (r->ch) : -1;
    libssh2_channel_free (r->ch);
    r->ch = NULL;
    return status;
}

//  A listed path is one we accept: relative, no empty, '.' or '..' part.
static bool
s_rel_valid (const char *rel)
{
    if (!*rel || *rel == '/' || strlen (rel) > LL_FETCH_PATH_MAX)
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
s_container_list (ll_fetch_job_t *job, zlist_t *items)
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
    ll_fetch_job_t *job;  //  for the deadline and the failure's reason
    s_remote_t *r;        //  the channel
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
s_container_read (ll_fetch_job_t *job, zlist_t *wanted)
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
            ll_fetch_unreserve (job, item->size, 0, true);
            if (ll_fetch_skip (job, item->rel, item->size,
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
        if (ll_fetch_sendf (job, "BEGIN", 3, item->rel, item->mtime, size_text)
            != 0) {
            rc = -1;
            break;
        }
        ll_fetch_begin_hash (job);
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
            if (ll_fetch_data (job, job->buffer, (size_t) k) != 0)
                rc = -1;
            done += k;
        }
        ll_fetch_unreserve (job, item->size, done, false);
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
        if (ll_fetch_end (job, done, note) != 0)
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
int
ll_container_fetch (ll_fetch_job_t *job)
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
        if (ll_fetch_name_refused (job, i->rel, i->size, &rc))
            continue;
        int reserved = ll_fetch_reserve (job, i->rel, i->size);
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
