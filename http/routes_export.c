/*  Data export routes (issue 7): the zip of every VM's data files, streamed
    from the exporter actor while it is built, and its progress; for one
    VM or one student (issue 16, ?hostname= / ?email=); the exports kept on
    disk by "export, then destroy", downloaded with HTTP ranges (a broken
    download resumes). */
#include "http/routes.h"
#include "runtime/log.h"
#include "runtime/token.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

//  Upstream's message for every failure of the export itself
#define S_FAILED "An error occurred while downloading data from VMs."

static void
s_cancel (ll_http_req_t *req, const char *id)
{
    char *error = NULL;
    ll_ask_export_cancel (&req->client, id, &error);
    free (error);
}

int
ll_route_export_zip (ll_http_req_t *req)
{
    if (strcmp (req->info->request_method, "GET") != 0)
        return ll_http_error (req, 405, "Method not allowed.");
    zmsg_t *args = zmsg_new ();
    //  One VM or one student (repeatable): ?hostname=<h> ?email=<address>
    const char *query = req->info->query_string ? req->info->query_string : "";
    for (int i = 0; i < 100; i++) {
        char value[330];
        int h = mg_get_var2 (query, strlen (query), "hostname", value,
                             sizeof value, i);
        if (h < 0)
            break;
        if (!ll_token_scope_valid (value) || value[0] == '_') {
            zmsg_destroy (&args);
            return ll_http_error (req, 400, "Invalid hostname.");
        }
        zmsg_addstrf (args, "host:%s", value);
    }
    for (int i = 0; i < 100; i++) {
        char value[330];
        int e = mg_get_var2 (query, strlen (query), "email", value,
                             sizeof value, i);
        if (e < 0)
            break;
        const char *at = strchr (value, '@');
        if (e < 3 || e > 254 || !at || at == value || !at[1]
            || strpbrk (value, " \t\r\n\"'<>,;")) {
            zmsg_destroy (&args);
            return ll_http_error (req, 400, "Invalid email address.");
        }
        zmsg_addstrf (args, "email:%s", value);
    }
    char *id = NULL, *filename = NULL, *error = NULL;
    if (ll_ask_export_start (&req->client, "admin", &args, &id, &filename,
                             &error)
        != 0) {
        int rc;
        if (streq (error, LL_REASON_BUSY))
            rc = ll_http_error (req, 409, "An export is already running.");
        else if (streq (error, LL_REASON_NO_VMS))
            rc = ll_http_error (req, 404, "No VMs found in the database.");
        else if (streq (error, LL_REASON_NO_MATCH))
            rc = ll_http_error (req, 404,
                                "No VM matches the hostname or email given.");
        else {
            ll_warn ("http: export cannot start: %s", error);
            rc = ll_http_error (req, 500, S_FAILED);
        }
        free (error);
        return rc;
    }
    bool streaming = false;
    int status = 500;
    while (true) {
        if (ll_http_stopping (req)) {
            s_cancel (req, id);
            if (streaming)
                ll_http_chunk_abort (req);
            else
                status = ll_http_error (req, 503, "The allocator is stopping.");
            break;
        }
        char *kind = NULL;
        zmsg_t *rest = NULL;
        if (ll_ask_export_read (&req->client, id, &kind, &rest, &error) != 0) {
            ll_warn ("http: export %s failed: %s", filename, error);
            free (error);
            s_cancel (req, id);
            if (streaming)
                ll_http_chunk_abort (req);
            else
                status = ll_http_error (req, 500, S_FAILED);
            break;
        }
        if (streq (kind, LL_EXPORT_DATA)) {
            zframe_t *data = zmsg_pop (rest);
            int rc = 0;
            if (!streaming) {
                char headers[256];
                snprintf (headers, sizeof headers,
                          "Content-Disposition: attachment; filename=%s\r\n",
                          filename);
                rc = ll_http_chunked_begin (req, 200, "application/zip",
                                            headers);
                streaming = true;
                status = 200;
            }
            if (rc == 0 && data && zframe_size (data))
                rc =
                    ll_http_chunk (req, zframe_data (data), zframe_size (data));
            zframe_destroy (&data);
            if (rc != 0) {
                ll_warn ("http: export %s: the client went away", filename);
                s_cancel (req, id);
                free (kind);
                zmsg_destroy (&rest);
                break;
            }
        }
        else if (streq (kind, LL_EXPORT_END)) {
            if (streaming)
                ll_http_chunk (req, NULL, 0);
            else
                status = ll_http_error (req, 500, S_FAILED);
            free (kind);
            zmsg_destroy (&rest);
            break;
        }
        else if (streq (kind, LL_EXPORT_EMPTY)) {
            const ll_config_t *config =
                ll_http_server_runtime (req->server)->config;
            char message[128];
            snprintf (message, sizeof message, "No %s files found in any VMs.",
                      config->machine.extension);
            status = ll_http_error (req, 404, message);
            free (kind);
            zmsg_destroy (&rest);
            break;
        }
        free (kind);  //  WAIT: ask again
        zmsg_destroy (&rest);
    }
    req->status = status;
    free (id);
    free (filename);
    return status;
}

