/*  Every inproc endpoint and every command exchanged between actors, with the
    grammar of each exchange: the one place it is written. Actor headers list
    the commands they serve and point here; routes reach actors only through
    this header.

    Convention (runtime/msg.h):
      request  C: [COMMAND] [request-id] [argument frames...]
      reply    S: [COMMAND] [request-id] ["OK"] [payload frames...]
               S: [COMMAND] [request-id] ["ERROR"] [reason]
    Clients are DEALER sockets (HTTP workers borrow one per call) and the
    actors serve on ROUTER sockets. The runtime's own commands start with '$'
    or are START (answered "OK" or "ERROR <reason>" on the actor pipe).

    The codec (end of this file, runtime/protocol.c) holds every exchange's
    frames as a picture: clients call ll_ask_<command> (runtime/ask.h,
    included at the end of this file), actors read a
    request with ll_request_take and answer with ll_request_answer. A
    command the actor does not serve, or a request whose frames do not fit
    its picture, is logged with the actor's name and answered ERROR. */
#ifndef LL_PROTOCOL_H
#define LL_PROTOCOL_H

#include "runtime/msg.h"

//  Runtime commands on every actor's pipe
#define LL_CMD_START   "START"    //  -> "OK" | "ERROR" reason
#define LL_CMD_TERM    "$TERM"    //  sent by zactor_destroy
#define LL_CMD_VERBOSE "VERBOSE"  //  trace every request (no answer)
//  $STOPPING: to every actor at once when the process stops: end parked
//  work now ($TERM follows, actor by actor in reverse order; no answer)
#define LL_CMD_STOPPING "$STOPPING"

