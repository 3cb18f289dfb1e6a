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
#define LL_ENDPOINT_ASSIGNER "inproc://assigner"
//  VM-CLAIM email code address
//      -> OK ASSIGNED hostname pin       a free VM (or the student's own,
//                                        running VM with the new code)
//       | OK RECOVERING hostname status  the student's VM reboots; the new
//                                        code is queued for it
//       | OK NONE                        no free VM
//       | OK CHANGED                     the VM was taken away meanwhile
//       | OK UNRECOVERABLE               the student's VM is in error
//       | OK LIMITED seconds             rate limit (email or address)
//       | ERROR reason                   database unavailable
//  VM-COUNT            -> OK count     free VMs (the claim's own predicate)
//  VM-RELEASE hostname actor -> OK | ERROR "not found" | ERROR reason
//  VM-RESULT hostname 1|0 error -> OK | ERROR "not found" | ERROR reason
//                         (the agent's start-host outcome; 1 sets
//                         delivered_at)
//  VM-SEEN hostname... -> OK               last_seen_at = now()
#define LL_CMD_VM_CLAIM        "VM-CLAIM"
#define LL_CMD_VM_COUNT        "VM-COUNT"
#define LL_CMD_VM_RELEASE      "VM-RELEASE"
#define LL_CMD_VM_RESULT       "VM-RESULT"
#define LL_CMD_VM_SEEN         "VM-SEEN"
#define LL_CLAIM_ASSIGNED      "ASSIGNED"
#define LL_CLAIM_RECOVERING    "RECOVERING"
#define LL_CLAIM_NONE          "NONE"
#define LL_CLAIM_CHANGED       "CHANGED"
#define LL_CLAIM_UNRECOVERABLE "UNRECOVERABLE"
#define LL_CLAIM_LIMITED       "LIMITED"

#define LL_ENDPOINT_EVENTS "inproc://events"
//  PUB (listener) -> SUB, no replies:
//  VM-ASSIGNED hostname [pin command]
//                         a NOTIFY said this VM has a new assignment (the
//                         trigger's payload: every statement that stores a
//                         command also clears delivered_at)
//  RESYNC                 LISTEN was (re)established: notifications may
//                         have been missed, re-read every parked VM's row
#define LL_EVT_VM_ASSIGNED "VM-ASSIGNED"
#define LL_EVT_RESYNC      "RESYNC"

#define LL_ENDPOINT_WAITERS "inproc://waiters"
//  VM-WAIT hostname timeout-ms kind(http|zmq)
//      -> OK ASSIGN pin command    at once when an undelivered assignment
//                                  is stored, else when it arrives
//       | OK TIMEOUT               timeout-ms passed (0 = never)
//       | OK FULL retry-seconds    too many parked HTTP waiters
//       | OK UNKNOWN               no such VM
//  VM-UNWAIT wait-request-id -> OK  forget the caller's parked VM-WAIT with
//                                  that request id (client went away); its
//                                  VM-WAIT is never answered
#define LL_CMD_VM_WAIT   "VM-WAIT"
#define LL_CMD_VM_UNWAIT "VM-UNWAIT"
#define LL_WAIT_ASSIGN   "ASSIGN"
#define LL_WAIT_TIMEOUT  "TIMEOUT"
#define LL_WAIT_FULL     "FULL"
#define LL_WAIT_UNKNOWN  "UNKNOWN"

//  gateway: agents over ZeroMQ (agent.zmq_endpoint, CURVE). Each message is
//  one frame of text "VERB arguments" (multi-frame messages are read as
//  their frames joined by spaces):
//    HELLO hostname token   -> HELLO-OK | ERROR reason    (must come first)
//    WAIT                   -> later ASSIGN pin command   (at once if pending)
//    RESULT hostname 1|0 error text                -> RESULT-OK | ERROR reason
//    POST path json         -> REPLY status json   (the agent HTTP routes)
//    PING                   -> PONG                (either side)

//  --- telemetry and logs (registry, ingest) -------------------------------

//  --- provision (terraform) -----------------------------------------------

//  --- export (exporter) ---------------------------------------------------

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
