-- The scheduler actor (actors/scheduler.c): scheduled teardown, idle
-- release and fleet stop, the budget guard, automatic recovery, and the
-- figures of the dashboard and of /metrics.

-- One allocator runs the automatic actions at a time: the scheduler's
-- session holds this lock; when that allocator goes, another takes it.
-- name: sched_lead_try
SELECT pg_try_advisory_lock(7661006402);

-- $1 name, $2 time, $3 rule ('' = none), $4 who, $5 notify, $6 hours,
-- $7 export first. NULL row: the name is taken.
-- name: sched_add
INSERT INTO scheduled_destructions (schedule_name, destruction_time,
    recurrence_rule, created_by, notification_enabled,
    notification_hours_before, export_before_destroy, first_time)
VALUES ($1, to_timestamp($2::double precision), nullif($3, ''), $4,
        $5::boolean, $6::integer, $7::boolean,
        to_timestamp($2::double precision))
ON CONFLICT (schedule_name) DO NOTHING
RETURNING id;

-- schedule.destroy_at from the config ($1 epoch, $2 export first): kept
-- under one name; a new time replaces the old (unless it runs now); a time
-- already past is never inserted (a restart after the class destroys
-- nothing).
-- name: sched_config
INSERT INTO scheduled_destructions (schedule_name, destruction_time,
    created_by, export_before_destroy, first_time)
SELECT 'config: schedule.destroy_at', to_timestamp($1::double precision),
       'config', $2::boolean, to_timestamp($1::double precision)
WHERE to_timestamp($1::double precision) > now()
ON CONFLICT (schedule_name) DO UPDATE
SET destruction_time = EXCLUDED.destruction_time,
    first_time = EXCLUDED.first_time,
    export_before_destroy = EXCLUDED.export_before_destroy,
    status = 'scheduled', updated_at = now()
WHERE scheduled_destructions.destruction_time
          <> EXCLUDED.destruction_time
  AND scheduled_destructions.status <> 'executing'
RETURNING id;