//  Reasons of ERROR replies that callers tell apart (never write the text)
#define LL_REASON_NOT_FOUND      "not found"  //  no such VM
#define LL_REASON_MANAGED        "managed"    //  VM-REGISTER: a fleet name
#define LL_REASON_UNKNOWN        "unknown command"    //  not served here
#define LL_REASON_MALFORMED      "malformed request"  //  frames do not fit
#define LL_REASON_BAD_REPLY      "malformed reply"    //  the answer did not fit
#define LL_REASON_DATABASE       "database unavailable"
#define LL_REASON_TIMEOUT        "timeout"  //  ll_call: no answer in time
#define LL_REASON_HANGUP         "hangup"   //  ll_call_watch: the client left
#define LL_REASON_EXPIRED        "expired"  //  SESSION-CHECK
#define LL_REASON_TOO_LONG       "argument too long"
#define LL_REASON_BUSY           "busy"            //  EXPORT-START; "busy <id>"
#define LL_REASON_NO_VMS         "no-vms"          //  EXPORT-START
#define LL_REASON_NO_MATCH       "no-match"        //  EXPORT-START: filters
#define LL_REASON_OP_MISSING     "not-found"       //  OP-GET: no such operation
#define LL_REASON_UNKNOWN_VM     "unknown-vm"      //  DESTROY-VM, REPLACE-VM
#define LL_REASON_NO_URL         "no-url"          //  LAUNCH
#define LL_REASON_TOO_MANY       "too-many"        //  LAUNCH: "too-many <max>"
#define LL_REASON_BAD_COUNT      "invalid count"   //  LAUNCH
#define LL_REASON_NO_EXPORT      "no such export"  //  EXPORT-READ
#define LL_REASON_CANCELLED      "cancelled"       //  EXPORT-READ
#define LL_REASON_NO_KEY         "no ssh client key"
#define LL_REASON_DUPLICATE      "duplicate request id"  //  VM-WAIT
#define LL_REASON_LINES          "too many lines"        //  LOG-APPEND
#define LL_REASON_STOPPING       "shutting down"
#define LL_REASON_UNANSWERED     "not answered"  //  a handler forgot to answer
#define LL_REASON_DUPLICATE_NAME "duplicate"     //  SCHEDULE-ADD
#define LL_REASON_STATUS         "status"  //  SCHEDULE-CANCEL: "status <s>"
#define LL_REASON_STALE          "stale"  //  VM-RESET-DONE: not the current reset

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
//  VM-RELEASE hostname actor [idle-s] -> OK reset|replace|reuse
//                         (claim.on_release: reset and replace keep the VM
//                         out of the pool until reset or replaced)
//                         | ERROR "not found" (no such VM; with idle-s, the
//                         idle rule's seconds: none held and unused that
//                         long, rechecked under the row's lock)
//                         | ERROR reason
//  VM-RESET-DONE hostname reset-id 1|0 error-text generation
//                      -> OK | ERROR "stale" (not the current reset)
//                         | ERROR "revoked" | ERROR "not found"
//                         | ERROR reason (only the agent of the current
//                         token's generation counts; error-text cut at
//                         1,000 bytes)
//  VM-RESULT hostname 1|0 error-text generation
//                      -> OK | ERROR "not found" | ERROR "revoked" | ERROR
//                         reason (the agent's start-host outcome; 1 sets
//                         delivered_at; error-text "" on success, cut at
//                         1,000 bytes; only the agent of the current
//                         token's generation counts)
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
//    POST path json         -> REPLY status json   (the agent API of
//                              http/agent_api.h, answered as over HTTP;
//                              other paths REPLY 404)
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
//               [waiting(1|"")]           -> OK | ERROR not found
//  VM-TOUCH hostname                       -> OK | ERROR not found
//                                             (sets last_seen_at only)
//  VM-SEEN hostname...                     -> OK | ERROR reason
//                             (last_seen_at = now(): the gateway's live
//                             agents, every 30 s)
//  VM-POLLED hostname...                   -> OK | ERROR reason
//                             (last_polled_at = now(): the ZeroMQ clients
//                             parked at the waiters, every 10 s)
//                             Both are written at once, not coalesced: a
//                             fleet's batch is 10,000 rows, and in the
//                             assigner or the waiters it held claims and
//                             deliveries up for half a second.
//  VM-METRICS-SET hostname ci_start ci_end ci_duration c_start c_end
//                 c_duration (epoch seconds / seconds)
//                                          -> OK total | ERROR not found
//  VM-STATUS-GET hostname                  -> OK status stale(1|0)
//                                           | ERROR not found
//  VM-STATUS-ALL                           -> OK [hostname status stale]...
//  VM-EXPORT                               -> OK json (array of rows)
//  VM-FLEET                                -> OK scheduled_end(epoch|"")
//                 [status("" = none) count assigned stale free undelivered]...
//                                             (the /metrics fleet gauges)
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
#define LL_CMD_VM_SEEN        "VM-SEEN"
#define LL_CMD_VM_POLLED      "VM-POLLED"
#define LL_CMD_VM_METRICS_SET "VM-METRICS-SET"
#define LL_CMD_VM_STATUS_GET  "VM-STATUS-GET"
#define LL_CMD_VM_STATUS_ALL  "VM-STATUS-ALL"
#define LL_CMD_VM_EXPORT      "VM-EXPORT"
#define LL_CMD_VM_FLEET       "VM-FLEET"
#define LL_CMD_VM_REGISTER    "VM-REGISTER"

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
//  DESTROY-VM host who [host...]
//                          -> OK id | ERROR "busy <id>"
//                             | ERROR "unknown-vm <host>" (not in the fleet)
//  REPLACE-VM host who [host...]   the same names on new machines; an
//                             assigned student stays, with a fresh delivery
//  REBOOT-VM host who [host...]    the provider's vm-reboot.sh for each
//                             (local: restart the agent; aws: reboot the
//                             instance); the assignment stays
//  MOVE-VM host who        a new VM under a new name takes host's student,
//                             host is destroyed (one apply)
//                             (each answers like DESTROY-VM; at most 100
//                             hosts; an operation starts and runs in the
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
#define LL_CMD_REBOOT_VM  "REBOOT-VM"
#define LL_BULK_MAX       100  //  VMs one console action may name
#define LL_CMD_MOVE_VM    "MOVE-VM"
//  EXPORT-DESTROY who      -> OK id | ERROR "busy <id>" | ERROR reason
//                             (export every VM to export.keep_dir, check
//                             the zip, then destroy: one operation)
#define LL_CMD_EXPORT_DESTROY "EXPORT-DESTROY"
#define LL_CMD_OP_GET         "OP-GET"
#define LL_CMD_OP_LIST        "OP-LIST"
//  PUB: every output line and state change of the operation running here
//    ["op:<id>"] ["line"] [seq] [text]          seq from 0, as in OP-GET
//    ["op:<id>"] ["progress"] [done] [total]
//    ["op:<id>"] ["status"] [running|succeeded|failed] [error or ""]
#define LL_ENDPOINT_OPERATIONS "inproc://operations"
#define LL_OP_TOPIC_PREFIX     "op:"