int
ll_route_export_status (ll_http_req_t *req)
{
    zmsg_t *reply = NULL;
    char *error = NULL;
    if (ll_ask_export_status (&req->client, &reply, &error) != 0) {
        free (error);
        return ll_http_error (req, 503, "The exporter does not answer.");
    }
    char *f[7] = {0};
    ll_msg_row (reply, "sssssss", &f[0], &f[1], &f[2], &f[3], &f[4], &f[5],
                &f[6]);
    json_t *vms = json_array ();
    char *v[5];
    while (ll_msg_row (reply, "sssss", &v[0], &v[1], &v[2], &v[3], &v[4])
           == 0) {
        json_t *vm =
            json_pack ("{s:s, s:s, s:I, s:I}", "hostname", v[0], "status", v[1],
                       "files", (json_int_t) strtoll (v[2], NULL, 10), "bytes",
                       (json_int_t) strtoll (v[3], NULL, 10));
        if (vm && *v[4])
            json_object_set_new (vm, "error", json_string (v[4]));
        if (vm)
            json_array_append_new (vms, vm);
        for (int i = 0; i < 5; i++)
            free (v[i]);
    }
    zmsg_destroy (&reply);
    json_t *json = NULL;
    if (f[6])
        json = json_pack (
            "{s:b, s:I, s:I, s:I, s:I, s:I, s:s}", "running", streq (f[0], "1"),
            "vms_done", (json_int_t) strtoll (f[1], NULL, 10), "vms_total",
            (json_int_t) strtoll (f[2], NULL, 10), "bytes",
            (json_int_t) strtoll (f[3], NULL, 10), "files",
            (json_int_t) strtoll (f[4], NULL, 10), "failed",
            (json_int_t) strtoll (f[5], NULL, 10), "filename", f[6]);
    for (int i = 0; i < 7; i++)
        free (f[i]);
    if (!json) {
        json_decref (vms);
        return ll_http_error (req, 500, "Malformed exporter status.");
    }
    json_object_set_new (json, "vms", vms);
    return ll_http_json (req, 200, json);
}

//  --- exports kept on disk ("export, then destroy") ----------------------

#define S_FILE_CHUNK (256 * 1024)

