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
