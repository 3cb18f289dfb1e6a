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
//                            service tokens (_lambda) derive from; created
//                            on first use)
//  VM-AUTH hostname token-hash
//                         -> OK generation     the VM's current token
//                          | ERROR "revoked"   a token it had before
//                          | ERROR "not found" no such VM (never launched
//                                              nor registered)
//                          | ERROR "invalid"   anything else
//                          | ERROR reason      database unavailable
//                            (every VM-AUTH waiting is answered by one query)
#define LL_CMD_HEALTH     "HEALTH"
#define LL_CMD_SECRET     "SECRET"
#define LL_CMD_VM_AUTH    "VM-AUTH"
#define LL_REASON_REVOKED "revoked"
#define LL_REASON_INVALID "invalid"

//  --- claim and connect (assigner, listener, waiters, gateway) -----------
#define LL_ENDPOINT_ASSIGNER "inproc://assigner"
//  VM-CLAIM email code address proof access-code
//      proof: the canonical claim secret the student showed (cookie or
//      recovery code, runtime/recovery.h) or ""; access-code: as typed or ""
//      -> OK ASSIGNED hostname pin secret  a free VM (or the student's own,
//                                        running VM with the new code);
//                                        secret: the claim secret to hand
//                                        back (new, or the proof shown)
//       | OK RECOVERING hostname status secret  the student's VM reboots;
//                                        the new code is queued for it
//       | OK NONE                        no free VM
//       | OK CHANGED                     the VM was taken away meanwhile
//       | OK UNRECOVERABLE               the student's VM is in error
//       | OK LIMITED seconds             rate limit (email or address)
//       | OK DENIED                      the email holds a VM and the proof
//                                        is missing or wrong (nothing told)
//       | OK REFUSED code|email|domain   the class roster refused it
//       | ERROR reason                   database unavailable
//  VM-COUNT            -> OK count     free VMs (the claim's own predicate)
//  VM-RELEASE hostname actor -> OK reset|replace|reuse (claim.on_release:
//                         reset and replace keep the VM out of the pool
//                         until reset or replaced) | ERROR "not found"
//                         | ERROR reason
//  VM-RESET-DONE hostname reset-id 1|0 error generation
//                      -> OK | ERROR "stale" (not the current reset)
//                         | ERROR "revoked" | ERROR "not found"
//                         | ERROR reason (only the agent of the current
//                         token's generation counts)
//  VM-RESULT hostname 1|0 error generation
//                      -> OK | ERROR "not found" | ERROR "revoked" | ERROR
//                         reason (the agent's start-host outcome; 1 sets
//                         delivered_at; only the agent of the current
//                         token's generation counts)
//  VM-SEEN hostname... -> OK               last_seen_at = now()
//  CLAIM-RESET email actor -> OK secret hostname...  a new claim secret for
//                         the student's VMs (the old one stops working;
//                         audited) | ERROR "not found" | ERROR reason
//  CLAIM-WHO secret-hash address -> OK email [hostname status]...
//                         the claim a secret proves (the student's own
//                         page) | OK LIMITED seconds | ERROR "not found"
#define LL_CMD_VM_CLAIM        "VM-CLAIM"
#define LL_CMD_VM_COUNT        "VM-COUNT"
#define LL_CMD_VM_RELEASE      "VM-RELEASE"
#define LL_CMD_VM_RESULT       "VM-RESULT"
#define LL_CMD_VM_SEEN         "VM-SEEN"
#define LL_CMD_VM_RESET_DONE   "VM-RESET-DONE"
#define LL_CMD_CLAIM_RESET     "CLAIM-RESET"
#define LL_CMD_CLAIM_WHO       "CLAIM-WHO"
#define LL_CLAIM_ASSIGNED      "ASSIGNED"
#define LL_CLAIM_RECOVERING    "RECOVERING"
#define LL_CLAIM_NONE          "NONE"
#define LL_CLAIM_CHANGED       "CHANGED"
#define LL_CLAIM_UNRECOVERABLE "UNRECOVERABLE"
#define LL_CLAIM_LIMITED       "LIMITED"
#define LL_CLAIM_DENIED        "DENIED"
#define LL_CLAIM_REFUSED       "REFUSED"

