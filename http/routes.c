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
    //  claim secrets (issue 15): the student's own claim, the admin's reset
    {"GET", "/api/claim", LL_AUTH_PUBLIC, ll_route_claim_get},
    {"POST", "/api/claim", LL_AUTH_PUBLIC, ll_route_claim_post},
    {"POST", "/api/claims/reset", LL_AUTH_ADMIN, ll_route_claim_reset},

    //  --- agent delivery (claim issue): routes_agent.c ---
    {"POST", "/vm_startup", LL_AUTH_AGENT, ll_route_vm_startup},
    {"POST", "/api/vm-startup-result", LL_AUTH_AGENT, ll_route_agent},
    {"POST", "/api/vm-reset-result", LL_AUTH_AGENT, ll_route_agent},

    //  --- VM credentials (trust issue): routes_credentials.c ---
    {"POST", "/api/vms/{}/register", LL_AUTH_ADMIN, ll_route_vm_register},

    //  --- telemetry and logs (telemetry issue): routes_telemetry.c ---
    {"POST", "/api/vm-status", LL_AUTH_AGENT, ll_route_agent},
    {"GET", "/api/vm-status", LL_AUTH_ADMIN, ll_route_vm_status_all},
    {"GET", "/api/vm-status/{}", LL_AUTH_ADMIN_OR_AGENT,
     ll_route_vm_status_get},
    {"POST", "/api/gpu_health", LL_AUTH_AGENT, ll_route_agent},
    {"POST", "/api/update_inuse_status", LL_AUTH_AGENT, ll_route_agent},
    {"POST", "/api/heartbeat", LL_AUTH_AGENT, ll_route_agent},
    {"POST", "/api/vm-metrics/{}", LL_AUTH_AGENT, ll_route_agent},
    {"GET", "/api/export-metrics", LL_AUTH_ADMIN, ll_route_export_metrics},
    //  logs: routes_logs.c
    {"POST", "/api/vm-logs", LL_AUTH_AGENT, ll_route_agent},
    {"GET", "/api/vm-logs/{}", LL_AUTH_ADMIN_OR_AGENT, ll_route_vm_logs_get},
    {"GET", "/api/vm-logs/{}/events", LL_AUTH_ADMIN_OR_AGENT,
     ll_route_vm_logs_events},

    //  --- operations: launch and destroy (provision issue) ---
    {"POST", "/api/launch", LL_AUTH_ADMIN, ll_route_launch},
    {"POST", "/destroy", LL_AUTH_ADMIN, ll_route_destroy},
    {"POST", "/api/vms/{}/destroy", LL_AUTH_ADMIN, ll_route_vm_destroy},
    {"POST", "/api/vms/{}/replace", LL_AUTH_ADMIN, ll_route_vm_replace},
    {"GET", "/api/operations", LL_AUTH_ADMIN, ll_route_operations},
    {"GET", "/api/operations/{}", LL_AUTH_ADMIN, ll_route_operation},
    {"GET", "/api/operations/{}/events", LL_AUTH_ADMIN,
     ll_route_operation_events},
    {"GET", "/admin/operations/{}", LL_AUTH_ADMIN, ll_route_operation_page},

    //  --- running a class (issue 16): routes_console.c ---
    {"POST", "/api/reboot-vm", LL_AUTH_ADMIN, ll_route_reboot_vm},
    {"GET", "/api/reboot-vm/{}", LL_AUTH_ADMIN, ll_route_reboot_info},
    {"POST", "/api/vms/bulk", LL_AUTH_ADMIN, ll_route_vms_bulk},
    {"GET", "/api/dashboard", LL_AUTH_ADMIN, ll_route_dashboard},
    {"GET", "/api/dashboard/events", LL_AUTH_ADMIN, ll_route_dashboard_events},
    //  scheduled teardown: routes_schedule.c (upstream's API)
    {"POST", "/api/schedule-destruction", LL_AUTH_ADMIN,
     ll_route_schedule_create},
    {"GET", "/api/schedule-destruction", LL_AUTH_ADMIN, ll_route_schedule_list},
    {"GET", "/api/schedule-destruction/{}", LL_AUTH_ADMIN,
     ll_route_schedule_get},
    {"DELETE", "/api/schedule-destruction/{}", LL_AUTH_ADMIN,
     ll_route_schedule_cancel},
    {"GET", "/admin/scheduled-destruction", LL_AUTH_ADMIN,
     ll_route_schedule_page},
    {"GET", "/api/class-end", LL_AUTH_PUBLIC, ll_route_class_end},
    //  the student's live view (the link's token): routes_progress.c
    {"GET", "/vm/{}", LL_AUTH_PUBLIC, ll_route_vm_page},
    {"GET", "/api/vm-progress/{}", LL_AUTH_PUBLIC, ll_route_vm_progress},
    //  the link's token is the credential (a form field, never logged)
    {"POST", "/vm/{}/release", LL_AUTH_PUBLIC, ll_route_vm_student_release},

    //  --- export (export issue) ---
    {"GET", "/api/scp-client", LL_AUTH_ADMIN, ll_route_export_zip},
    {"GET", "/api/export/status", LL_AUTH_ADMIN, ll_route_export_status},
    {"POST", "/api/export-destroy", LL_AUTH_ADMIN, ll_route_export_destroy},
    {"GET", "/api/exports", LL_AUTH_ADMIN, ll_route_exports},
    {"GET", "/api/exports/{}", LL_AUTH_ADMIN, ll_route_export_file},
    {"DELETE", "/api/exports/{}", LL_AUTH_ADMIN, ll_route_export_delete},

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
