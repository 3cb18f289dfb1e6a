-- The terraform actor (actors/terraform.c): operations, the fleet, VM rows
-- written after apply and removed after destroy.

-- One allocator at a time runs terraform, across processes sharing this
-- database (session lock, held for the whole operation).
-- name: tf_lock_try
SELECT pg_try_advisory_lock(7661006401);

-- name: tf_unlock
SELECT pg_advisory_unlock(7661006401);

-- name: op_active
SELECT id FROM operations WHERE status IN ('queued', 'running')
ORDER BY id LIMIT 1;

-- Operations left queued/running by an allocator that stopped: only run
-- while holding the lock, so nobody is working on them.
-- name: op_fail_stale
UPDATE operations SET status = 'failed', error = $1, finished_at = now()
WHERE status IN ('queued', 'running')
RETURNING id;

-- name: op_insert
INSERT INTO operations (kind, status, requested, total, created_by, target,
                        started_at)
VALUES ($1, 'running', $2::integer, $3::integer, $4, $5, now())
RETURNING id;

-- name: op_append
UPDATE operations SET output = output || $2, done = $3::integer,
                      total = $4::integer
WHERE id = $1::bigint;

-- name: op_finish
UPDATE operations SET status = $2, error = $3, finished_at = now()
WHERE id = $1::bigint;

-- name: op_get
SELECT id, kind, status, requested, done, total, output, error, created_by,
       target,
       to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
       to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
       to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
FROM operations WHERE id = $1::bigint;

-- name: fleet_list
SELECT hostname, ordinal, state FROM fleet ORDER BY ordinal;

-- name: fleet_next_ordinal
SELECT coalesce(max(ordinal), 0) + 1 FROM fleet;

-- name: fleet_add
INSERT INTO fleet (hostname, ordinal, state, operation_id)
VALUES ($1, $2::integer, 'pending', $3::bigint);

-- name: fleet_set_state
UPDATE fleet SET state = $2, operation_id = coalesce($3::bigint, operation_id)
WHERE hostname = ANY ($1::text[]);

-- After an interrupted operation nothing stays half-way: keeping a name is
-- the safe side (terraform keeps or creates that VM, never destroys it).
-- name: fleet_settle
UPDATE fleet SET state = 'active' WHERE state <> 'active';

-- name: fleet_drop
DELETE FROM fleet WHERE hostname = ANY ($1::text[]);

-- A row for each VM as soon as it is asked for, so its agent's first
-- reports (sent during apply) find it, with the hash $2 of the token this
-- launch minted and a new generation (an older token of the name, if any,
-- is revoked by the trigger of migration 0012). Also the replace of one VM.
-- name: vm_launch_token
INSERT INTO vms (hostname, token_hash, token_generation)
VALUES ($1, $2, nextval('vm_token_generations'))
ON CONFLICT (hostname) DO UPDATE
    SET token_hash = EXCLUDED.token_hash,
        token_generation = EXCLUDED.token_generation;

-- A destroy revokes the tokens of the VMs it removes as it starts. Their
-- agents can no longer ask for an assignment, so they stop waiting for one
-- (last_polled_at): until terraform has removed them (a cloud takes
-- minutes) their rows stay running and seen, and a claim would otherwise
-- give a student a VM on its way out. Row-local, so a claim that waited
-- for the row rechecks it.
-- name: vm_tokens_revoke
UPDATE vms SET token_hash = NULL,
               token_generation = CASE WHEN token_hash IS NOT NULL
                   THEN nextval('vm_token_generations')
                   ELSE token_generation END,
               last_polled_at = NULL
WHERE hostname = ANY ($1::text[]);

-- Revoked tokens are remembered 90 days (then they are only "invalid").
-- name: vm_tokens_prune
DELETE FROM vm_tokens_revoked WHERE revoked_at < now() - interval '90 days';

-- name: vm_terraform_times
-- Returns whether the duration is new (for the startup-phase metric).
WITH old AS (
    SELECT terraform_duration_seconds AS d FROM vms WHERE hostname = $1
)
INSERT INTO vms (hostname, terraform_start_time, terraform_end_time,
                 terraform_duration_seconds, public_ip, ssh_port)
VALUES ($1, $2::timestamptz, $3::timestamptz, $4::double precision, $5,
        $6::integer)
ON CONFLICT (hostname) DO UPDATE SET
    terraform_start_time = EXCLUDED.terraform_start_time,
    terraform_end_time = EXCLUDED.terraform_end_time,
    terraform_duration_seconds = EXCLUDED.terraform_duration_seconds,
    public_ip = coalesce(EXCLUDED.public_ip, vms.public_ip),
    ssh_port = coalesce(EXCLUDED.ssh_port, vms.ssh_port)
RETURNING terraform_duration_seconds IS NOT NULL
      AND terraform_duration_seconds IS DISTINCT FROM (SELECT d FROM old);

-- Removed VMs stay in the audit trail (without the CRD command and PIN).
-- name: vms_archive
INSERT INTO audit_log (actor, action, target, outcome, detail)
SELECT 'terraform', 'vm-removed', hostname, 'ok',
       (to_jsonb(v) - 'pin' - 'crd_command' - 'claim_secret_hash')::text
FROM vms v WHERE hostname = ANY ($1::text[]);

-- A replaced VM is a fresh machine: nothing of the last student is left,
-- so a release waiting for it (claim.on_release: destroy) is over ($1:
-- the names, an array literal: one REPLACE-VM replaces several).
-- name: vm_replaced
UPDATE vms SET release_pending = NULL, reset_id = NULL,
               reset_requested_at = NULL
