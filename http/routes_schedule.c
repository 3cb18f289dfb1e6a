/*  Scheduled teardown (issue 16): upstream's later API and answers
    (reference 2.6: POST/GET /api/schedule-destruction,
    GET/DELETE /api/schedule-destruction/<id>, every answer
    {"success": ..., "message": ...}; our errors also carry "error" like
    every other route), its page /admin/scheduled-destruction, and the
    class's end for the student pages (GET /api/class-end). The schedules
    live in PostgreSQL and run in the scheduler actor. */
#include "http/page.h"
#include "http/routes.h"
#include "runtime/log.h"
#include "runtime/schedule.h"

#include <ctype.h>
#include <time.h>

#define S_NAME_MAX      255
#define S_HOURS_MAX     168
#define S_NOT_RUNNING   "Scheduler is not running"
#define S_STATUS_VALUES "scheduled, executing, completed, failed, cancelled"

//  {"success": false, "message": m, "error": m} with status.
static int
s_refuse (ll_http_req_t *req, int status, const char *message)
{
    return ll_http_json (req, status,
                         json_pack ("{s:b, s:s, s:s}", "success", 0, "message",
                                    message, "error", message));
}

//  The schedule id of the path (at most 9 digits) into id_text (24
//  bytes), or -1 after answering 404.
static long long
s_path_id (ll_http_req_t *req, char *id_text)
{
    long long id = ll_route_path_id (req, 9);
    if (id < 0)
        s_refuse (req, 404, "Schedule not found");
    else
        snprintf (id_text, 24, "%lld", id);
    return id;
}

//  The refusal of a call that failed: 404 when the actor says there is
//  no such schedule, else 500.
static int
s_refuse_error (ll_http_req_t *req, const char *error)
{
    if (error && streq (error, LL_REASON_NOT_FOUND))
        return s_refuse (req, 404, "Schedule not found");
    return s_refuse (req, 500, S_NOT_RUNNING);
}

int
ll_route_schedule_create (ll_http_req_t *req)
{
    const ll_config_t *config = ll_http_server_runtime (req->server)->config;
    json_t *body = ll_http_json_parse (req->body, req->body_len);
    if (!body)
        return s_refuse (req, 400, LL_HTTP_NOT_JSON);
    json_t *name_j = json_object_get (body, "schedule_name");
    json_t *time_j = json_object_get (body, "destruction_time");
    json_t *rule_j = json_object_get (body, "recurrence_rule");
    json_t *notify_j = json_object_get (body, "notification_enabled");
    json_t *hours_j = json_object_get (body, "notification_hours_before");
    json_t *export_j = json_object_get (body, "export_before_destroy");
    char name[S_NAME_MAX + 2] = "";
    if (json_is_string (name_j))
        snprintf (name, sizeof name, "%s", json_string_value (name_j));
    //  trim
    size_t len = strlen (name);
    while (len && isspace ((unsigned char) name[len - 1]))
        name[--len] = '\0';
    size_t lead = strspn (name, " \t\r\n");
    memmove (name, name + lead, len - lead + 1);
    int64_t at = 0;
    ll_rrule_t rule;
    char why[160] = "";
    int rc;
    if (!*name)
        rc = s_refuse (req, 400, "schedule_name is required");
    else if (json_string_length (name_j) > S_NAME_MAX)
        rc =
            s_refuse (req, 400, "schedule_name must be at most 255 characters");
    else if (!json_is_string (time_j) || !*json_string_value (time_j))
        rc = s_refuse (req, 400, "destruction_time is required");
    else if (ll_time_parse_iso (json_string_value (time_j), false, &at) != 0) {
        char message[160];
        snprintf (message, sizeof message,
                  "Invalid destruction_time format: %.80s",
                  json_string_value (time_j));
        rc = s_refuse (req, 400, message);
    }
    else if (at <= (int64_t) time (NULL))
        rc = s_refuse (req, 400, "destruction_time must be in the future");
    else if (rule_j && !json_is_null (rule_j)
             && (!json_is_string (rule_j)
                 || (*json_string_value (rule_j)
                     && ll_rrule_parse (json_string_value (rule_j), &rule, why,
                                        sizeof why)
                            != 0))) {
        char message[220];
        snprintf (message, sizeof message, "Invalid recurrence_rule: %s",
                  *why ? why : "expected a string or null");
        rc = s_refuse (req, 400, message);
    }
    else if ((notify_j && !json_is_boolean (notify_j))
             || (export_j && !json_is_boolean (export_j)))
        rc = s_refuse (req, 400,
                       "notification_enabled and export_before_destroy must "
                       "be true or false");
    else if (hours_j
             && (!json_is_integer (hours_j) || json_integer_value (hours_j) < 0
                 || json_integer_value (hours_j) > S_HOURS_MAX))
        rc = s_refuse (req, 400,
                       "notification_hours_before must be an integer from 0 "
                       "to 168");
    else {
        char epoch[24], hours[16];
        snprintf (epoch, sizeof epoch, "%lld", (long long) at);
        snprintf (hours, sizeof hours, "%lld",
                  hours_j ? (long long) json_integer_value (hours_j) : 1LL);
        bool export_first = export_j ? json_is_true (export_j)
                                     : config->schedule.export_before_destroy;
        const char *values[] = {
            name,
            epoch,
            json_is_string (rule_j) ? json_string_value (rule_j) : "",
            *req->actor ? req->actor : config->app.admin_user,
            json_is_true (notify_j) ? "1" : "0",
            hours,
            export_first ? "1" : "0"};
        char *id = NULL, *error = NULL;
        if (ll_ask_schedule_add (&req->client, values, &id, &error) == 0)
            rc = ll_http_json (
                req, 200,
                json_pack ("{s:b, s:I, s:s}", "success", 1, "schedule_id",
                           (json_int_t) strtoll (id, NULL, 10), "message",
                           "Scheduled destruction created "
                           "successfully"));
        else if (error && streq (error, LL_REASON_DUPLICATE_NAME)) {
            char message[300];
            snprintf (message, sizeof message,
                      "A schedule named '%s' already exists", name);
            rc = s_refuse (req, 409, message);
        }
        else {
            ll_warn ("http: schedule %s not added: %s", name, error);
            rc = s_refuse (req, 500, S_NOT_RUNNING);
        }
        free (id);
        free (error);
    }
    json_decref (body);
    return rc;
}

