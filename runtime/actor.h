/*  The skeleton every actor follows: an actor is a self_t that holds one
    ll_actor_t (name, pipe, its ROUTER, its PostgreSQL connection) and a
    static ll_actor_class_t that says what differs (its endpoint, whether it
    uses the database, its handlers by command, its own START work, its
    tick). ll_actor_run does the rest:

        void
        registry_actor (zsock_t *pipe, void *args)
        {
            //  s_kind: self_t's size, its init and fini, the class
            ll_actor_main (pipe, args, &s_kind);  //  ll_actor_run inside
        }

    START binds the ROUTER at the class's endpoint, opens the database,
    runs the class's start, and answers OK or ERROR reason. When the
    database is down the actor starts anyway, with a warning, and
    reconnects with backoff on its tick. With the runtime's
    first_connects (the allocator) the connection comes only after
    START's answer, in the actor's thread (after main's migrations;
    requests wait in the ROUTER meanwhile; its first tick right after):
    the process serves without waiting for the connections, and health
    lists the actors still connecting (ll_actor_connecting).

    Then one loop polls the pipe, the ROUTER, the sockets added with
    ll_actor_reader and the class's fd, and ticks. Actors whose poll set
    changes with their work (terraform: a child's pipes; exporter: its
    fetch threads) keep their own loop and use ll_actor_open,
    ll_actor_handle_pipe and ll_actor_serve.

    Pipe: START -> OK | ERROR reason, $TERM (ends the loop), VERBOSE (every
          request is logged: command and request id, never arguments),
          $STOPPING (to the class's pipe function when it has one, never
          answered: the process stops, parked work ends now).
          Anything else goes to the class's pipe function, or is logged and
          answered ERROR LL_REASON_UNKNOWN.
    ROUTER: a command without handler is logged and answered ERROR
          LL_REASON_UNKNOWN; a malformed request (ll_request_take) ERROR
          LL_REASON_MALFORMED; a handler that neither answers nor keeps its
          request (ll_request_keep) gets it answered ERROR, logged. */
#ifndef LL_ACTOR_H
#define LL_ACTOR_H

#include "runtime/db.h"
#include "runtime/msg.h"
#include "runtime/protocol.h"
#include "runtime/supervisor.h"

#define LL_ACTOR_READERS 8  //  sockets an actor polls beside its ROUTER

//  A request's handler: answers it (ll_request_answer, ll_request_fail)
//  or keeps it to answer later (ll_request_keep).
typedef void (ll_handler_fn) (void *self, ll_request_t *req);

typedef struct {
    const char *command;  //  served command (runtime/protocol.h)
    ll_handler_fn *fn;    //  its handler
} ll_handler_t;

//  The actor's own START work: NULL when it may serve, else the reason.
typedef const char *(ll_start_fn) (void *self);

//  Another pipe command (the http actor's PORT): true when handled.
typedef bool (ll_pipe_fn) (void *self, const char *command, zmsg_t *msg);

//  Work on self: a tick, a readable socket or fd, a drain of the ROUTER.
typedef void (ll_work_fn) (void *self);

//  The fd an actor polls now (the listener's PostgreSQL socket), or -1.
typedef int (ll_fd_fn) (void *self);

typedef struct {
    const char *endpoint;          //  ROUTER bound at START, or NULL
    bool database;                 //  open a PostgreSQL connection at START
    const ll_handler_t *handlers;  //  by command, ended by {NULL, NULL}
    ll_start_fn *start;            //  the actor's own START work, or NULL
    int tick_ms;                   //  tick period (0: none)
    ll_work_fn *tick;              //  each tick once started, or NULL
    ll_work_fn *drain;     //  the ROUTER is readable: NULL serves one request,
                           //  drain loops serve all waiting, then flush
    ll_pipe_fn *pipe;      //  other pipe commands, or NULL
    ll_fd_fn *fd;          //  an fd to poll too, or NULL
    ll_work_fn *fd_ready;  //  that fd is readable
} ll_actor_class_t;

typedef struct {
    const char *name;       //  for logs: "registry"
    zsock_t *pipe;          //  to the supervisor
    ll_runtime_t *runtime;  //  config and stats (not owned)
    zsock_t *router;        //  where requests come from, or NULL
    ll_db_t *db;            //  its PostgreSQL connection, or NULL
    bool started;           //  START answered OK
    bool terminated;        //  $TERM received (or the pipe failed)
    bool verbose;           //  VERBOSE received: log every request
    bool connecting;        //  its first connection has not ended yet
    char error[128];        //  why START failed, when it says so here
    struct {
        zsock_t *sock;   //  polled (not owned)
        ll_work_fn *fn;  //  runs when it is readable
    } readers[LL_ACTOR_READERS];
    int reader_count;  //  readers in use
} ll_actor_t;

void ll_actor_init (ll_actor_t *self,
                    const char *name,
                    zsock_t *pipe,
                    ll_runtime_t *runtime);

//  Destroy what ll_actor_open made (the ROUTER, the database connection).
void ll_actor_fini (ll_actor_t *self);

