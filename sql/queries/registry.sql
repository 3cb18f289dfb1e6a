-- The registry actor: VM telemetry writes (batched: one statement per kind
-- per flush, arrays of values unnested) and reads.

-- name: vm_status_update
-- $1 hostnames, $2 statuses. Never creates a row: only a launch or the
-- admin's registration does (a status post for an unknown VM is 404).
-- Returns the VMs found.
UPDATE vms AS v SET status = t.status, last_seen_at = now()
FROM unnest($1::text[], $2::text[]) AS t(hostname, status)
WHERE v.hostname = t.hostname
RETURNING v.hostname;

-- name: vm_auth
-- Agent tokens to check: $1 hostnames, $2 token hashes, one pair per
-- request. Per pair, in order: the VM's generation when the hash is its
-- current token's (else NULL), whether the VM has a row, whether the hash
-- is of a revoked token.
SELECT CASE WHEN v.token_hash = t.hash THEN v.token_generation END,
       v.hostname IS NOT NULL,
       EXISTS (SELECT 1 FROM vm_tokens_revoked r WHERE r.token_hash = t.hash)
FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS t(hostname, hash, n)
LEFT JOIN vms v ON v.hostname = t.hostname
ORDER BY t.n;

-- name: telemetry_commit_async
-- The registry's session while it writes only heartbeats and touches: soft
-- state the agents re-send, so the commit does not wait for the WAL flush
-- (a crash can lose the last fraction of a second of them, nothing else).
SET synchronous_commit = off;

-- name: telemetry_commit_sync
-- Back to the default before any other write.
SET synchronous_commit = on;

-- name: vm_telemetry_update
-- One row per VM: $1 hostname, $2 gpu_health (NULL = unchanged), $3 in_use
-- (NULL = unchanged), $4 heartbeat given, $5 boot_id, $6 crd_active,
-- $7 disk_free_pct (the last three written only with a heartbeat), $8 the
-- heartbeat says its client waits for an assignment (pg transport: sets
-- last_polled_at). Every row touches last_seen_at. A heartbeat whose
-- crd_active turned true while an assignment waits for its acknowledgement
-- delivers it (clients that never report start-host's result: upstream's).
-- Returns the VMs found, with the values the heartbeat replaced (for
-- warnings) and the claim-to-delivery seconds when it delivered.
UPDATE vms AS v SET
    gpu_health    = coalesce(i.gpu_health, v.gpu_health),
    unhealthy_since = CASE
        WHEN i.gpu_health IS NULL THEN v.unhealthy_since
        WHEN i.gpu_health <> 'Unhealthy' THEN NULL
        ELSE coalesce(v.unhealthy_since, now()) END,
    in_use        = coalesce(i.in_use, v.in_use),
    in_use_changed_at = CASE WHEN i.in_use IS DISTINCT FROM v.in_use
                              AND i.in_use IS NOT NULL
                             THEN now() ELSE v.in_use_changed_at END,
    boot_id       = CASE WHEN i.hb THEN i.boot_id ELSE v.boot_id END,
    crd_active    = CASE WHEN i.hb THEN i.crd_active ELSE v.crd_active END,
    disk_free_pct = CASE WHEN i.hb THEN i.disk_free_pct
                         ELSE v.disk_free_pct END,
    delivered_at  = CASE WHEN i.hb AND i.crd_active
                               AND NOT coalesce(i.prev_crd_active, false)
                               AND v.crd_command IS NOT NULL
                               AND v.delivered_at IS NULL
                         THEN now() ELSE v.delivered_at END,
    last_polled_at = CASE WHEN i.waiting THEN now()
                          ELSE v.last_polled_at END,
    last_seen_at  = now()
FROM (
    SELECT t.*, o.boot_id AS prev_boot_id, o.crd_active AS prev_crd_active,
           o.delivered_at AS prev_delivered_at
    FROM unnest($1::text[], $2::text[], $3::boolean[], $4::boolean[],
                $5::text[], $6::boolean[], $7::smallint[], $8::boolean[])
        AS t(hostname, gpu_health, in_use, hb, boot_id, crd_active,
             disk_free_pct, waiting)
    JOIN vms o ON o.hostname = t.hostname
) AS i
WHERE v.hostname = i.hostname
RETURNING v.hostname, i.hb, coalesce(i.prev_boot_id, ''),
          coalesce(v.boot_id, ''), coalesce(i.prev_crd_active::text, ''),
          coalesce(v.crd_active::text, ''),
          coalesce(v.disk_free_pct::text, ''),
          CASE WHEN i.prev_delivered_at IS NULL AND v.delivered_at = now()
               THEN extract(epoch FROM now() - v.assigned_at)::text
               ELSE '' END;

-- name: vm_metrics_update
-- $1 hostname; epoch seconds $2 cloud-init start, $3 end, $4 duration,
-- $5 container start, $6 end, $7 duration (NULL = not given). A duration
-- not given is computed from start and end when both are known.
UPDATE vms AS v SET
    cloud_init_start_time = n.ci_start,
    cloud_init_end_time = n.ci_end,
    cloud_init_duration_seconds = coalesce($4::float8,
        CASE WHEN n.ci_end >= n.ci_start
             THEN extract(epoch FROM n.ci_end - n.ci_start)::float8 END,
        v.cloud_init_duration_seconds),
    container_start_time = n.c_start,
    container_end_time = n.c_end,
    container_duration_seconds = coalesce($7::float8,
        CASE WHEN n.c_end >= n.c_start
             THEN extract(epoch FROM n.c_end - n.c_start)::float8 END,
        v.container_duration_seconds),
    last_seen_at = now()