int
ll_http_range_parse (const char *header,
                     uint64_t size,
                     uint64_t *from,
                     uint64_t *to)
{
    if (!header)
        return 0;
    while (*header == ' ')
        header++;
    if (strncmp (header, "bytes=", 6) != 0 || strchr (header, ','))
        return 0;  //  another unit or several ranges: the whole file
    const char *p = header + 6;
    char *end;
    bool suffix = *p == '-';
    if (!suffix && !isdigit ((unsigned char) *p))
        return 0;
    errno = 0;
    unsigned long long a = suffix ? 0 : strtoull (p, &end, 10);
    if (!suffix) {
        if (errno || *end != '-')
            return 0;
        p = end;
    }
    p++;  //  the '-'
    unsigned long long b = 0;
    bool open_end = !*p;
    if (!open_end) {
        if (!isdigit ((unsigned char) *p))
            return 0;
        b = strtoull (p, &end, 10);
        if (errno || *end)
            return 0;
    }
    if (suffix) {
        //  the last b bytes ("bytes=-" means nothing: the whole file)
        if (open_end)
            return 0;
        if (b == 0)
            return -1;
        *from = b >= size ? 0 : size - b;
        *to = size ? size - 1 : 0;
        return size ? 1 : -1;
    }
    if (!open_end && b < a)
        return 0;
    if (a >= size)
        return -1;
    *from = a;
    *to = open_end || b >= size ? size - 1 : b;
    return 1;
}

//  A kept export's name (from the path): the exporter's names only.
static bool
s_archive_name (const char *name)
{
    //  lablink_dataYYYYmmdd_HHMMSS.zip
    if (!name || strlen (name) != 31 || strncmp (name, "lablink_data", 12) != 0
        || strcmp (name + 27, ".zip") != 0 || name[20] != '_')
        return false;
    for (int i = 12; i < 27; i++)
        if (i != 20 && !isdigit ((unsigned char) name[i]))
            return false;
    return true;
}

//  Ask the admin actor about a kept export (ARCHIVES when name is NULL);
//  the answer (new string, "" for ARCHIVE-DONE) or NULL with *error.
static char *
s_archive_call (ll_http_req_t *req,
                const char *command,
                const char *name,
                char **error)
{
    char *text = NULL;
    *error = NULL;
    int rc = name ? ll_ask_archive (&req->client, command, name, &text, error)
                  : ll_ask_archives (&req->client, &text, error);
    if (rc != 0)
        return NULL;
    return text ? text : strdup ("");
}

//  The path's kept export asked with command (ARCHIVE-GET, -DELETE): the
//  answer (new string), or NULL after 404 (no such export) or 503.
static char *
s_path_archive (ll_http_req_t *req, const char *command)
{
    const char *name = req->params[0];
    if (!s_archive_name (name)) {
        ll_http_error (req, 404, "Export not found.");
        return NULL;
    }
    char *error = NULL;
    char *text = s_archive_call (req, command, name, &error);
    if (!text && error && !streq (error, LL_REASON_NOT_FOUND))
        ll_http_error (req, 503, "Database unavailable.");
    else if (!text)
        ll_http_error (req, 404, "Export not found.");
    free (error);
    return text;
}

static char *
s_archive_path (ll_http_req_t *req, const char *name)
{
    const ll_config_t *config = ll_http_server_runtime (req->server)->config;
    size_t n = strlen (config->export.keep_dir) + strlen (name) + 2;
    char *path = malloc (n);
    snprintf (path, n, "%s/%s", config->export.keep_dir, name);
    return path;
}

int
ll_route_exports (ll_http_req_t *req)
{
    char *error = NULL;
    char *text = s_archive_call (req, LL_CMD_ARCHIVES, NULL, &error);
    free (error);
    json_t *list = text ? json_loads (text, 0, NULL) : NULL;
    free (text);
    if (!json_is_array (list)) {
        json_decref (list);
        return ll_http_error (req, 503, "Database unavailable.");
    }
    //  which of them this allocator holds (the others are elsewhere)
    size_t i;
    json_t *a;
    json_array_foreach (list, i, a)
    {
        const char *name = json_string_value (json_object_get (a, "name"));
        char *path = name ? s_archive_path (req, name) : NULL;
        struct stat st;
        json_object_set_new (a, "here",
                             json_boolean (path && stat (path, &st) == 0));
        free (path);
    }
    return ll_http_json (req, 200, json_pack ("{s:o}", "exports", list));
}

