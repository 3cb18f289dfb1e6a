/*  VM credentials: the admin's deliberate "bring your own VM" registration.
    Terraform's VMs get their token from the terraform actor at each
    launch; a VM the allocator did not launch (a test VM, a machine the
    instructor runs by hand) exists only once the admin registers it here,
    and its token is handed out once, in the answer. A second registration
    mints a new token and revokes the one before. */
#include "http/routes.h"
#include "runtime/token.h"

#include <sodium.h>

int
ll_route_vm_register (ll_http_req_t *req)
{
    const char *host = req->params[0];
    char token[LL_TOKEN_MAX], hash[LL_TOKEN_HASH_HEX];
    if (ll_token_mint (host, token, sizeof token) != 0)
        return ll_http_error (req, 400, "Invalid hostname.");
    ll_token_hash (token, hash);
    //  actor "": the edge audits this admin action
    char *generation = NULL, *created = NULL, *error = NULL;
    int rc = ll_ask_vm_register (&req->client, host, hash, "", &generation,
                                 &created, &error);
    int status;
    if (rc == 0) {
        //  The old token stops working here at once (other allocators hear
        //  of it through the token trigger's NOTIFY)
        ll_http_server_forget (req->server, host);
        status = ll_http_json (
            req, streq (created, "1") ? 201 : 200,
            json_pack ("{s:s, s:s, s:I}", "hostname", host, "token", token,
                       "generation",
                       (json_int_t) strtoll (generation, NULL, 10)));
    }
    else if (streq (error, LL_REASON_MANAGED))
        status = ll_http_error (req, 409,
                                "This VM is managed by terraform: replace it "
                                "to give it a new token.");
    else
        status = ll_http_error (req, 503,
                                "Cannot register now: database unavailable.");
    sodium_memzero (token, sizeof token);
    free (generation);
    free (created);
    free (error);
    return status;
}