//  --- export (exporter) ---------------------------------------------------
#define LL_ENDPOINT_EXPORTER "inproc://exporter"
//  One export at a time; the HTTP worker that started it pulls the zip:
//  EXPORT-START [who] [host:<hostname> | email:<address>]...
//                           -> OK export-id filename
//                            | ERROR busy      (an export is running: 409)
//                            | ERROR no-vms    (the VM table is empty: 404)
//                            | ERROR no-match  (no VM named or held by
//                                               the emails given: 404)
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
#define LL_EXPORT_DATA       "DATA"
#define LL_EXPORT_WAIT       "WAIT"
#define LL_EXPORT_END        "END"
#define LL_EXPORT_EMPTY      "EMPTY"

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
//  ADMIN-VMS [hostname]               -> OK json      (array of VM objects
//                                        without pin and crd_command, with
//                                        their console state; only that VM
//                                        when hostname is given)
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
//  The exports kept on disk by "export, then destroy" (export_archives):
//  ARCHIVES                           -> OK json      (array, newest first)
//  ARCHIVE-GET name                   -> OK allocator | ERROR "not found"
//  ARCHIVE-DONE name                  -> OK           (downloaded_at = now)
//  ARCHIVE-DELETE name                -> OK name | ERROR "not found"
//  VM-PROGRESS hostname               -> OK json | OK "" (no such VM)
//                                        (a student's progress page: the
//                                        row's state and its PIN, for the
//                                        link's check; never logged)
#define LL_CMD_VM_PROGRESS    "VM-PROGRESS"
#define LL_CMD_ARCHIVES       "ARCHIVES"
#define LL_CMD_ARCHIVE_GET    "ARCHIVE-GET"
#define LL_CMD_ARCHIVE_DONE   "ARCHIVE-DONE"
#define LL_CMD_ARCHIVE_DELETE "ARCHIVE-DELETE"

//  --- running a class (scheduler): scheduled teardown, idle, budget,
//  automatic recovery, the dashboard's figures ------------------------------
#define LL_ENDPOINT_SCHEDULER "inproc://scheduler"
//  SCHEDULE-ADD name epoch rule who notify(1|0) hours export(1|0)
//                          -> OK id | ERROR "duplicate" | ERROR reason
//                             (the route checked the time and the rule;
//                             rule "" = once)
//  SCHEDULE-LIST status    -> OK json  (array; status "" = all)
//  SCHEDULE-GET id         -> OK json  (object) | ERROR "not found"
//  SCHEDULE-CANCEL id      -> OK | ERROR "not found" | ERROR "status <s>"
//  DASHBOARD               -> OK json  (counts by state, the running
//                             operation, the next teardown, cost estimate,
//                             budget, rows needing attention, the latest
//                             automatic actions)
//  CLASS-END               -> OK epoch | OK "" (no teardown scheduled)
#define LL_CMD_SCHEDULE_ADD    "SCHEDULE-ADD"
#define LL_CMD_SCHEDULE_LIST   "SCHEDULE-LIST"
#define LL_CMD_SCHEDULE_GET    "SCHEDULE-GET"
#define LL_CMD_SCHEDULE_CANCEL "SCHEDULE-CANCEL"
#define LL_CMD_DASHBOARD       "DASHBOARD"
#define LL_CMD_CLASS_END       "CLASS-END"

