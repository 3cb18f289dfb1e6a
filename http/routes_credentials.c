/*  VM credentials: the admin's deliberate "bring your own VM" registration.
    Terraform's VMs get their token from the terraform actor at launch;
    a VM the allocator did not launch (a test VM, a machine the instructor
    runs by hand, the benchmark's agents) exists only once the admin
    registers it here, and its token is handed out in the answer. */
#include "http/routes.h"
#include "runtime/msg.h"
#include "runtime/protocol.h"
#include "runtime/token.h"

#include <sodium.h>

#define S_REGISTRY_TIMEOUT_MS 10000

int
ll_route_vm_register (ll_http_req_t *req)
{
    const char *host = req->params[0];
    if (!ll_token_scope_valid (host) || host[0] == '_')
        return ll_http_error (req, 400, "Invalid hostname.");
    char token[LL_TOKEN_MAX];
    if (ll_http_agent_token (req, host, token, sizeof token) != 0)
        return ll_http_error (req, 503,
                              "Cannot make a token now: database unavailable.");
    zmsg_t *args = zmsg_new ();
    zmsg_addstr (args, host);
    zmsg_t *reply = NULL;
    char *error = NULL;
    int rc = ll_http_call (req, LL_ENDPOINT_REGISTRY, LL_CMD_VM_REGISTER, &args,
                           S_REGISTRY_TIMEOUT_MS, &reply, &error);
    char *created = rc == 0 ? zmsg_popstr (reply) : NULL;
    zmsg_destroy (&reply);
    int status;
    if (rc == 0)
        status = ll_http_json (
            req, created && streq (created, "1") ? 201 : 200,
            json_pack ("{s:s, s:s}", "hostname", host, "token", token));
    else if (error && streq (error, LL_REASON_MANAGED))
        status = ll_http_error (req, 409,
                                "This VM is managed by terraform: replace it "
                                "to give it a new token.");
    else
        status = ll_http_error (req, 503,
                                "Cannot register now: database unavailable.");
    sodium_memzero (token, sizeof token);
    free (created);
    free (error);
    return status;
}