#define LL_ENDPOINT_EVENTS "inproc://events"
//  PUB (listener) -> SUB, no replies:
//  VM-ASSIGNED hostname [pin command generation]
//                         a NOTIFY said this VM has a new assignment (the
//                         trigger's payload: every statement that stores a
//                         command also clears delivered_at), for the agent
//                         of that token generation ("" when unknown);
//                         without pin and command (a reset, or a payload
//                         without them) the waiters read the row
//  VM-REVOKED hostname generation
//                         the VM's token was replaced (generation: the new
//                         one) or its row removed (generation 0): drop the
//                         cached token and every waiter of an older one
//  RESYNC                 LISTEN was (re)established: notifications may
//                         have been missed, re-read every parked VM's row
#define LL_EVT_VM_ASSIGNED "VM-ASSIGNED"
#define LL_EVT_VM_REVOKED  "VM-REVOKED"
#define LL_EVT_RESYNC      "RESYNC"
//  The channel of migration 0012's token trigger ("hostname generation")
#define LL_TOKEN_CHANNEL "lablink_vm_tokens"

#define LL_ENDPOINT_WAITERS "inproc://waiters"
//  VM-WAIT hostname timeout-ms kind(http|zmq) generation
//      -> OK ASSIGN pin command    at once when an undelivered assignment
//                                  is stored, else when it arrives
//       | OK RESET reset-id        the VM was released: its agent must end
//                                  the session and restore the home, then
//                                  confirm reset-id (issue 15 section 3)
//       | OK TIMEOUT               timeout-ms passed (0 = never)
//       | OK FULL retry-seconds    too many parked HTTP waiters
//       | OK UNKNOWN               no such VM
//       | OK REVOKED               generation (of the caller's token) is
//                                  not the VM's current one, at once or
//                                  when a new token replaces it
//  VM-UNWAIT wait-request-id -> OK  forget the caller's parked VM-WAIT with
//                                  that request id (client went away); its
//                                  VM-WAIT is never answered
#define LL_CMD_VM_WAIT   "VM-WAIT"
#define LL_CMD_VM_UNWAIT "VM-UNWAIT"
#define LL_WAIT_ASSIGN   "ASSIGN"
#define LL_WAIT_RESET    "RESET"
#define LL_WAIT_TIMEOUT  "TIMEOUT"
#define LL_WAIT_FULL     "FULL"
#define LL_WAIT_UNKNOWN  "UNKNOWN"
#define LL_WAIT_REVOKED  "REVOKED"

//  gateway: agents over ZeroMQ (agent.zmq_endpoint, CURVE). Each message is
//  one frame of text "VERB arguments" (multi-frame messages are read as
//  their frames joined by spaces):
//    HELLO hostname token   -> HELLO-OK | ERROR reason    (must come first;
//                              the token is checked as on HTTP: VM-AUTH)
//    WAIT                   -> later ASSIGN pin command   (at once if pending)
//                              or RESET reset-id (the VM was released: the
//                              agent resets and POSTs /api/vm-reset-result)
//                              | ERROR token revoked      (HELLO again)
//    RESULT hostname 1|0 error text                -> RESULT-OK | ERROR reason
//    POST path json         -> REPLY status json   (the agent HTTP routes)
//    PING                   -> PONG                (either side)

//  --- telemetry and logs (registry, ingest) -------------------------------
//  registry (LL_ENDPOINT_REGISTRY). Writes are coalesced: everything that
//  arrived while the last flush ran is written by one statement per kind,
//  and each request is answered once its statement committed. "" stands
//  for "not given" / SQL NULL. ERROR reasons: "not found" (no such VM) or
//  the database's reason.
//  VM-STATUS-SET hostname status           -> OK | ERROR not found
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
//  VM-REGISTER hostname token-hash actor   -> OK generation created(1|0)
//                                           | ERROR "managed" (a fleet name)
//                                           | ERROR reason
//                             (bring your own VM: the admin's registration
//                             creates the row of a VM terraform does not run,
//                             or gives it a new token; actor "" = the caller
//                             audits)
#define LL_CMD_VM_STATUS_SET  "VM-STATUS-SET"
#define LL_CMD_VM_GPU_SET     "VM-GPU-SET"
#define LL_CMD_VM_INUSE_SET   "VM-INUSE-SET"
#define LL_CMD_VM_HEARTBEAT   "VM-HEARTBEAT"
#define LL_CMD_VM_TOUCH       "VM-TOUCH"
#define LL_CMD_VM_METRICS_SET "VM-METRICS-SET"
#define LL_CMD_VM_STATUS_GET  "VM-STATUS-GET"
#define LL_CMD_VM_STATUS_ALL  "VM-STATUS-ALL"
#define LL_CMD_VM_EXPORT      "VM-EXPORT"
#define LL_CMD_VM_REGISTER    "VM-REGISTER"
#define LL_REASON_MANAGED     "managed"
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
//  Lines one LOG-APPEND may carry (a flush numbers at most 2^20 lines)
#define LL_LOG_APPEND_MAX_LINES 100000

