#include "http/routes.h"

static const ll_route_t s_routes[] = {
    //  method  pattern            auth             handler
    {"GET", "/", LL_AUTH_PUBLIC, ll_route_student_index},
    {"GET", "/static/{}", LL_AUTH_PUBLIC, ll_route_static},
    {"GET", "/api/health", LL_AUTH_PUBLIC, ll_route_health},
    {"GET", "/metrics", LL_AUTH_PUBLIC, ll_route_metrics},

    //  --- student pages and claims (claim issue): routes_student.c ---
    {"POST", "/api/request_vm", LL_AUTH_PUBLIC, ll_route_request_vm},
    {"GET", "/api/unassigned_vms_count", LL_AUTH_PUBLIC,
     ll_route_unassigned_count},
    {"POST", "/api/vms/{}/release", LL_AUTH_ADMIN, ll_route_release_vm},

    //  --- agent delivery (claim issue): routes_agent.c ---
    {"POST", "/vm_startup", LL_AUTH_AGENT, ll_route_vm_startup},
    {"POST", "/api/vm-startup-result", LL_AUTH_AGENT,
     ll_route_vm_startup_result},

    //  --- telemetry and logs (telemetry issue): routes_telemetry.c ---

    //  --- operations: launch and destroy (provision issue) ---

    //  --- export (export issue) ---

    //  --- admin console and authentication (admin issue) ---
    {"GET", "/admin/login", LL_AUTH_PUBLIC, ll_route_admin_login_page},
    {"POST", "/admin/login", LL_AUTH_PUBLIC, ll_route_admin_login},
    {"POST", "/admin/logout", LL_AUTH_ADMIN, ll_route_admin_logout},
    {"GET", "/admin", LL_AUTH_ADMIN, ll_route_admin},
    {"GET", "/admin/create", LL_AUTH_ADMIN, ll_route_admin_create},
    {"GET", "/admin/instances", LL_AUTH_ADMIN, ll_route_admin_instances},
    {"GET", "/admin/instances/delete", LL_AUTH_ADMIN, ll_route_admin_delete},
    {"GET", "/admin/logs/{}", LL_AUTH_ADMIN, ll_route_admin_logs},
    {"GET", "/admin/audit", LL_AUTH_ADMIN, ll_route_admin_audit},
};

const ll_route_t *
ll_routes (size_t *count)
{
    *count = sizeof s_routes / sizeof s_routes[0];
    return s_routes;
}
