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

#endif