FROM (
    SELECT coalesce(to_timestamp($2::float8), cloud_init_start_time) AS ci_start,
           coalesce(to_timestamp($3::float8), cloud_init_end_time) AS ci_end,
           coalesce(to_timestamp($5::float8), container_start_time) AS c_start,
           coalesce(to_timestamp($6::float8), container_end_time) AS c_end,
           cloud_init_duration_seconds AS old_ci,
           container_duration_seconds AS old_c,
           total_startup_seconds AS old_total
    FROM vms WHERE hostname = $1
) AS n
WHERE v.hostname = $1
-- then, for the startup-phase metric, each duration this post made known
-- (or changed), '' otherwise
RETURNING coalesce(v.total_startup_seconds::text, ''),
    CASE WHEN v.cloud_init_duration_seconds IS DISTINCT FROM n.old_ci
         THEN coalesce(v.cloud_init_duration_seconds::text, '') ELSE '' END,
    CASE WHEN v.container_duration_seconds IS DISTINCT FROM n.old_c
         THEN coalesce(v.container_duration_seconds::text, '') ELSE '' END,
    CASE WHEN n.old_total IS NULL
         THEN coalesce(v.total_startup_seconds::text, '') ELSE '' END;

-- name: vm_status_get
-- $1 hostname, $2 stale_after_s
SELECT coalesce(status, ''),
       coalesce(last_seen_at, created_at)
           < now() - make_interval(secs => $2::integer) AS stale
FROM vms WHERE hostname = $1;

-- name: vm_status_all
-- $1 stale_after_s
SELECT hostname, coalesce(status, ''),
       coalesce(last_seen_at, created_at)
           < now() - make_interval(secs => $1::integer) AS stale,
       status IS NULL
FROM vms ORDER BY hostname;

-- name: vm_export_metrics
-- Every VM, every column but pin and crd_command, as one JSON array
-- (timestamps ISO-8601). $1 stale_after_s
SELECT coalesce(json_agg(r ORDER BY r.hostname), '[]')::text FROM (
    SELECT hostname, status, user_email, assigned_at, delivered_at, in_use,
           gpu_health, last_seen_at,
           coalesce(last_seen_at, created_at)
               < now() - make_interval(secs => $1::integer) AS stale,
           public_ip, boot_id, crd_active, disk_free_pct,
           terraform_start_time, terraform_end_time,
           terraform_duration_seconds, cloud_init_start_time,
           cloud_init_end_time, cloud_init_duration_seconds,
           container_start_time, container_end_time,
           container_duration_seconds, total_startup_seconds, created_at,
           start_host_ok, start_host_error, start_host_at, reboot_count,
           last_reboot_time, attention,
           ll_vm_state(vms, $1::integer) AS state
    FROM vms
) AS r;

-- name: vm_fleet
-- The fleet by status for /metrics ($1 stale_after_s, $2 poll window s):
-- VMs, assigned,
-- stale, free (the claim's own predicate, ll_vm_offered) and assignments not
-- yet acknowledged; each row also carries the scheduled end of the fleet
-- (settings.fleet_scheduled_end, epoch seconds, or '').
SELECT coalesce(status, ''), count(*),
       count(*) FILTER (WHERE user_email IS NOT NULL),
       count(*) FILTER (WHERE coalesce(last_seen_at, created_at)
                              < now() - make_interval(secs => $1::integer)),
       count(*) FILTER (WHERE ll_vm_offered(vms, f.state, $1::integer,
                                            $2::integer)),
       count(*) FILTER (WHERE crd_command IS NOT NULL AND delivered_at IS NULL),
       coalesce((SELECT value FROM settings
                 WHERE key = 'fleet_scheduled_end'), '')
FROM vms LEFT JOIN fleet f USING (hostname) GROUP BY 1 ORDER BY 1;

-- name: vm_register
-- "Bring your own VM": the admin registers $1, a VM terraform does not
-- manage (a fleet name is refused: replace it instead), with the hash $2
-- of a fresh token: creates the row when absent, else replaces the token
-- (the old one is revoked by the trigger of migration 0012). $3 the actor
-- to audit ('' = the caller audits). Returns managed (the name is the
-- fleet's), the new generation and whether the row was created.
WITH f AS (
    SELECT EXISTS (SELECT 1 FROM fleet WHERE hostname = $1) AS managed
), up AS (
    INSERT INTO vms (hostname, token_hash, token_generation)
    SELECT $1, $2, nextval('vm_token_generations') FROM f WHERE NOT f.managed
    ON CONFLICT (hostname) DO UPDATE
        SET token_hash = EXCLUDED.token_hash,
            token_generation = EXCLUDED.token_generation
    RETURNING token_generation, xmax = 0 AS created
), audit AS (
    INSERT INTO audit_log (actor, action, target, outcome)
    SELECT $3, 'vm-register', $1, 'ok' FROM up WHERE $3 <> ''
)
SELECT f.managed, coalesce(up.token_generation::text, ''),
       coalesce(up.created, false)
FROM f LEFT JOIN up ON true;

-- name: vm_seen
-- The gateway's live agents ($1: their hostnames, an array literal).
UPDATE vms SET last_seen_at = now() WHERE hostname = ANY ($1::text[]);

-- name: vm_polled
-- The VMs whose ZeroMQ clients are parked at the waiters: their clients
-- wait ($1: their hostnames, an array literal).
UPDATE vms SET last_polled_at = now() WHERE hostname = ANY ($1::text[]);