-- Schedules as one JSON array ($1 id, 0 = every one; $2 status, '' = any),
-- soonest first; times in ISO 8601 UTC.
-- name: sched_json
SELECT coalesce(json_agg(s ORDER BY s.at, s.id), '[]')::text FROM (
    SELECT id, schedule_name,
           to_char(destruction_time AT TIME ZONE 'UTC',
                   'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS destruction_time,
           recurrence_rule, created_by, status, execution_count,
           to_char(last_execution_time AT TIME ZONE 'UTC',
                   'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS last_execution_time,
           last_execution_result, notification_enabled,
           notification_hours_before, export_before_destroy, operation_id,
           to_char(created_at AT TIME ZONE 'UTC',
                   'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS created_at,
           to_char(updated_at AT TIME ZONE 'UTC',
                   'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS updated_at,
           destruction_time AS at
    FROM scheduled_destructions
    WHERE ($1::integer = 0 OR id = $1::integer)
      AND ($2 = '' OR status = $2)
) s;

-- name: sched_status
SELECT status FROM scheduled_destructions WHERE id = $1::integer;

-- name: sched_cancel
UPDATE scheduled_destructions SET status = 'cancelled', updated_at = now()
WHERE id = $1::integer AND status NOT IN ('cancelled', 'completed')
RETURNING id;

-- The next schedule due, or one taken earlier whose operation could not
-- start yet (another was running): marked executing. SKIP LOCKED beside
-- the leader lock: two allocators never take the same schedule.
-- name: sched_claim_due
UPDATE scheduled_destructions SET status = 'executing', updated_at = now()
WHERE id = (SELECT id FROM scheduled_destructions
            WHERE (status = 'scheduled' AND destruction_time <= now())
               OR (status = 'executing' AND operation_id IS NULL)
            ORDER BY destruction_time, id
            LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING id, schedule_name, export_before_destroy;

-- name: sched_started
UPDATE scheduled_destructions SET operation_id = $2::bigint, updated_at = now()
WHERE id = $1::integer AND status = 'executing';

-- Executing schedules whose operation has ended, with its outcome.
-- name: sched_ended
SELECT s.id, s.schedule_name, o.status, coalesce(o.error, ''),
       coalesce(s.recurrence_rule, ''),
       extract(epoch FROM s.first_time)::bigint, o.id
FROM scheduled_destructions s JOIN operations o ON o.id = s.operation_id
WHERE s.status = 'executing' AND o.status IN ('succeeded', 'failed');

-- $1 id, $2 completed|failed|scheduled (a recurrence), $3 result, $4 the
-- next time (epoch) or ''.
-- name: sched_finish
UPDATE scheduled_destructions
SET status = $2, last_execution_time = now(), last_execution_result = $3,
    execution_count = execution_count + 1, operation_id = NULL,
    destruction_time = coalesce(to_timestamp(nullif($4, '')::double precision),
                                destruction_time),
    updated_at = now()
WHERE id = $1::integer AND status = 'executing';

-- The class's end: the next teardown scheduled (or the one running).
-- name: sched_next
SELECT id, schedule_name, extract(epoch FROM destruction_time)::bigint,
       status
FROM scheduled_destructions WHERE status IN ('scheduled', 'executing')
ORDER BY destruction_time, id LIMIT 1;

-- Assigned VMs not in use for $1 seconds (idle.release_after_s). The
-- release rechecks the same predicate on the row (vm_release's $5): keep
-- the two alike.
-- name: idle_release_candidates
SELECT hostname FROM vms
WHERE user_email IS NOT NULL AND NOT in_use
  AND greatest(assigned_at, in_use_changed_at)
      < now() - make_interval(secs => $1::integer)
ORDER BY hostname LIMIT 100;

-- A fleet nobody used for $1 seconds (idle.stop_fleet_after_s): its size
-- when nobody holds a VM or uses one, and nothing was launched, claimed,
-- released or used within the time; else 0.
-- name: idle_fleet
SELECT count(*) FROM fleet
WHERE NOT EXISTS (SELECT 1 FROM vms WHERE user_email IS NOT NULL OR in_use)
  AND (SELECT max(added_at) FROM fleet)
      < now() - make_interval(secs => $1::integer)
  AND coalesce((SELECT max(greatest(assigned_at, in_use_changed_at))
                FROM vms), '-infinity')
      < now() - make_interval(secs => $1::integer)
  AND coalesce((SELECT max(at) FROM audit_log
                WHERE action IN ('claim', 'release')), '-infinity')
      < now() - make_interval(secs => $1::integer);

-- The current fleet's VM-hours so far (from when each was asked for) and
-- its size now.
-- name: budget_usage
SELECT coalesce(sum(extract(epoch FROM now() - f.added_at)), 0) / 3600.0,
       count(*)
FROM fleet f;

-- Fleet VMs silent or Unhealthy for $1 seconds ($2 = agent.stale_after_s),
-- not (re)made within the last $1 seconds (recovery.replace_after_s).
-- name: recovery_replace_candidates
SELECT f.hostname FROM fleet f JOIN vms v USING (hostname)
WHERE f.state = 'active' AND coalesce(v.status, '') <> 'rebooting'
  AND coalesce(v.terraform_end_time, f.added_at)
      < now() - make_interval(secs => $1::integer)
  AND (coalesce(v.last_seen_at, v.created_at)
           < now() - make_interval(secs => $2::integer + $1::integer)
       OR v.unhealthy_since < now() - make_interval(secs => $1::integer))
ORDER BY f.hostname LIMIT 100;

-- Assigned, delivered VMs whose CRD host never came up $1 seconds after
-- delivery (recovery.reboot_unconnected_after_s), rebooted fewer than $2
-- times, not within the last $1 seconds.
-- name: recovery_reboot_candidates
SELECT f.hostname FROM fleet f JOIN vms v USING (hostname)
WHERE f.state = 'active' AND v.status = 'running'
  AND v.delivered_at < now() - make_interval(secs => $1::integer)
  AND v.crd_active IS NOT TRUE AND v.reboot_count < $2::integer
  AND (v.last_reboot_time IS NULL
       OR v.last_reboot_time < now() - make_interval(secs => $1::integer))
ORDER BY f.hostname LIMIT 100;

-- --- the dashboard ----------------------------------------------------------

-- name: dash_counts
SELECT ll_vm_state(vms, $1::integer), count(*) FROM vms GROUP BY 1;

-- Rows that need a look ($1 stale seconds), at most 20.
-- name: dash_attention
SELECT hostname, ll_vm_state(vms, $1::integer),
       coalesce(start_host_error, ''), coalesce(attention, ''),
       coalesce(disk_free_pct::text, ''), coalesce(start_host_ok::text, '')
FROM vms
WHERE ll_vm_state(vms, $1::integer) IN ('error', 'stale', 'unhealthy')
   OR start_host_ok = false OR attention IS NOT NULL OR disk_free_pct < 10
ORDER BY hostname LIMIT 20;

-- name: dash_operation
SELECT id, kind, status, done, total, coalesce(target, '')
FROM operations WHERE status IN ('queued', 'running') ORDER BY id LIMIT 1;

-- The latest automatic actions.
-- name: dash_auto
SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), action,
       coalesce(target, ''), outcome, coalesce(detail, '')
FROM audit_log WHERE actor = 'auto' ORDER BY id DESC LIMIT 10;

-- schedule.destroy_at was removed from the config: its schedule goes too.
-- name: sched_config_clear
UPDATE scheduled_destructions SET status = 'cancelled', updated_at = now()
WHERE schedule_name = 'config: schedule.destroy_at' AND status = 'scheduled'
RETURNING id;
