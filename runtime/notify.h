/*  The service manager's side of a run (systemd, Type=notify): readiness
    once the allocator serves, the watchdog while it answers, and the stop.
    Everything is a no-op when NOTIFY_SOCKET is unset (not under systemd).

    The watchdog is only fed while the allocator really serves: each ping
    follows an HTTP request to its own listener (any answer counts, a 503
    too: the database may be down, the process is alive), so a process
    whose workers are all stuck stops feeding it and systemd restarts it. */
#ifndef LL_NOTIFY_H
#define LL_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

//  READY=1 with a status line.
void ll_notify_ready (const char *status);

//  STOPPING=1.
void ll_notify_stopping (void);

//  Milliseconds between watchdog pings (half of WatchdogSec), 0 when the
//  watchdog is off.
int64_t ll_notify_watchdog_ms (void);

//  WATCHDOG=1.
void ll_notify_watchdog (void);

//  The URL the watchdog asks (GET /api/health on the listener): from
//  app.listen's first address (0.0.0.0 and [::] become loopback) and the
//  port the listener really has. 0, or -1 when listen cannot be read.
int ll_notify_probe_url (const char *listen, int port, char *out, int size);

//  True when url answered an HTTP status within timeout_ms.
bool ll_notify_probe (const char *url, int timeout_ms);

#endif
