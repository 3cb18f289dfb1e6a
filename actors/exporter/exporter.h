/*  exporter: every VM's data files in one zip, streamed while it is built.

    Owns: the SSH client key (actors/exporter/key.h), one PostgreSQL
    connection (VM list, pinned host keys, audit), and during an export the
    fetch threads (actors/exporter/fetch.h, at most export.parallel at once,
    one per VM) and the zip writer (actors/exporter/zip.h).
    Serves: ROUTER LL_ENDPOINT_EXPORTER, the grammar in runtime/protocol.h:
      EXPORT-START, EXPORT-READ, EXPORT-CANCEL, EXPORT-STATUS.
    Memory is bounded whatever the export's size: each fetch thread holds at
    most LL_FETCH_HWM messages of LL_FETCH_CHUNK bytes, and the zip bytes not
    yet pulled by the HTTP worker are capped (no fetch is read past it).
    Entries are vm_<n>/<path below the data folder>, n the VM's 1-based
    position (exporter_vms); MANIFEST.txt comes last: per-VM counts, bytes,
    failures, caps hit, and a sha256sum line for every file.
    Pipe: START -> OK | ERROR reason (the database may be down: an export
          then fails with a reason), $TERM (cancels a running export),
          VERBOSE (runtime/actor.h). */
#ifndef LL_ACTOR_EXPORTER_H
#define LL_ACTOR_EXPORTER_H

#include <czmq.h>

void exporter_actor (zsock_t *pipe, void *args);

#endif
