#include "actors/exporter/fetch.h"
#include "actors/exporter/container.h"
#include "actors/exporter/fetch_job.h"
#include "actors/exporter/sftp_walk.h"

#include <sys/socket.h>

int
ll_fetch_global_init (void)
{
    return libssh2_init (0) == 0 ? 0 : -1;
}

void
ll_fetch_global_exit (void)
{
    libssh2_exit ();
}

void
ll_fetch_interrupt (ll_fetch_t *fetch)
{
    pthread_mutex_lock (&fetch->fd_lock);
    if (fetch->fd >= 0)
        shutdown (fetch->fd, SHUT_RDWR);
    pthread_mutex_unlock (&fetch->fd_lock);
}

void *
ll_fetch_run (void *arg)
{
    ll_fetch_job_t job;
    ll_fetch_job_init (&job, arg);
    int rc = ll_fetch_connect (&job);
    if (rc == 0)
        rc = ll_fetch_login (&job);
    if (rc == 0)
        rc =
            job.sh->container ? ll_container_fetch (&job) : ll_sftp_walk (&job);
    if (atomic_load (&job.sh->cancel) && rc != 0)
        snprintf (job.error, sizeof job.error, "cancelled");
    if (rc == 0)
        ll_fetch_sendf (&job, "DONE", 0);
    else
        ll_fetch_sendf (&job, "FAIL", 1, job.error);
    ll_fetch_job_close (&job);
    return NULL;
}