//  START's common part: bind a ROUTER at endpoint (NULL: none), open the
//  database (when database; with first_connects only its handle:
//  ll_actor_handle_pipe connects once START is answered; a refused
//  connection is a warning: it retries on the tick). NULL, or the reason
//  START fails.
const char *
ll_actor_open (ll_actor_t *self, const char *endpoint, bool database);

typedef void (ll_actor_name_fn) (const char *name, void *arg);

//  The list of actors still making their first connection (main makes one
//  for ll_runtime_t.first_connects).
ll_first_connects_t *ll_first_connects_new (void);
void ll_first_connects_destroy (ll_first_connects_t **self_p);

//  fn (name, arg) for each actor in self (NULL: none) whose first
//  connection to PostgreSQL has not ended yet (health: "connecting").
void ll_actor_connecting (ll_first_connects_t *self,
                          ll_actor_name_fn *fn,
                          void *arg);

//  Poll sock too; fn (self) runs when it is readable. 0, or -1 when full.
int ll_actor_reader (ll_actor_t *self, zsock_t *sock, ll_work_fn *fn);

//  Signal the pipe, then run until $TERM (see above).
void ll_actor_run (ll_actor_t *self, const ll_actor_class_t *class, void *arg);

//  Read one message of the pipe and act on it (see above); other may be
//  NULL. START runs start once and answers; started is set on success;
//  then the database connects (ll_actor_open).
void ll_actor_handle_pipe (ll_actor_t *self,
                           ll_start_fn *start,
                           ll_pipe_fn *other,
                           void *arg);

//  Serve req (taken) with the handler of its command from handlers (ended
//  by {NULL, NULL}).
void ll_actor_dispatch (ll_actor_t *self,
                        const ll_handler_t *handlers,
                        void *arg,
                        ll_request_t *req);

//  Receive one request from the ROUTER (waiting when nothing is there, or
//  not when nowait) and dispatch it. False when none was there.
bool ll_actor_serve (ll_actor_t *self,
                     const ll_handler_t *handlers,
                     void *arg,
                     bool nowait);

//  An actor whole: what ll_actor_main makes, runs and frees. Each actor's
//  entry point is then ll_actor_main (pipe, args, &s_kind).
typedef struct {
    const char *name;  //  for logs: "registry"
    size_t size;       //  sizeof (self_t), whose first member is ll_actor_t
    ll_work_fn *init;  //  after ll_actor_init on the zeroed self, or NULL
    ll_work_fn *fini;  //  before ll_actor_fini, or NULL
    ll_work_fn *loop;  //  its own loop (terraform, exporter), or NULL:
                       //  ll_actor_run serves class
    ll_actor_class_t class;  //  what ll_actor_run serves
} ll_actor_kind_t;

//  Make self (kind->size bytes, zeroed, ll_actor_init with runtime args),
//  run kind's init, its loop or ll_actor_run until $TERM, its fini, then
//  ll_actor_fini and free self.
void ll_actor_main (zsock_t *pipe, void *args, const ll_actor_kind_t *kind);

//  Why the actor's last query failed: the database's message, or
//  LL_REASON_DATABASE when it gave none.
const char *ll_actor_db_reason (ll_actor_t *self);

//  Answer req with the first column of res's one row, or fail it with
//  ll_actor_db_reason when res is NULL or has not exactly one row. Clears
//  res.
void ll_actor_answer_value (ll_actor_t *self, ll_request_t *req, PGresult *res);

//  The agent.stale_after_s setting as text in stale (the queries' "seconds
//  without a heartbeat before a VM is stale"). Returns stale.
const char *ll_actor_stale (ll_actor_t *self, char stale[16]);

#define LL_ACTOR_POLL_MAX 256  //  items an own loop polls beside its own two

//  One turn of an own loop (terraform, exporter): poll the pipe, the
//  ROUTER once bound and the count items of extra (their revents are set)
//  for at most timeout_ms, then serve the pipe (START runs start) and one
//  request of the ROUTER (handlers, with arg). The poll's result; -1 when
//  interrupted (nothing served, extra's revents cleared). When polling
//  fails otherwise (the context ends) terminated is set, as by $TERM.
int ll_actor_poll (ll_actor_t *self,
                   zmq_pollitem_t *extra,
                   int count,
                   long timeout_ms,
                   ll_start_fn *start,
                   const ll_handler_t *handlers,
                   void *arg);

//  Read one event of sub, a SUB to LL_ENDPOINT_EVENTS, for the actors
//  that follow revoked tokens: LL_EVT_VM_REVOKED with *host and *gen (new
//  strings), LL_EVT_RESYNC (every token may have changed: *host NULL), or
//  NULL for anything else or a malformed event.
const char *ll_actor_event (zsock_t *sub, char **host, char **gen);

//  Whether res, the result of req's query, has rows. When not, req is
//  failed: with failed when res is NULL (NULL: ll_actor_db_reason), else
//  with missing. res stays the caller's to clear.
bool ll_actor_rows (ll_actor_t *self,
                    ll_request_t *req,
                    PGresult *res,
                    const char *failed,
                    const char *missing);

#endif
