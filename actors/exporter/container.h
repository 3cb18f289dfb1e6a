/*  The container reader: the files inside the client container
    (export.source: container), where no SFTP reaches. Two remote commands
    run through export.container_command, neither carrying a file name: a
    NUL-separated listing (find -printf), then tar reading the wanted
    names from its standard input; the tar stream is checked by
    actors/exporter/tar.h and every file streamed to the exporter. */
#ifndef LL_EXPORTER_CONTAINER_H
#define LL_EXPORTER_CONTAINER_H

#include "actors/exporter/fetch_job.h"

//  On a logged-in job: 0 when every file was read, -1 when the VM failed
//  (job->error says why).
int ll_container_fetch (ll_fetch_job_t *job);

#endif
