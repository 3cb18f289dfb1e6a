/*  The SFTP walker: one VM's data folder read over SFTP (export.source:
    host). No shell runs: names are data. The folder is walked depth first
    (no links followed, models/ and predictions/ left out, at most
    LL_FETCH_DEPTH_MAX deep), every file with machine.extension reserved
    against the caps and streamed to the exporter (BEGIN, DATA..., END). */
#ifndef LL_EXPORTER_SFTP_WALK_H
#define LL_EXPORTER_SFTP_WALK_H

#include "actors/exporter/fetch_job.h"

//  On a logged-in job: 0 when the walk is done, -1 when the VM failed
//  (job->error says why).
int ll_sftp_walk (ll_fetch_job_t *job);

#endif
