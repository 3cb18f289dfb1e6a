/*  The socket and descriptor budget: what a configuration may hold open at
    once (libzmq sockets and file descriptors), computed at start from the
    settings that size it, checked against what this process may open, and
    applied (libzmq's socket limit, RLIMIT_NOFILE) before any socket
    exists. Sockets made while serving come from ll_socket_new, which fails
    with NULL instead of aborting the way czmq's constructors do. */
#ifndef LL_BUDGET_H
#define LL_BUDGET_H

#include <stdbool.h>
#include <stddef.h>

#include "runtime/config.h"

typedef struct {
    //  libzmq sockets open at once, by owner
    int http_sockets;    //  2 per HTTP worker: a pooled DEALER + an SSE SUB
    int actor_sockets;   //  the actors' own sockets and their pipes
    int export_sockets;  //  2 PAIRs per parallel export fetch
    int zmq_sockets;     //  the sum, plus a margin
    //  file descriptors open at once, by owner
    int http_fds;     //  per worker its connection and one transient file;
                      //  civetweb's accept queue and listening sockets
    int agent_fds;    //  one TCP connection per ZeroMQ agent
    int fixed_fds;    //  PostgreSQL connections, libzmq's own, terraform,
                      //  export connections, stdio, a margin
    int descriptors;  //  zmq_sockets (one eventfd each) + the above
} ll_budget_t;

//  The budget of config (pure: no process state read).
void ll_budget_compute (const ll_config_t *config, ll_budget_t *out);

//  Whether this process can hold the budget: RLIMIT_NOFILE's hard limit
//  and libzmq's largest socket limit. 0, or -1 with a message naming the
//  settings to change.
int ll_budget_check (const ll_budget_t *self, char *error, size_t errsize);

//  Apply the budget: raise RLIMIT_NOFILE's soft limit to fit (never lower
//  it) and set libzmq's socket limit (after zsys_init, before any socket
//  exists: czmq asserts otherwise). 0, or -1 with the reason.
int ll_budget_apply (const ll_budget_t *self, char *error, size_t errsize);

//  One line for the start-up log and --check-config.
void ll_budget_describe (const ll_budget_t *self, char *out, size_t outsize);

//  A libzmq socket of type in czmq's context, linger 0, or NULL with errno
//  set (EMFILE when the socket or descriptor limit is reached). czmq's
//  zsock_new asserts on that failure and aborts the process. The handle
//  works with czmq's polymorphic calls (zmsg_send, zsock_set_*, zpoller).
void *ll_socket_new (int type);

//  Close a socket of ll_socket_new; *sock_p becomes NULL; NULL is fine.
void ll_socket_close (void **sock_p);

#endif
