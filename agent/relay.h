/*  `lablink-agent relay`: a loopback-only HTTP relay on the VM host for
    client images that send no token (upstream's baseline client). It
    serves the VM routes of the allocator and forwards each request to
    ALLOCATOR_URL with `Authorization: Bearer API_TOKEN` (whatever
    Authorization the caller sent is dropped). Anything but the VM routes
    is 404: the relay lends this VM's identity, never the admin's.

    A 204 from /vm_startup (the allocator's long poll ended without an
    assignment) is polled again at once, up to LABLINK_RELAY_HOLD_S
    (default 300 s) in all, so an old client that treats 204 as an error
    and sleeps sees one long wait instead. */
#ifndef LL_AGENT_RELAY_H
#define LL_AGENT_RELAY_H

#include <stdbool.h>

#include "agent/agent.h"

//  True when listen is a loopback address with a port:
//  "127.x.y.z:PORT" or "[::1]:PORT" (PORT 1..65535).
bool agent_relay_address_ok (const char *listen);

//  True when the relay forwards method + path (the path without query).
bool agent_relay_route_ok (const char *method, const char *path);

//  Serve until SIGTERM or SIGINT (blocked by the caller); the exit code.
int agent_relay_main (agent_t *self, const char *listen);

#endif
