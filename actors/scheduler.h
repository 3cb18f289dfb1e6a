/*  scheduler: the rules that run a class without the admin watching.
    Scheduled teardown (upstream's scheduled destruction: at the time, the
    fleet is destroyed, or exported to the allocator's disk first; a
    recurrence moves the time on), schedule.destroy_at from the config,
    idle.release_after_s / idle.stop_fleet_after_s, the budget's
    destroy_at_limit, and recovery.replace_after_s /
    recovery.reboot_unconnected_after_s. Each action it takes is an
    operation of the terraform actor (or a release through the assigner)
    and an audit row of actor 'auto'. It also computes the dashboard's
    figures.

    Single flight: the schedules live in PostgreSQL; one allocator at a time
    acts (the session advisory lock 7661006402 of this actor's connection;
    when that allocator stops, another takes over within a tick), and a due
    schedule is taken with FOR UPDATE SKIP LOCKED. A schedule survives a
    restart: one taken but not started is started again; one whose
    operation ended is recorded from the operations row.

    Owns: one PostgreSQL connection; DEALER sockets to the terraform and
    assigner actors.
    Serves: ROUTER LL_ENDPOINT_SCHEDULER (runtime/protocol.h): SCHEDULE-ADD,
      SCHEDULE-LIST, SCHEDULE-GET, SCHEDULE-CANCEL, DASHBOARD, CLASS-END.
    Pipe: START -> OK (the database may be down: requests then answer
          ERROR), $TERM, VERBOSE (runtime/actor.h). */
#ifndef LL_ACTOR_SCHEDULER_H
#define LL_ACTOR_SCHEDULER_H

#include <czmq.h>

void scheduler_actor (zsock_t *pipe, void *args);

#endif