WHERE hostname = ANY ($1::text[]);

-- The new VM of a move ($1) is withheld until the move has ended: its
-- agent may report and poll before the apply does, and a claim must not
-- take the VM the old one's student moves to (vm_move_assignment would
-- overwrite it). The end of the move clears it (vm_replaced).
-- name: vm_withhold
UPDATE vms SET release_pending = 'replace' WHERE hostname = $1;

-- name: vms_remove
DELETE FROM vms WHERE hostname = ANY ($1::text[]);

-- name: vms_hostnames
SELECT hostname FROM vms ORDER BY hostname;

-- name: tf_audit
INSERT INTO audit_log (actor, action, target, outcome, detail)
VALUES ($1, $2, $3, $4, $5);

-- name: op_list
SELECT id, kind, status, requested, done, total, coalesce(error, ''),
       coalesce(target, ''),
       to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
       coalesce(to_char(finished_at AT TIME ZONE 'UTC',
                        'YYYY-MM-DD"T"HH24:MI:SS"Z"'), '')
FROM operations ORDER BY id DESC LIMIT $1::integer;

-- --- console actions (issue 16) -------------------------------------------

-- A reboot through the provider starts ($1 hostname): 'rebooting' until the
-- restarted agent reports again, so the VM is not offered meanwhile (set
-- before the provider acts: the agent may report before the script ends).
-- Returns the status before, to put back if the reboot cannot be done. The
-- assignment stays (a warm reboot).
-- name: vm_reboot_begin
UPDATE vms v SET status = 'rebooting'
FROM (SELECT coalesce(status, '') AS before FROM vms
      WHERE hostname = $1 FOR UPDATE) o
WHERE v.hostname = $1
RETURNING o.before;

-- name: vm_reboot_undo
UPDATE vms SET status = nullif($2, '')
WHERE hostname = $1 AND status = 'rebooting';

-- The reboot was done ($1 hostname): upstream's count and time.
-- name: vm_reboot_mark
UPDATE vms SET reboot_count = reboot_count + 1, last_reboot_time = now()
WHERE hostname = $1;

-- VMs about to be replaced ($1 names): not offered until their new agent
-- reports; what the old agent said no longer holds.
-- name: vm_replace_mark
UPDATE vms SET status = 'initializing', crd_active = NULL, in_use = false,
               in_use_changed_at = now()
WHERE hostname = ANY ($1::text[]);

-- After a replacement ($1 names, $2 the operation): an assigned student
-- keeps the VM and gets a fresh delivery. A code start-host already used is
-- spent (Google's codes work once): it is dropped, and the student's page
-- asks for a new one. A code never used is delivered again (the statement
-- lists crd_command, so the trigger wakes the new agent's long poll). A
-- code acknowledged since the operation started came from the new VM's
-- agent (the old token was revoked then; the local provider starts the
-- agent during the apply): it is on the new desktop and stays as it is,
-- untouched (listing crd_command would deliver it again). Returns each
-- student's VM, email and whether the new VM has (or gets) the code.
-- name: vm_redeliver
WITH o AS (
    SELECT started_at FROM operations WHERE id = $2::bigint
), renewed AS (
    UPDATE vms v SET
        crd_command = CASE WHEN v.delivered_at IS NULL
                           THEN v.crd_command END,
        pin = CASE WHEN v.delivered_at IS NULL THEN v.pin END,
        delivered_at = NULL, start_host_ok = NULL, start_host_error = NULL,
        start_host_at = NULL
    FROM o
    WHERE v.hostname = ANY ($1::text[]) AND v.user_email IS NOT NULL
      AND NOT coalesce(v.delivered_at >= o.started_at, false)
    RETURNING v.hostname, v.user_email, v.crd_command IS NOT NULL
)
SELECT * FROM renewed
UNION ALL
SELECT v.hostname, v.user_email, true
FROM vms v, o
WHERE v.hostname = ANY ($1::text[]) AND v.user_email IS NOT NULL
  AND v.delivered_at >= o.started_at;

-- A replacement under a new name: the student of $1 moves to $2, with the
-- same rule for the code as vm_redeliver; the claim's secret moves with
-- the student (their cookie and recovery code keep working).
-- name: vm_move_assignment
WITH o AS (
    SELECT user_email, crd_command, pin, delivered_at, claim_secret_hash
    FROM vms
    WHERE hostname = $1 AND user_email IS NOT NULL
)
UPDATE vms n SET
    user_email = o.user_email, claim_secret_hash = o.claim_secret_hash,
    crd_command = CASE WHEN o.delivered_at IS NULL THEN o.crd_command END,
    pin = CASE WHEN o.delivered_at IS NULL THEN o.pin END,
    assigned_at = now(), delivered_at = NULL, start_host_ok = NULL,
    start_host_error = NULL, start_host_at = NULL
FROM o WHERE n.hostname = $2
RETURNING o.user_email, n.crd_command IS NOT NULL;

-- A checked export kept on this allocator's disk ($1 name, $2 bytes,
-- $3 files, $4 this host, $5 operation).
-- name: export_archive_add
INSERT INTO export_archives (name, bytes, files, allocator, operation_id)
VALUES ($1, $2::bigint, $3::integer, $4, $5::bigint)
ON CONFLICT (name) DO UPDATE SET bytes = EXCLUDED.bytes,
    files = EXCLUDED.files, allocator = EXCLUDED.allocator,
    operation_id = EXCLUDED.operation_id, created_at = now(),
    downloaded_at = NULL;
