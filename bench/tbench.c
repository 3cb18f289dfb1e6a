#include "bench/tbench.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

void
ll_tbench_close (ll_tbench_conn_t *conn)
{
    if (conn->fd >= 0)
        close (conn->fd);
    conn->fd = -1;
}

static int
s_connect (ll_tbench_conn_t *conn)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons ((uint16_t) conn->port)};
    inet_pton (AF_INET, conn->host, &addr.sin_addr);
    int one = 1;
    setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {.tv_sec = 60};
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect (fd, (struct sockaddr *) &addr, sizeof addr) != 0) {
        close (fd);
        return -1;
    }
    conn->fd = fd;
    return 0;
}

//  Case-insensitive strstr (strcasestr is a GNU extension).
static const char *
s_find (const char *text, const char *needle)
{
    size_t n = strlen (needle);
    for (; *text; text++)
        if (strncasecmp (text, needle, n) == 0)
            return text;
    return NULL;
}

static int
s_send_all (int fd, const char *data, size_t len)
{
    while (len) {
        ssize_t n = send (fd, data, len, MSG_NOSIGNAL);
        if (n <= 0)
            return -1;
        data += n;
        len -= (size_t) n;
    }
    return 0;
}

int
ll_tbench_request (ll_tbench_conn_t *conn,
                   const char *method,
                   const char *path,
                   const char *token,
                   const char *body,
                   size_t body_len)
{
    if (conn->fd < 0 && s_connect (conn) != 0)
        return 0;
    char head[1024];
    int n = snprintf (head, sizeof head,
                      "%s %s HTTP/1.1\r\nHost: %s\r\n%s%s%s"
                      "Content-Type: application/json\r\n"
                      "Content-Length: %zu\r\n\r\n",
                      method, path, conn->host,
                      token ? "Authorization: Bearer " : "", token ? token : "",
                      token ? "\r\n" : "", body ? body_len : 0);
    if (s_send_all (conn->fd, head, (size_t) n) != 0
        || (body && s_send_all (conn->fd, body, body_len) != 0)) {
        ll_tbench_close (conn);
        return 0;
    }
    //  Headers, then Content-Length bytes
    ll_textbuf_reset (&conn->in);
    char buf[65536];
    char *end = NULL;
    while (!end) {
        ssize_t got = recv (conn->fd, buf, sizeof buf, 0);
        if (got <= 0) {
            ll_tbench_close (conn);
            return 0;
        }
        ll_textbuf_append (&conn->in, buf, (size_t) got);
        end = strstr (conn->in.data, "\r\n\r\n");
    }
    int status = 0;
    sscanf (conn->in.data, "HTTP/1.1 %d", &status);
    const char *cl = s_find (conn->in.data, "\r\nContent-Length:");
    size_t want = cl && cl < end ? strtoul (cl + 17, NULL, 10) : 0;
    size_t head_len = (size_t) (end - conn->in.data) + 4;
    const char *close_hdr = s_find (conn->in.data, "\r\nConnection: close");
    bool must_close = close_hdr && close_hdr < end;
    while (conn->in.len - head_len < want) {
        ssize_t got = recv (conn->fd, buf, sizeof buf, 0);
        if (got <= 0) {
            ll_tbench_close (conn);
            return 0;
        }
        ll_textbuf_append (&conn->in, buf, (size_t) got);
    }
    //  Keep only the body
    memmove (conn->in.data, conn->in.data + head_len, conn->in.len - head_len);
    conn->in.len -= head_len;
    conn->in.data[conn->in.len] = '\0';
    if (must_close)
        ll_tbench_close (conn);
    return status;
}

static int
s_compare (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

double
ll_tbench_percentile (const double *sorted, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t i = (size_t) (p / 100.0 * (double) (n - 1) + 0.5);
    return sorted[i < n ? i : n - 1];
}

long
ll_tbench_opt (ll_tbench_opts_t *opts, const char *name, long dflt)
{
    for (int i = 0; i + 1 < opts->argc; i++)
        if (strcmp (opts->argv[i], name) == 0)
            return strtol (opts->argv[i + 1], NULL, 10);
    return dflt;
}

void
ll_tbench_sort (double *values, size_t n)
{
    qsort (values, n, sizeof *values, s_compare);
}

int
ll_tbench_run (int argc, char **argv, int (*scenario) (ll_tbench_opts_t *))
{
    ll_tbench_opts_t opts;
    ll_tbench_parse (argc, argv, &opts);
    int rc = scenario (&opts);
    free (opts.argv);
    return rc;
}

void
ll_tbench_parse (int argc, char **argv, ll_tbench_opts_t *opts)
{
    *opts = (ll_tbench_opts_t){.host = "127.0.0.1",
                               .port = 5000,
                               .config = "config.yaml",
                               .seconds = 10};
    opts->argv = calloc ((size_t) argc + 1, sizeof *opts->argv);
    for (int i = 1; i < argc; i++) {
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp (argv[i], "--url") == 0 && next) {
            //  http://HOST:PORT
            const char *h =
                strstr (next, "://") ? strstr (next, "://") + 3 : next;
            const char *colon = strchr (h, ':');
            snprintf (opts->host, sizeof opts->host, "%.*s",
                      (int) (colon ? colon - h : (long) strlen (h)), h);
            if (colon)
                opts->port = (int) strtol (colon + 1, NULL, 10);
            i++;
        }
        else if (strcmp (argv[i], "--config") == 0 && next) {
            opts->config = next;
            i++;
        }
        else if (strcmp (argv[i], "--pid") == 0 && next) {
            opts->pid = (int) strtol (next, NULL, 10);
            i++;
        }
        else if (strcmp (argv[i], "--seconds") == 0 && next) {
            opts->seconds = (int) strtol (next, NULL, 10);
            i++;
        }
        else
            opts->argv[opts->argc++] = argv[i];
    }
}
