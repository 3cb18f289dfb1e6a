#include "runtime/notify.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

void
ll_notify_ready (const char *status)
{
    sd_notifyf (0, "READY=1\nSTATUS=%s", status ? status : "ready");
}

void
ll_notify_stopping (void)
{
    sd_notify (0, "STOPPING=1\nSTATUS=stopping");
}

int64_t
ll_notify_watchdog_ms (void)
{
    uint64_t usec = 0;
    if (sd_watchdog_enabled (0, &usec) <= 0 || usec == 0)
        return 0;
    int64_t ms = (int64_t) (usec / 2000);
    return ms > 0 ? ms : 1;
}

void
ll_notify_watchdog (void)
{
    sd_notify (0, "WATCHDOG=1");
}

int
ll_notify_probe_url (const char *listen, int port, char *out, int size)
{
    //  civetweb's listening_ports: "[addr:]port[s|r]", comma-separated
    char first[128];
    size_t len = strcspn (listen, ",");
    if (len == 0 || len >= sizeof first || port <= 0)
        return -1;
    memcpy (first, listen, len);
    first[len] = '\0';
    char *colon = strrchr (first, ':');
    const char *host = "127.0.0.1";
    if (colon && colon != first) {
        *colon = '\0';
        if (strcmp (first, "0.0.0.0") == 0)
            host = "127.0.0.1";
        else if (strcmp (first, "[::]") == 0)
            host = "[::1]";
        else
            host = first;
    }
    int n =
        snprintf (out, (size_t) size, "http://%s:%d/api/health", host, port);
    return n > 0 && n < size ? 0 : -1;
}

static size_t
s_discard (char *data, size_t size, size_t count, void *arg)
{
    return size * count;
}

bool
ll_notify_probe (const char *url, int timeout_ms)
{
    CURL *curl = curl_easy_init ();
    if (!curl)
        return false;
    curl_easy_setopt (curl, CURLOPT_URL, url);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_discard);
    curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT_MS, (long) timeout_ms);
    curl_easy_setopt (curl, CURLOPT_PROTOCOLS_STR, "http");
    curl_easy_setopt (curl, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt (curl, CURLOPT_USERAGENT, "lablink-watchdog");
    long status = 0;
    if (curl_easy_perform (curl) == CURLE_OK)
        curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup (curl);
    return status >= 100;
}
