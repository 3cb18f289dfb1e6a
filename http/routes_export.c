/*  Data export routes (issue 7): the zip of every VM's data files, streamed
    from the exporter actor while it is built, and its progress. */
#include "http/routes.h"
#include "runtime/log.h"

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
    char *id = NULL, *filename = NULL, *error = NULL;
    if (ll_ask_export_start (&req->client, "admin", &id, &filename, &error)
        != 0) {
        int rc;
        if (streq (error, LL_REASON_BUSY))
            rc = ll_http_error (req, 409, "An export is already running.");
        else if (streq (error, LL_REASON_NO_VMS))
            rc = ll_http_error (req, 404, "No VMs found in the database.");
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