//  --- the codec (runtime/protocol.c) ---------------------------------------
//  Each exchange's frames are a picture, one character per frame:
//    s  a string: sent from const char * (NULL sends ""), received into
//       char ** (a new string)
//    b  bytes: sent from const void *, size_t; received into zframe_t **
//    m  every frame left: sent from zmsg_t ** (taken; NULL sends none),
//       received into zmsg_t ** (a new message, maybe empty)
//    ?  the frames after it are optional: sent while their strings are not
//       NULL, received as NULL when absent
//  A NULL pointer given to receive into drops that frame. A message whose
//  frames do not fit the picture (one missing, one too many) is refused.

//  How long callers wait, by the kind of work the actor does
#define LL_CALL_QUICK_MS  3000   //  one indexed statement
#define LL_CALL_ADMIN_MS  5000   //  the admin pages' reads and writes
#define LL_CALL_ACTOR_MS  10000  //  coalesced writes, claims, operations
#define LL_CALL_INGEST_MS 30000  //  a group commit of up to 100,000 lines

//  Every exchange: its command, the actor serving it, the pictures of the
//  request's argument frames and of the OK reply's payload (NULL: an event,
//  published without reply) and how long a caller waits (0: the caller
//  says). The busiest first: ll_exchange scans. A new command gets its row
//  here, next to its grammar above, and a typed ll_ask_ function in
//  runtime/ask.h.
// clang-format off
#define LL_EXCHANGES(X)                                                                     \
    X (LL_CMD_VM_HEARTBEAT,    LL_ENDPOINT_REGISTRY,  "ssss?s",  "",     LL_CALL_ACTOR_MS)  \
    X (LL_CMD_VM_STATUS_SET,   LL_ENDPOINT_REGISTRY,  "ss",      "",     LL_CALL_ACTOR_MS)  \
    X (LL_CMD_VM_TOUCH,        LL_ENDPOINT_REGISTRY,  "s",       "",     LL_CALL_ACTOR_MS)  \
    X (LL_CMD_LOG_APPEND,      LL_ENDPOINT_LOGS,      "ssssb",   "s",    LL_CALL_INGEST_MS) \
    X (LL_CMD_VM_AUTH,         LL_ENDPOINT_REGISTRY,  "ss",      "s",    LL_CALL_ADMIN_MS)  \
    X (LL_CMD_VM_GPU_SET,      LL_ENDPOINT_REGISTRY,  "ss",      "",     LL_CALL_ACTOR_MS)  \
    X (LL_CMD_VM_INUSE_SET,    LL_ENDPOINT_REGISTRY,  "ss",      "",     LL_CALL_ACTOR_MS)  \
    X (LL_CMD_VM_CLAIM,        LL_ENDPOINT_ASSIGNER,  "sssss",   "s?sss", LL_CALL_ACTOR_MS) \
    X (LL_CMD_VM_COUNT,        LL_ENDPOINT_ASSIGNER,  "",        "s",    LL_CALL_QUICK_MS)  \
    X (LL_CMD_VM_WAIT,         LL_ENDPOINT_WAITERS,   "ssss",    "s?ss", 0)                 \
    X (LL_CMD_VM_UNWAIT,       LL_ENDPOINT_WAITERS,   "s",       "",     LL_CALL_QUICK_MS)  \
    X (LL_CMD_VM_RESULT,       LL_ENDPOINT_ASSIGNER,  "ssss",    "",     LL_CALL_QUICK_MS)  \
    X (LL_CMD_VM_SEEN,         LL_ENDPOINT_REGISTRY,  "m",       "",     LL_CALL_QUICK_MS)  \
    X (LL_CMD_VM_POLLED,       LL_ENDPOINT_REGISTRY,  "m",       "",     LL_CALL_QUICK_MS)  \
    X (LL_CMD_VM_RELEASE,      LL_ENDPOINT_ASSIGNER,  "ss?s",    "s",    LL_CALL_QUICK_MS)  \
    X (LL_CMD_VM_RESET_DONE,   LL_ENDPOINT_ASSIGNER,  "sssss",   "",     LL_CALL_QUICK_MS)  \
    X (LL_CMD_CLAIM_RESET,     LL_ENDPOINT_ASSIGNER,  "ss",      "sm",   LL_CALL_ACTOR_MS)  \
    X (LL_CMD_CLAIM_WHO,       LL_ENDPOINT_ASSIGNER,  "ss",      "sm",   LL_CALL_QUICK_MS)  \
    X (LL_CMD_LOG_READ,        LL_ENDPOINT_LOGS,      "sss",     "sb",   LL_CALL_INGEST_MS) \
    X (LL_CMD_SESSION_CHECK,   LL_ENDPOINT_ADMIN,     "sss",     "s",    LL_CALL_QUICK_MS)  \
    X (LL_CMD_AUDIT,           LL_ENDPOINT_ADMIN,     "sssss",   "",     LL_CALL_QUICK_MS)  \
    X (LL_CMD_SECRET,          LL_ENDPOINT_REGISTRY,  "",        "s",    LL_CALL_QUICK_MS)  \
    X (LL_CMD_HEALTH,          LL_ENDPOINT_REGISTRY,  "",        "",     2000)              \
    X (LL_CMD_VM_METRICS_SET,  LL_ENDPOINT_REGISTRY,  "sssssss", "s",    LL_CALL_ACTOR_MS)  \
    X (LL_CMD_VM_STATUS_GET,   LL_ENDPOINT_REGISTRY,  "s",       "ss",   LL_CALL_ACTOR_MS)  \
    X (LL_CMD_VM_STATUS_ALL,   LL_ENDPOINT_REGISTRY,  "",        "m",    LL_CALL_ACTOR_MS)  \
    X (LL_CMD_VM_EXPORT,       LL_ENDPOINT_REGISTRY,  "",        "s",    LL_CALL_ACTOR_MS)  \
    X (LL_CMD_VM_FLEET,        LL_ENDPOINT_REGISTRY,  "",        "sm",   2000)              \
    X (LL_CMD_VM_REGISTER,     LL_ENDPOINT_REGISTRY,  "sss",     "ss",   LL_CALL_ACTOR_MS)  \
    X (LL_CMD_LAUNCH,          LL_ENDPOINT_TERRAFORM, "ss",      "s",    LL_CALL_ACTOR_MS)  \
    X (LL_CMD_DESTROY,         LL_ENDPOINT_TERRAFORM, "s",       "s",    LL_CALL_ACTOR_MS)  \
    X (LL_CMD_DESTROY_VM,      LL_ENDPOINT_TERRAFORM, "ssm",     "s",    LL_CALL_ACTOR_MS)  \
    X (LL_CMD_REPLACE_VM,      LL_ENDPOINT_TERRAFORM, "ssm",     "s",    LL_CALL_ACTOR_MS)  \
    X (LL_CMD_REBOOT_VM,       LL_ENDPOINT_TERRAFORM, "ssm",     "s",    LL_CALL_ACTOR_MS)  \
    X (LL_CMD_MOVE_VM,         LL_ENDPOINT_TERRAFORM, "ss",      "s",    LL_CALL_ACTOR_MS)  \
    X (LL_CMD_EXPORT_DESTROY,  LL_ENDPOINT_TERRAFORM, "s",       "s",    LL_CALL_ACTOR_MS)  \
    X (LL_CMD_OP_GET,          LL_ENDPOINT_TERRAFORM, "ss",      "m",    LL_CALL_ACTOR_MS)  \
    X (LL_CMD_OP_LIST,         LL_ENDPOINT_TERRAFORM, "s",       "m",    LL_CALL_ACTOR_MS)  \
    X (LL_CMD_EXPORT_START,    LL_ENDPOINT_EXPORTER,  "?sm",     "ss",   LL_CALL_ACTOR_MS)  \
    X (LL_CMD_EXPORT_READ,     LL_ENDPOINT_EXPORTER,  "s",       "sm",   15000)             \
    X (LL_CMD_EXPORT_CANCEL,   LL_ENDPOINT_EXPORTER,  "s",       "",     2000)              \
    X (LL_CMD_EXPORT_STATUS,   LL_ENDPOINT_EXPORTER,  "",        "m",    LL_CALL_QUICK_MS)  \
    X (LL_CMD_SESSION_NEW,     LL_ENDPOINT_ADMIN,     "sss",     "",     LL_CALL_ADMIN_MS)  \
    X (LL_CMD_SESSION_END,     LL_ENDPOINT_ADMIN,     "s",       "",     LL_CALL_ADMIN_MS)  \
    X (LL_CMD_LOGIN_CHECK,     LL_ENDPOINT_ADMIN,     "ss",      "ss",   LL_CALL_QUICK_MS)  \
    X (LL_CMD_LOGIN_FAILED,    LL_ENDPOINT_ADMIN,     "s",       "",     LL_CALL_QUICK_MS)  \
    X (LL_CMD_LOGIN_OK,        LL_ENDPOINT_ADMIN,     "s",       "",     LL_CALL_QUICK_MS)  \
    X (LL_CMD_AUDIT_LIST,      LL_ENDPOINT_ADMIN,     "ss",      "s",    LL_CALL_ADMIN_MS)  \
    X (LL_CMD_ADMIN_VMS,       LL_ENDPOINT_ADMIN,     "?s",      "s",    LL_CALL_ADMIN_MS)  \
    X (LL_CMD_VM_PROGRESS,     LL_ENDPOINT_ADMIN,     "s",       "s",    LL_CALL_QUICK_MS)  \
    X (LL_CMD_ARCHIVES,        LL_ENDPOINT_ADMIN,     "",        "s",    LL_CALL_ADMIN_MS)  \
    X (LL_CMD_ARCHIVE_GET,     LL_ENDPOINT_ADMIN,     "s",       "s",    LL_CALL_QUICK_MS)  \
    X (LL_CMD_ARCHIVE_DONE,    LL_ENDPOINT_ADMIN,     "s",       "",     LL_CALL_QUICK_MS)  \
    X (LL_CMD_ARCHIVE_DELETE,  LL_ENDPOINT_ADMIN,     "s",       "s",    LL_CALL_QUICK_MS)  \
    X (LL_CMD_DASHBOARD,       LL_ENDPOINT_SCHEDULER, "",        "s",    LL_CALL_QUICK_MS)  \
    X (LL_CMD_CLASS_END,       LL_ENDPOINT_SCHEDULER, "",        "s",    2000)              \
    X (LL_CMD_SCHEDULE_ADD,    LL_ENDPOINT_SCHEDULER, "sssssss", "s",    LL_CALL_ADMIN_MS)  \
    X (LL_CMD_SCHEDULE_LIST,   LL_ENDPOINT_SCHEDULER, "s",       "s",    LL_CALL_ADMIN_MS)  \
    X (LL_CMD_SCHEDULE_GET,    LL_ENDPOINT_SCHEDULER, "s",       "s",    LL_CALL_ADMIN_MS)  \
    X (LL_CMD_SCHEDULE_CANCEL, LL_ENDPOINT_SCHEDULER, "s",       "",     LL_CALL_ADMIN_MS)  \
    X (LL_CMD_ADMIN_VM_EXISTS, LL_ENDPOINT_ADMIN,     "s",       "s",    LL_CALL_ADMIN_MS)  \
    X (LL_EVT_VM_ASSIGNED,     LL_ENDPOINT_EVENTS,    "s?sss",   NULL,   0)                 \
    X (LL_EVT_VM_REVOKED,      LL_ENDPOINT_EVENTS,    "ss",      NULL,   0)                 \
    X (LL_EVT_RESYNC,          LL_ENDPOINT_EVENTS,    "",        NULL,   0)