int
ll_route_schedule_list (ll_http_req_t *req)
{
    char status[32] = "", word[40];
    int got = ll_http_query_field (req, "status", status, sizeof status);
    snprintf (word, sizeof word, " %s,", status);
    //  one of the words exactly ("led" is not "cancelled")
    if (got == -2 || (*status && !strstr (" " S_STATUS_VALUES ",", word))) {
        char message[160];
        snprintf (
            message, sizeof message,
            "Invalid status filter: %.31s. Valid values: " S_STATUS_VALUES,
            status);
        return s_refuse (req, 400, message);
    }
    char *text = NULL, *error = NULL;
    ll_ask_schedule_read (&req->client, LL_CMD_SCHEDULE_LIST, status, &text,
                          &error);
    free (error);
    json_t *list = text ? json_loads (text, 0, NULL) : NULL;
    free (text);
    if (!json_is_array (list)) {
        json_decref (list);
        return s_refuse (req, 500, S_NOT_RUNNING);
    }
    return ll_http_json (req, 200,
                         json_pack ("{s:b, s:I, s:o}", "success", 1, "count",
                                    (json_int_t) json_array_size (list),
                                    "schedules", list));
}

int
ll_route_schedule_get (ll_http_req_t *req)
{
    char id_text[24];
    long long id = s_path_id (req, id_text);
    if (id < 0)
        return req->status;
    char *text = NULL, *error = NULL;
    ll_ask_schedule_read (&req->client, LL_CMD_SCHEDULE_GET, id_text, &text,
                          &error);
    json_t *schedule = text ? json_loads (text, 0, NULL) : NULL;
    free (text);
    int rc;
    if (schedule)
        rc = ll_http_json (
            req, 200,
            json_pack ("{s:b, s:o}", "success", 1, "schedule", schedule));
    else
        rc = s_refuse_error (req, error);
    free (error);
    return rc;
}

int
ll_route_schedule_cancel (ll_http_req_t *req)
{
    char id_text[24];
    long long id = s_path_id (req, id_text);
    if (id < 0)
        return req->status;
    char *error = NULL;
    int call = ll_ask_schedule_cancel (&req->client, id_text, &error);
    int rc;
    char message[160];
    if (call == 0) {
        snprintf (message, sizeof message,
                  "Scheduled destruction %lld cancelled successfully", id);
        rc = ll_http_json (
            req, 200,
            json_pack ("{s:b, s:s}", "success", 1, "message", message));
    }
    else if (error && strncmp (error, LL_REASON_STATUS " ", 7) == 0) {
        snprintf (message, sizeof message,
                  "Cannot cancel schedule with status '%s'", error + 7);
        rc = s_refuse (req, 400, message);
    }
    else
        rc = s_refuse_error (req, error);
    free (error);
    return rc;
}

int
ll_route_schedule_page (ll_http_req_t *req)
{
    const ll_config_t *config = ll_http_server_runtime (req->server)->config;
    if (ll_http_wants_json (req))
        return ll_route_schedule_list (req);
    const ll_admin_page_t page = {"admin-schedule.html",
                                  "Scheduled Destructions", "schedule",
                                  "admin-schedule.js", true};
    const char *vars[] = {"export_default",
                          config->schedule.export_before_destroy ? "1" : "0",
                          NULL};
    return ll_http_admin_page (req, 200, &page, vars);
}

//  For the student pages' banner: when the class ends.
int
ll_route_class_end (ll_http_req_t *req)
{
    char *text = NULL, *error = NULL;
    ll_ask_class_end (&req->client, &text, &error);
    text = ll_http_answer_text (req, text, error, "Cannot tell now.");
    if (!text)
        return req->status;
    json_t *body;
    if (*text) {
        int64_t at = strtoll (text, NULL, 10);
        char iso[32] = "";
        ll_time_format_iso (at, iso, sizeof iso);
        long long left = (long long) (at - (int64_t) time (NULL));
        body = json_pack ("{s:s, s:I}", "destroy_at", iso, "seconds_left",
                          (json_int_t) (left > 0 ? left : 0));
    }
    else
        body = json_pack ("{s:n, s:n}", "destroy_at", "seconds_left");
    free (text);
    return ll_http_json (req, 200, body);
}
