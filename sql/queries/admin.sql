-- The admin actor (actors/admin.c): sessions, login throttling, audit log,
-- and the reads the console pages render.

-- name: admin_session_create
INSERT INTO admin_sessions (id_hash, actor, address) VALUES ($1, $2, $3);

-- A session is valid while used within $2 seconds and younger than $3
-- seconds; checking it counts as use.
-- name: admin_session_touch
UPDATE admin_sessions SET last_seen_at = now()
WHERE id_hash = $1
  AND last_seen_at > now() - make_interval(secs => $2::integer)
  AND created_at > now() - make_interval(secs => $3::integer)
RETURNING actor;

-- name: admin_session_delete
DELETE FROM admin_sessions WHERE id_hash = $1;

-- name: admin_session_expire
DELETE FROM admin_sessions
WHERE last_seen_at < now() - make_interval(secs => $1::integer)
   OR created_at < now() - make_interval(secs => $2::integer);

-- name: admin_login_failure_add
INSERT INTO admin_login_failures (address) VALUES ($1);

-- Failures of $1 within the last $2 seconds, and the seconds until the
-- oldest of them leaves the window.
-- name: admin_login_failure_count
SELECT count(*),
       coalesce(ceil(extract(epoch FROM
           min(at) + make_interval(secs => $2::integer) - now())), 0)::integer
FROM admin_login_failures
WHERE address = $1 AND at > now() - make_interval(secs => $2::integer);

-- name: admin_login_failure_clear
DELETE FROM admin_login_failures WHERE address = $1;

-- name: admin_login_failure_expire
DELETE FROM admin_login_failures
WHERE at < now() - make_interval(secs => $1::integer);

-- name: admin_audit_add
INSERT INTO audit_log (actor, action, target, outcome, detail)
VALUES ($1, $2, $3, $4, $5);

-- The newest $1 entries (older than id $2 when $2 > 0) as one JSON array.
-- name: admin_audit_list
SELECT coalesce(json_agg(a ORDER BY a.id DESC), '[]')::text
FROM (SELECT id, to_char(at AT TIME ZONE 'UTC',
                         'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at,
             actor, action, target, outcome, detail
      FROM audit_log
      WHERE $2::bigint <= 0 OR id < $2::bigint
      ORDER BY id DESC
      LIMIT $1::integer) a;

-- Every VM (or only $2 when not NULL) with every column but the
-- assignment secrets (pin and crd_command), and its console state ($1 stale
-- seconds), as one JSON array: the instances page's first render.
-- name: admin_vm_list
SELECT coalesce(json_agg(v ORDER BY v.hostname), '[]')::text
FROM (SELECT hostname, status, user_email, assigned_at, delivered_at,
             in_use, gpu_health, last_seen_at, public_ip, boot_id,
             crd_active, disk_free_pct,
             terraform_start_time, terraform_end_time,
             terraform_duration_seconds,
             cloud_init_start_time, cloud_init_end_time,
             cloud_init_duration_seconds,
             container_start_time, container_end_time,
             container_duration_seconds,
             total_startup_seconds, created_at,
             start_host_ok, start_host_error, start_host_at, reboot_count,
             last_reboot_time, attention,
             ll_vm_state(vms, $1::integer) AS state
      FROM vms WHERE $2::text IS NULL OR hostname = $2) v;

-- name: admin_vm_exists
SELECT 1 FROM vms WHERE hostname = $1;

-- The exports kept on the allocators' disks ("export, then destroy"), as
-- one JSON array, newest first.
-- name: admin_archive_list
SELECT coalesce(json_agg(a ORDER BY a.created_at DESC), '[]')::text
FROM (SELECT name, bytes, files, allocator, operation_id,
             to_char(created_at AT TIME ZONE 'UTC',
                     'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS created_at,
             to_char(downloaded_at AT TIME ZONE 'UTC',
                     'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS downloaded_at
      FROM export_archives) a;

-- name: admin_archive_get
SELECT allocator FROM export_archives WHERE name = $1;

-- name: admin_archive_downloaded
UPDATE export_archives SET downloaded_at = now() WHERE name = $1;

-- name: admin_archive_delete
DELETE FROM export_archives WHERE name = $1 RETURNING name;

-- A student's progress page ($1 hostname, $2 stale seconds): what the
-- student may see of their VM, and what the page's link is bound to (the
-- assignment: student and the microsecond it was made; checked by the HTTP
-- worker).
-- name: admin_vm_progress
SELECT json_build_object(
    'hostname', hostname, 'status', status, 'user_email', user_email,
    'assigned_us', (extract(epoch FROM assigned_at) * 1000000)::bigint::text,
    'pin', pin, 'has_code', crd_command IS NOT NULL,
    'assigned_at', assigned_at, 'delivered_at', delivered_at,
    'start_host_ok', start_host_ok, 'start_host_error', start_host_error,
    'start_host_at', start_host_at, 'crd_active', crd_active,
    'state', ll_vm_state(vms, $2::integer))::text
FROM vms WHERE hostname = $1;