// clang-format on

//  One exchange (a row of LL_EXCHANGES).
typedef struct {
    const char *command;   //  frame 0
    const char *endpoint;  //  the actor serving it
    const char *request;   //  the request's argument frames
    const char *reply;     //  the OK reply's payload; NULL: an event (PUB)
    int timeout_ms;        //  how long a caller waits (0: the caller says)
} ll_exchange_t;

//  The exchange of command, or NULL when no actor serves it.
const ll_exchange_t *ll_exchange (const char *command);

//  How a client reaches the actors: one call as ll_call makes it (sends
//  command and args to endpoint, waits up to timeout_ms; 0 with *reply, or
//  -1 with *error). The HTTP edge passes its worker's sockets (the req's
//  client, http/server.h); ll_client_dealer wraps one DEALER.
typedef struct ll_client ll_client_t;
struct ll_client {
    int (*call) (ll_client_t *self,
                 const char *endpoint,
                 const char *command,
                 zmsg_t **args,
                 int timeout_ms,
                 zmsg_t **reply,
                 char **error);
    void *handle;  //  what call uses: a DEALER, an HTTP request
};

//  A client over one DEALER (connected to the endpoint of what it asks).
ll_client_t ll_client_dealer (zsock_t *dealer);

//  Frames per picture: add the values that follow to msg / take the
//  frames of msg into the pointers that follow. 0, or -1 (nothing taken)
//  when the frames do not fit.
int ll_msg_put (zmsg_t *msg, const char *picture, ...);
int ll_msg_take (zmsg_t *msg, const char *picture, ...);

