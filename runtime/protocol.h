/*  Every inproc endpoint and every command exchanged between actors, with the
    grammar of each exchange. Routes reach actors only through this header.

    Convention (runtime/msg.h):
      request  C: [COMMAND] [request-id] [argument frames...]
      reply    S: [COMMAND] [request-id] ["OK"] [payload frames...]
               S: [COMMAND] [request-id] ["ERROR"] [reason]
    Clients are DEALER sockets (one per HTTP worker thread per actor) and the
    actors serve on ROUTER sockets. The runtime's own commands start with '$'
    or are START (answered "OK" or "ERROR <reason>" on the actor pipe). */
#ifndef LL_PROTOCOL_H
#define LL_PROTOCOL_H

//  Runtime commands on every actor's pipe
#define LL_CMD_START "START"  //  -> "OK" | "ERROR" reason
#define LL_CMD_TERM  "$TERM"  //  sent by zactor_destroy

//  --- registry: VM telemetry, reads, database health ----------------------
#define LL_ENDPOINT_REGISTRY "inproc://registry"
//  HEALTH                 -> OK | ERROR reason        (database reachable)
//  SECRET                 -> OK secret | ERROR reason (the server secret that
//                            agent tokens derive from; created on first use)
#define LL_CMD_HEALTH "HEALTH"
#define LL_CMD_SECRET "SECRET"

//  --- claim and connect (assigner, listener, waiters, gateway) -----------

//  --- telemetry and logs (registry, ingest) -------------------------------

//  --- provision (terraform) -----------------------------------------------

//  --- export (exporter) ---------------------------------------------------
#define LL_ENDPOINT_EXPORTER "inproc://exporter"
//  One export at a time; the HTTP worker that started it pulls the zip:
//  EXPORT-START [who]       -> OK export-id filename
//                            | ERROR busy      (an export is running: 409)
//                            | ERROR no-vms    (the VM table is empty: 404)
//                            | ERROR reason    (database, client key: 500)
//  EXPORT-READ export-id    -> OK DATA <bytes>   the next part of the zip
//                            | OK WAIT           nothing yet, ask again
//                            | OK END            the zip is complete
//                            | OK EMPTY failed reason   no file anywhere (404;
//                              failed = VMs that could not be read)
//                            | ERROR reason      (cancelled, unknown id)
//                            answered within 250 ms; an export whose reader
//                            stays away 60 s is cancelled
//  EXPORT-CANCEL export-id  -> OK        (the client went away)
//  EXPORT-STATUS            -> OK running vms_done vms_total bytes files
//                                 failed filename {hostname state files
//                                 bytes error}...   (of the last export
//                                 when none runs; running is "1" or "0";
//                                 state waiting|running|done|failed)
#define LL_CMD_EXPORT_START  "EXPORT-START"
#define LL_CMD_EXPORT_READ   "EXPORT-READ"
#define LL_CMD_EXPORT_CANCEL "EXPORT-CANCEL"
#define LL_CMD_EXPORT_STATUS "EXPORT-STATUS"

#endif
