/*  The one route table of the allocator. Every route the HTTP edge serves is
    listed in http/routes.c with its auth class, so none can be missed.
    Handlers live in http/routes_<audience>.c. */
#ifndef LL_HTTP_ROUTES_H
#define LL_HTTP_ROUTES_H

#include "http/server.h"

//  The table and its length.
const ll_route_t *ll_routes (size_t *count);

//  routes_public.c
int ll_route_health (ll_http_req_t *req);
int ll_route_metrics (ll_http_req_t *req);
int ll_route_index (ll_http_req_t *req);
int ll_route_static (ll_http_req_t *req);

//  routes_admin.c: login, logout and the admin console pages
int ll_route_admin_login_page (ll_http_req_t *req);
int ll_route_admin_login (ll_http_req_t *req);
int ll_route_admin_logout (ll_http_req_t *req);
int ll_route_admin (ll_http_req_t *req);
int ll_route_admin_create (ll_http_req_t *req);
int ll_route_admin_instances (ll_http_req_t *req);
int ll_route_admin_delete (ll_http_req_t *req);
int ll_route_admin_logs (ll_http_req_t *req);
int ll_route_admin_audit (ll_http_req_t *req);

//  routes_student.c
int ll_route_student_index (ll_http_req_t *req);
int ll_route_request_vm (ll_http_req_t *req);
int ll_route_unassigned_count (ll_http_req_t *req);
int ll_route_release_vm (ll_http_req_t *req);

//  routes_agent.c
int ll_route_vm_startup (ll_http_req_t *req);
int ll_route_vm_startup_result (ll_http_req_t *req);

//  routes_operations.c (provision)
int ll_route_launch (ll_http_req_t *req);
int ll_route_destroy (ll_http_req_t *req);
int ll_route_vm_destroy (ll_http_req_t *req);
int ll_route_vm_replace (ll_http_req_t *req);
int ll_route_operations (ll_http_req_t *req);
int ll_route_operation (ll_http_req_t *req);
int ll_route_operation_events (ll_http_req_t *req);
int ll_route_operation_page (ll_http_req_t *req);

//  routes_export.c
int ll_route_export_zip (ll_http_req_t *req);
int ll_route_export_status (ll_http_req_t *req);

//  routes_telemetry.c
int ll_route_vm_status_post (ll_http_req_t *req);
int ll_route_vm_status_all (ll_http_req_t *req);
int ll_route_vm_status_get (ll_http_req_t *req);
int ll_route_gpu_health (ll_http_req_t *req);
int ll_route_inuse_status (ll_http_req_t *req);
int ll_route_heartbeat (ll_http_req_t *req);
int ll_route_vm_metrics (ll_http_req_t *req);
int ll_route_export_metrics (ll_http_req_t *req);
int ll_route_vm_logs_post (ll_http_req_t *req);
int ll_route_vm_logs_get (ll_http_req_t *req);
int ll_route_vm_logs_events (ll_http_req_t *req);

//  Send an embedded asset by name (404 when absent).
int ll_http_send_asset (ll_http_req_t *req, const char *name);

#endif