//  One row of a list (VM-STATUS-ALL, OP-LIST...): the first frames of msg
//  per picture into the pointers that follow, more rows may follow. 0, or
//  -1 (nothing taken) when fewer frames are left.
int ll_msg_row (zmsg_t *msg, const char *picture, ...);

//  The request of command (its argument frames from the values that
//  follow): a new message, NULL when command is unknown.
zmsg_t *ll_proto_args (const char *command, ...);

//  The frames of command's request (or event) in msg into the pointers
//  that follow: 0, or -1 when they do not fit.
int ll_proto_decode (const char *command, zmsg_t *msg, ...);

//  An OK reply's payload of command (taken, destroyed) into the pointers
//  that follow: 0, or -1 when it does not fit.
int ll_proto_payload (const char *command, zmsg_t **payload, ...);

//  Send a request on a DEALER without waiting (the reply comes later with
//  request_id): [command] [request_id] [argument frames from the values].
int ll_proto_send (zsock_t *dealer,
                   const char *command,
                   const char *request_id,
                   ...);

//  A reply to such a request, as ll_answer_recv reads it.
typedef struct {
    char *command;    //  the request's command (NULL: not a reply)
    char *id;         //  its request id (NULL: not a reply)
    zmsg_t *payload;  //  the OK payload: read it with ll_proto_payload
    char *error;      //  or the reason of an ERROR, or "malformed reply"
} ll_answer_t;

