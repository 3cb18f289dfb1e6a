#include "http/routes.h"

static const ll_route_t s_routes[] = {
    //  method  pattern            auth             handler
    {"GET", "/", LL_AUTH_PUBLIC, ll_route_index},
    {"GET", "/static/{}", LL_AUTH_PUBLIC, ll_route_static},
    {"GET", "/api/health", LL_AUTH_PUBLIC, ll_route_health},
    {"GET", "/metrics", LL_AUTH_PUBLIC, ll_route_metrics},
};

const ll_route_t *
ll_routes (size_t *count)
{
    *count = sizeof s_routes / sizeof s_routes[0];
    return s_routes;
}