//  PUB: after each commit, per VM: [hostname "\t"] [rows as in LOG-READ].
//  Subscribe to "<hostname>\t" (tab ends the topic: vm-1 never matches
//  vm-10).
#define LL_ENDPOINT_LOG_TAIL "inproc://log-tail"

//  --- provision (terraform) -----------------------------------------------
#define LL_ENDPOINT_TERRAFORM "inproc://terraform"
//  LAUNCH count who        -> OK id | ERROR "busy <id>" | ERROR "too-many <max>"
//                             | ERROR "no-url" | ERROR reason
//  DESTROY who             -> OK id | ERROR "busy <id>" | ERROR reason
//  DESTROY-VM host who     -> OK id | ERROR "busy <id>" | ERROR "unknown-vm"
//  REPLACE-VM host who     -> OK id | ERROR "busy <id>" | ERROR "unknown-vm"
//                             (an operation starts and runs in the
//                             background; "busy" names the running one)
//  OP-GET id after         -> OK kind status requested done total error
//                             created_by target created_at started_at
//                             finished_at line-count [line...]
//                             (lines numbered from 0; only those >= after)
//                             | ERROR "not-found" | ERROR reason
//  OP-LIST limit          -> OK [id kind status requested done total error
//                             target created_at finished_at]... newest first
#define LL_CMD_LAUNCH     "LAUNCH"
#define LL_CMD_DESTROY    "DESTROY"
#define LL_CMD_DESTROY_VM "DESTROY-VM"
#define LL_CMD_REPLACE_VM "REPLACE-VM"
#define LL_CMD_OP_GET     "OP-GET"
#define LL_CMD_OP_LIST    "OP-LIST"
//  PUB: every output line and state change of the operation running here
//    ["op:<id>"] ["line"] [seq] [text]          seq from 0, as in OP-GET
//    ["op:<id>"] ["progress"] [done] [total]
//    ["op:<id>"] ["status"] [running|succeeded|failed] [error or ""]
#define LL_ENDPOINT_OPERATIONS "inproc://operations"
#define LL_OP_TOPIC_PREFIX     "op:"

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

//  --- admin console (admin): sessions, login throttle, audit, reads ------
#define LL_ENDPOINT_ADMIN "inproc://admin"
//  SESSION-NEW id-hash actor address  -> OK | ERROR reason
//  SESSION-CHECK id-hash idle-s max-s -> OK actor | ERROR "expired" | ERROR
//                                        reason (database)
//  SESSION-END id-hash                -> OK | ERROR reason
//     id-hash: hex SHA-256 of the cookie's session id (never the id)
//  LOGIN-CHECK address window-s       -> OK failures retry-after-s
//  LOGIN-FAILED address               -> OK          (one failure more)
//  LOGIN-OK address                   -> OK          (failures forgotten)
//  AUDIT actor action target outcome detail -> OK | ERROR reason
//  AUDIT-LIST limit before-id         -> OK json      (array, newest first)
//  ADMIN-VMS                          -> OK json      (array of VM objects
//                                        without pin and crd_command)
//  ADMIN-VM-EXISTS hostname           -> OK "1" | OK "0"
#define LL_ADMIN_SESSION_MAX_S 43200  //  absolute session lifetime
#define LL_CMD_SESSION_NEW     "SESSION-NEW"
#define LL_CMD_SESSION_CHECK   "SESSION-CHECK"
#define LL_CMD_SESSION_END     "SESSION-END"
#define LL_CMD_LOGIN_CHECK     "LOGIN-CHECK"
#define LL_CMD_LOGIN_FAILED    "LOGIN-FAILED"
#define LL_CMD_LOGIN_OK        "LOGIN-OK"
#define LL_CMD_AUDIT           "AUDIT"
#define LL_CMD_AUDIT_LIST      "AUDIT-LIST"
#define LL_CMD_ADMIN_VMS       "ADMIN-VMS"
#define LL_CMD_ADMIN_VM_EXISTS "ADMIN-VM-EXISTS"

#endif
