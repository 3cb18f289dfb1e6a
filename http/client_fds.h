//  The socket of a request's client, found among the process's descriptors
//  (civetweb does not expose it): a long-poll watches it to notice that its
//  client hung up, and a stop cuts every connection for reading.
#ifndef LL_HTTP_CLIENT_FDS_H
#define LL_HTTP_CLIENT_FDS_H

#include <civetweb.h>

typedef struct ll_client_fds ll_client_fds_t;

ll_client_fds_t *ll_client_fds_new (void);

void ll_client_fds_destroy (ll_client_fds_t **self_p);

//  The descriptor of the connection from addr:port to one of ctx's ports,
//  or -1. hint (or -1): a descriptor to try first, the worker's last one (a
//  keep-alive client asks again on the same connection).
int ll_client_fds_find (ll_client_fds_t *self,
                        struct mg_context *ctx,
                        const char *addr,
                        int port,
                        int hint);

//  Cut every client connection and listening socket of ctx for reading
void ll_client_fds_cut_all (struct mg_context *ctx);

#endif
