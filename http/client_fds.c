#include "http/client_fds.h"

#include <arpa/inet.h>
#include <czmq.h>
#include <dirent.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

//  Every descriptor of the process is a candidate, two system calls each:
//  with 10,000 agents' connections open one look at all of them is
//  milliseconds, and 2,000 long-polls arriving together made 2,000 looks
//  (the whole machine's CPU for seconds, docs/performance.md). So one look
//  indexes every client connection open at that time, and the workers that
//  miss together wait for one look instead of each making its own.
struct ll_client_fds {
    pthread_mutex_t lock;       //  guards index
    pthread_mutex_t scan_lock;  //  one look at a time
    zhashx_t *index;            //  "addr port" -> descriptor + 1
};

#define S_PORTS_MAX 8

ll_client_fds_t *
ll_client_fds_new (void)
{
    ll_client_fds_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    pthread_mutex_init (&self->lock, NULL);
    pthread_mutex_init (&self->scan_lock, NULL);
    self->index = zhashx_new ();
    return self;
}

void
ll_client_fds_destroy (ll_client_fds_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ll_client_fds_t *self = *self_p;
    zhashx_destroy (&self->index);
    pthread_mutex_destroy (&self->lock);
    pthread_mutex_destroy (&self->scan_lock);
    free (self);
    *self_p = NULL;
}

//  The port of an address (host order), -1 when not TCP/IP
static int
s_port_of (const struct sockaddr_storage *addr)
{
    return addr->ss_family == AF_INET
               ? ntohs (((const struct sockaddr_in *) addr)->sin_port)
           : addr->ss_family == AF_INET6
               ? ntohs (((const struct sockaddr_in6 *) addr)->sin6_port)
               : -1;
}

static bool
s_our_port (int port, const struct mg_server_port *ports, int nports)
{
    for (int i = 0; port >= 0 && i < nports; i++)
        if (ports[i].port == port)
            return true;
    return false;
}

//  The index key of fd when it is a client's connection to one of our
//  ports ("addr port"), else false. The local address is asked first: the
//  agents' ZeroMQ connections and the sockets' event descriptors cost one
//  call.
static bool
s_client_key (int fd,
              const struct mg_server_port *ports,
              int nports,
              char *key,
              size_t size)
{
    struct sockaddr_storage local, peer;
    socklen_t llen = sizeof local, plen = sizeof peer;
    if (getsockname (fd, (struct sockaddr *) &local, &llen) != 0
        || !s_our_port (s_port_of (&local), ports, nports)
        || getpeername (fd, (struct sockaddr *) &peer, &plen) != 0)
        return false;
    char addr[INET6_ADDRSTRLEN] = "";
    const void *raw =
        peer.ss_family == AF_INET
            ? (const void *) &((struct sockaddr_in *) &peer)->sin_addr
            : (const void *) &((struct sockaddr_in6 *) &peer)->sin6_addr;
    if (!inet_ntop (peer.ss_family, raw, addr, sizeof addr))
        return false;
    snprintf (key, size, "%s %d", addr, s_port_of (&peer));
    return true;
}

//  Every descriptor of the process, each given to fn with arg
static void
s_each_fd (void (*fn) (int fd, void *arg), void *arg)
{
    DIR *dir = opendir ("/proc/self/fd");
    if (!dir)
        return;
    struct dirent *entry;
    while ((entry = readdir (dir))) {
        char *end = NULL;
        long fd = strtol (entry->d_name, &end, 10);
        if (end && !*end && fd >= 0 && fd != dirfd (dir))
            fn ((int) fd, arg);
    }
    closedir (dir);
}

typedef struct {
    const struct mg_server_port *ports;
    int nports;
    zhashx_t *index;
} s_look_t;

static void
s_index_fd (int fd, void *arg)
{
    s_look_t *look = arg;
    char key[INET6_ADDRSTRLEN + 16];
    if (s_client_key (fd, look->ports, look->nports, key, sizeof key))
        zhashx_update (look->index, key, (void *) (intptr_t) (fd + 1));
}

static int
s_lookup (ll_client_fds_t *self, const char *key)
{
    pthread_mutex_lock (&self->lock);
    int fd = (int) (intptr_t) zhashx_lookup (self->index, key) - 1;
    pthread_mutex_unlock (&self->lock);
    return fd;
}

//  fd is still the connection of key (a descriptor is reused once closed)
static bool
s_still (int fd,
         const char *key,
         const struct mg_server_port *ports,
         int nports)
{
    char now[INET6_ADDRSTRLEN + 16];
    return fd >= 0 && s_client_key (fd, ports, nports, now, sizeof now)
           && streq (now, key);
}

int
ll_client_fds_find (ll_client_fds_t *self,
                    struct mg_context *ctx,
                    const char *addr,
                    int port,
                    int hint)
{
    struct mg_server_port ports[S_PORTS_MAX];
    int nports = mg_get_server_ports (ctx, S_PORTS_MAX, ports);
    if (nports <= 0)
        return -1;
    char key[INET6_ADDRSTRLEN + 16];
    snprintf (key, sizeof key, "%s %d", addr, port);
    if (s_still (hint, key, ports, nports))
        return hint;
    int fd = s_lookup (self, key);
    if (s_still (fd, key, ports, nports))
        return fd;
    pthread_mutex_lock (&self->scan_lock);
    fd = s_lookup (self, key);  //  a look made while this one waited
    if (!s_still (fd, key, ports, nports)) {
        s_look_t look = {ports, nports, zhashx_new ()};
        s_each_fd (s_index_fd, &look);
        pthread_mutex_lock (&self->lock);
        zhashx_destroy (&self->index);
        self->index = look.index;
        pthread_mutex_unlock (&self->lock);
        fd = s_lookup (self, key);
    }
    pthread_mutex_unlock (&self->scan_lock);
    return fd;
}

static void
s_cut_fd (int fd, void *arg)
{
    s_look_t *look = arg;
    char key[INET6_ADDRSTRLEN + 16];
    int listening = 0;
    socklen_t len = sizeof listening;
    struct sockaddr_storage local;
    socklen_t llen = sizeof local;
    bool listener =
        getsockopt (fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0
        && listening && getsockname (fd, (struct sockaddr *) &local, &llen) == 0
        && s_our_port (s_port_of (&local), look->ports, look->nports);
    if (listener
        || s_client_key (fd, look->ports, look->nports, key, sizeof key))
        shutdown (fd, SHUT_RD);
}

void
ll_client_fds_cut_all (struct mg_context *ctx)
{
    struct mg_server_port ports[S_PORTS_MAX];
    int nports = mg_get_server_ports (ctx, S_PORTS_MAX, ports);
    s_look_t look = {ports, nports, NULL};
    if (nports > 0)
        s_each_fd (s_cut_fd, &look);
}
