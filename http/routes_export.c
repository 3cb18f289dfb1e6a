/*  Data export routes (issue 7): the zip of every VM's data files, streamed
    from the exporter actor while it is built, and its progress. */
#include "http/routes.h"
#include "runtime/log.h"
#include "runtime/protocol.h"

#define S_START_TIMEOUT_MS 10000
#define S_READ_TIMEOUT_MS  15000  //  the exporter answers within 250 ms

//  Upstream's message for every failure of the export itself
#define S_FAILED "An error occurred while downloading data from VMs."

static void
s_cancel (ll_http_req_t *req, const char *id)
{
    zmsg_t *args = zmsg_new ();
    zmsg_addstr (args, id);
    zmsg_t *reply = NULL;
    char *error = NULL;
    ll_http_call (req, LL_ENDPOINT_EXPORTER, LL_CMD_EXPORT_CANCEL, &args, 2000,
                  &reply, &error);
    zmsg_destroy (&reply);
    free (error);
}

int
ll_route_export_zip (ll_http_req_t *req)
{
    if (strcmp (req->info->request_method, "GET") != 0)
        return ll_http_error (req, 405, "Method not allowed.");
    zmsg_t *args = zmsg_new ();
    zmsg_addstr (args, "admin");
    zmsg_t *reply = NULL;
    char *error = NULL;
    if (ll_http_call (req, LL_ENDPOINT_EXPORTER, LL_CMD_EXPORT_START, &args,
                      S_START_TIMEOUT_MS, &reply, &error)
        != 0) {
        int rc;
        if (streq (error, "busy"))
            rc = ll_http_error (req, 409, "An export is already running.");
        else if (streq (error, "no-vms"))
            rc = ll_http_error (req, 404, "No VMs found in the database.");
        else {
            ll_warn ("http: export cannot start: %s", error);
            rc = ll_http_error (req, 500, S_FAILED);
        }
        free (error);
        return rc;
    }
    char *id = zmsg_popstr (reply);
    char *filename = zmsg_popstr (reply);
    zmsg_destroy (&reply);
    if (!id || !filename) {
        free (id);
        free (filename);
        return ll_http_error (req, 500, S_FAILED);
    }
    bool streaming = false;
    int status = 500;
    while (true) {
        if (ll_http_server_stopping (req->server)) {
            s_cancel (req, id);
            if (streaming)
                ll_http_chunk_abort (req);
            else
                status = ll_http_error (req, 503, "The allocator is stopping.");
            break;
        }
        args = zmsg_new ();
        zmsg_addstr (args, id);
        if (ll_http_call (req, LL_ENDPOINT_EXPORTER, LL_CMD_EXPORT_READ, &args,
                          S_READ_TIMEOUT_MS, &reply, &error)
            != 0) {
            ll_warn ("http: export %s failed: %s", filename, error);
            free (error);
            s_cancel (req, id);
            if (streaming)
                ll_http_chunk_abort (req);
            else
                status = ll_http_error (req, 500, S_FAILED);
            break;
        }
        char *kind = zmsg_popstr (reply);
        if (kind && streq (kind, "DATA")) {
            zframe_t *data = zmsg_pop (reply);
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
                break;
            }
        }
        else if (kind && streq (kind, "END")) {
            if (streaming)
                ll_http_chunk (req, NULL, 0);
            else
                status = ll_http_error (req, 500, S_FAILED);
            free (kind);
            break;
        }
        else if (kind && streq (kind, "EMPTY")) {
            const ll_config_t *config =
                ll_http_server_runtime (req->server)->config;
            char message[128];
            snprintf (message, sizeof message, "No %s files found in any VMs.",
                      config->machine.extension);
            status = ll_http_error (req, 404, message);
            free (kind);
            break;
        }
        free (kind);  //  WAIT: ask again
        zmsg_destroy (&reply);
    }
    zmsg_destroy (&reply);
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
    if (ll_http_call (req, LL_ENDPOINT_EXPORTER, LL_CMD_EXPORT_STATUS, NULL,
                      3000, &reply, &error)
        != 0) {
        free (error);
        return ll_http_error (req, 503, "The exporter does not answer.");
    }
    char *f[7] = {0};
    for (int i = 0; i < 7; i++)
        f[i] = zmsg_popstr (reply);
    json_t *vms = json_array ();
    while (zmsg_size (reply) >= 5) {
        char *v[5];
        for (int i = 0; i < 5; i++)
            v[i] = zmsg_popstr (reply);
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