//  Read the next reply on dealer into self: 0 with payload, or -1 with
//  error. Free it with ll_answer_free, whatever the result.
int ll_answer_recv (ll_answer_t *self, zsock_t *dealer);

//  Free an answer's fields (the struct itself is the caller's).
void ll_answer_free (ll_answer_t *self);

//  Publish an event (an exchange without reply) on a PUB socket.
int ll_proto_publish (zsock_t *pub, const char *command, ...);

//  Ask: the request from the values that follow, sent through client,
//  then the OK payload into the pointers that follow them. 0, or -1 with
//  *error (a new string: the actor's reason, LL_REASON_TIMEOUT, "malformed
//  reply").
int ll_proto_ask (ll_client_t *client, char **error, const char *command, ...);

//  Actor side. The request's argument frames into the pointers that
//  follow (per its command's picture): 0, or -1 when they do not fit (the
//  request was logged with the actor's name and answered ERROR
//  LL_REASON_MALFORMED).
int ll_request_take (ll_request_t *self, ...);

//  Answer OK with the payload of the values that follow (per the reply
//  picture of its command).
int ll_request_answer (ll_request_t *self, ...);

//  Answer ERROR reason.
int ll_request_fail (ll_request_t *self, const char *reason);

#include "runtime/ask.h"

#endif
