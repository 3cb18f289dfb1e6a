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
//  registry (LL_ENDPOINT_REGISTRY). Writes are coalesced: everything that
//  arrived while the last flush ran is written by one statement per kind,
//  and each request is answered once its statement committed. "" stands
//  for "not given" / SQL NULL. ERROR reasons: "not found" (no such VM) or
//  the database's reason.
//  VM-STATUS-SET hostname status           -> OK   (creates the row)
//  VM-GPU-SET hostname Healthy|Unhealthy|N/A -> OK | ERROR not found
//  VM-INUSE-SET hostname 1|0               -> OK | ERROR not found
//  VM-HEARTBEAT hostname boot_id crd_active(1|0|"") disk_free_pct
//                                          -> OK | ERROR not found
//  VM-TOUCH hostname                       -> OK | ERROR not found
//                                             (sets last_seen_at only)
//  VM-METRICS-SET hostname ci_start ci_end ci_duration c_start c_end
//                 c_duration (epoch seconds / seconds)
//                                          -> OK total | ERROR not found
//  VM-STATUS-GET hostname                  -> OK status stale(1|0)
//                                           | ERROR not found
//  VM-STATUS-ALL                           -> OK [hostname status stale]...
//  VM-EXPORT                               -> OK json (array of rows)
#define LL_CMD_VM_STATUS_SET  "VM-STATUS-SET"
#define LL_CMD_VM_GPU_SET     "VM-GPU-SET"
#define LL_CMD_VM_INUSE_SET   "VM-INUSE-SET"
#define LL_CMD_VM_HEARTBEAT   "VM-HEARTBEAT"
#define LL_CMD_VM_TOUCH       "VM-TOUCH"
#define LL_CMD_VM_METRICS_SET "VM-METRICS-SET"
#define LL_CMD_VM_STATUS_GET  "VM-STATUS-GET"
#define LL_CMD_VM_STATUS_ALL  "VM-STATUS-ALL"
#define LL_CMD_VM_EXPORT      "VM-EXPORT"
#define LL_REASON_NOT_FOUND   "not found"

//  ingest: ROUTER (not PULL: a line is acknowledged only after the COPY
//  that stored it committed, so the sender needs a reply).
#define LL_ENDPOINT_LOGS "inproc://logs"
//  LOG-APPEND hostname stream source seq lines
//      stream: cloud_init|docker|agent; source/seq: the agent batch id or
//      "" ""; lines: cleaned lines, each ended by '\n'
//      -> OK stored-count | OK "duplicate" | ERROR not found | ERROR reason
//  LOG-READ hostname after limit
//      after "" = the newest limit lines; else up to limit lines with
//      id > after, oldest first
//      -> OK status rows      status: the VM's status ("" when NULL);
//         rows: "id\tstream\tline\n"... oldest first
//       | ERROR not found | ERROR reason
#define LL_CMD_LOG_APPEND "LOG-APPEND"
#define LL_CMD_LOG_READ   "LOG-READ"
#define LL_LOG_DUPLICATE  "duplicate"

//  PUB: after each commit, per VM: [hostname "\t"] [rows as in LOG-READ].
//  Subscribe to "<hostname>\t" (tab ends the topic: vm-1 never matches
//  vm-10).
#define LL_ENDPOINT_LOG_TAIL "inproc://log-tail"

//  --- provision (terraform) -----------------------------------------------

//  --- export (exporter) ---------------------------------------------------

#endif