//  GET /api/exports/<name>: the file, whole (200) or a range of it (206,
//  Range: bytes=..., honouring If-Range), so a broken download resumes.
int
ll_route_export_file (ll_http_req_t *req)
{
    const char *name = req->params[0];
    char *allocator = s_path_archive (req, LL_CMD_ARCHIVE_GET);
    if (!allocator)
        return req->status;
    char *path = s_archive_path (req, name);
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    free (path);
    struct stat st;
    if (fd < 0 || fstat (fd, &st) != 0 || !S_ISREG (st.st_mode)) {
        if (fd >= 0)
            close (fd);
        char message[400];
        snprintf (message, sizeof message,
                  "This export is kept on the allocator %s.", allocator);
        free (allocator);
        return ll_http_error (req, 404, message);
    }
    free (allocator);
    uint64_t size = (uint64_t) st.st_size, from = 0, to = size ? size - 1 : 0;
    char etag[64];
    snprintf (etag, sizeof etag, "\"%llx-%llx\"", (unsigned long long) size,
              (unsigned long long) st.st_mtime);
    const char *if_range = ll_http_header (req, "If-Range");
    int range = 0;
    if (!if_range || strcmp (if_range, etag) == 0)
        range = ll_http_range_parse (ll_http_header (req, "Range"), size, &from,
                                     &to);
    char headers[512];
    if (range < 0) {
        close (fd);
        snprintf (headers, sizeof headers, "Content-Range: bytes */%llu\r\n",
                  (unsigned long long) size);
        static const char body[] = "{\"error\":\"Range not satisfiable.\"}";
        return ll_http_send (req, 416, "application/json", body,
                             sizeof body - 1, headers);
    }
    size_t len = size ? (size_t) (to - from + 1) : 0;
    int n = snprintf (headers, sizeof headers,
                      "Accept-Ranges: bytes\r\nETag: %s\r\n"
                      "Content-Disposition: attachment; filename=%s\r\n",
                      etag, name);
    if (range > 0)
        snprintf (headers + n, sizeof headers - (size_t) n,
                  "Content-Range: bytes %llu-%llu/%llu\r\n",
                  (unsigned long long) from, (unsigned long long) to,
                  (unsigned long long) size);
    if (ll_http_head (req, range > 0 ? 206 : 200, "application/zip", len,
                      headers)
            != 0
        || strcmp (req->info->request_method, "HEAD") == 0) {
        close (fd);
        return req->status;
    }
    char *buf = malloc (S_FILE_CHUNK);
    uint64_t at = from, left = len;
    bool ok = buf != NULL;
    while (ok && left) {
        size_t want = left < S_FILE_CHUNK ? (size_t) left : S_FILE_CHUNK;
        ssize_t got = pread (fd, buf, want, (off_t) at);
        if (got < 0 && errno == EINTR)
            continue;
        ok = got > 0 && mg_write (req->conn, buf, (size_t) got) == got;
        if (ok) {
            at += (uint64_t) got;
            left -= (uint64_t) got;
        }
    }
    free (buf);
    close (fd);
    //  The last byte reached the client: the export was downloaded
    if (ok && (!size || to == size - 1)) {
        char *error = NULL;
        char *done = s_archive_call (req, LL_CMD_ARCHIVE_DONE, name, &error);
        free (done);
        free (error);
    }
    return req->status;
}

int
ll_route_export_delete (ll_http_req_t *req)
{
    const char *name = req->params[0];
    char *gone = s_path_archive (req, LL_CMD_ARCHIVE_DELETE);
    if (!gone)
        return req->status;
    free (gone);
    char *path = s_archive_path (req, name);
    unlink (path);  //  on another allocator: it stays there (said below)
    free (path);
    return ll_http_json (
        req, 200,
        json_pack ("{s:s, s:s}", "message", "Export deleted.", "name", name));
}
