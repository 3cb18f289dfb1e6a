-- The assigner (actors/assigner.c): claims, returning students, releases,
-- the available count and delivery results. A VM is offered only when
-- status = 'running' AND user_email IS NULL AND release_pending IS NULL
-- (not waiting for its reset or replacement) AND last_seen_at is fresh
-- (agent.stale_after_s) AND its GPU is not reported Unhealthy AND its
-- client waits for an assignment (last_polled_at within the poll window,
-- ll_config_poll_window_s); the count uses the very same predicate.

-- name: claim_owned
-- The VMs the given students already hold ($1 = emails), best first, with
-- the hash of each claim's secret ('' when none) and whether each is dead:
-- in error, silent for $2 seconds, or its GPU Unhealthy
-- (recovery.reassign_dead gives such a student a fresh VM).
SELECT user_email, hostname, coalesce(status, ''),
       coalesce(claim_secret_hash, ''),
       status = 'error' OR gpu_health = 'Unhealthy'
       OR coalesce(last_seen_at, created_at)
          < now() - make_interval(secs => $2::integer) AS dead
FROM vms
WHERE user_email = ANY ($1::text[])
ORDER BY user_email,
         CASE status WHEN 'running' THEN 0 WHEN 'rebooting' THEN 1
                     WHEN 'initializing' THEN 1 WHEN 'error' THEN 2
                     ELSE 3 END,
         assigned_at DESC NULLS LAST, hostname
FOR UPDATE;

-- name: claim_renew
-- A returning student's new code on the VM that is still theirs
-- (optimistic: 0 rows when the VM changed hands meanwhile), with the PIN
-- $4, or the one given with the code it replaces while that one is not
-- acknowledged: start-host may be running with it, and the agent's result
-- (or heartbeat) then acknowledges this row, whichever code the desktop
-- took. Returns the PIN the desktop will have.
UPDATE vms
SET crd_command = $3,
    pin = coalesce(CASE WHEN crd_command IS NOT NULL AND delivered_at IS NULL
                        THEN pin END, $4),
    assigned_at = now(), delivered_at = NULL,
    start_host_ok = NULL, start_host_error = NULL, start_host_at = NULL
WHERE hostname = $1 AND user_email = $2
RETURNING hostname, pin;

-- name: claim_abandon
-- A returning student leaves their dead VM for a fresh one ($1 hostname,
-- $2 email, $3 why): the VM is released and flagged for the admin, and
-- withheld until it is replaced (it still holds the student's desktop).
WITH r AS (
    UPDATE vms
    SET user_email = NULL, crd_command = NULL, pin = NULL,
        assigned_at = NULL, delivered_at = NULL, in_use = false,
        start_host_ok = NULL, start_host_error = NULL, start_host_at = NULL,
        claim_secret_hash = NULL, release_pending = 'replace',
        attention = $3
    WHERE hostname = $1 AND user_email = $2
    RETURNING hostname
)
INSERT INTO audit_log (actor, action, target, outcome, detail)
SELECT 'auto', 'recover-student', hostname, 'ok', $3 FROM r;

-- name: claim_free
-- Claim one free VM for each request, in one statement: the offered rows
-- (ll_vm_offered) in hostname order, locked (others' locks skipped: see
-- claim_wait_free), paired with the requests in arrival order. $1 emails,
-- $2 commands, $3 pins, $4 stale seconds, $5 poll window seconds, $6 the
-- hashes of the claims' secrets. The claim consumes the VM's poll.
WITH free AS (
    SELECT hostname, row_number() OVER (ORDER BY hostname) AS n
    FROM (SELECT hostname FROM vms LEFT JOIN fleet f USING (hostname)
          WHERE ll_vm_offered(vms, f.state, $4::integer, $5::integer)
          ORDER BY hostname
          LIMIT cardinality($1::text[])
          FOR UPDATE OF vms SKIP LOCKED) locked
), req AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $6::text[])
        WITH ORDINALITY AS r(email, command, pin, secret_hash, n)
)
UPDATE vms v
SET user_email = req.email, crd_command = req.command, pin = req.pin,
    assigned_at = now(), delivered_at = NULL, in_use = false,
    start_host_ok = NULL, start_host_error = NULL, start_host_at = NULL,
    claim_secret_hash = req.secret_hash, last_polled_at = NULL
FROM free JOIN req USING (n)
WHERE v.hostname = free.hostname
RETURNING req.n, v.hostname;

-- name: claim_wait_free
-- The offered VMs claim_free skipped because another session held them
-- (a heartbeat flush or a last_seen_at/last_polled_at refresh holds every
-- row it touches until it commits): wait for up to $1 of them, up to the
-- transaction's lock_timeout, and hold them so that claim_free, run again,
-- takes them. $2 stale seconds, $3 poll window seconds.
SELECT hostname FROM vms LEFT JOIN fleet f USING (hostname)
WHERE ll_vm_offered(vms, f.state, $2::integer, $3::integer)
ORDER BY hostname
LIMIT $1::integer
FOR UPDATE OF vms;

-- name: claim_audit
-- One audit row per answered claim ($1 emails, $2 hostnames or '', $3
-- outcomes).
INSERT INTO audit_log (actor, action, target, outcome)
SELECT 'student:' || e, 'claim', nullif(h, ''), o
FROM unnest($1::text[], $2::text[], $3::text[]) AS a(e, h, o);

-- name: claim_reset
-- The admin gives a student a new claim secret ($1 email, $2 its hash, $3
-- who): the old one stops working.
WITH reset AS (
    UPDATE vms SET claim_secret_hash = $2
    WHERE user_email = $1
    RETURNING hostname
), audit AS (
    INSERT INTO audit_log (actor, action, target, outcome, detail)
    SELECT $3, 'claim-reset', $1, 'ok', string_agg(hostname, ' ')
    FROM reset HAVING count(*) > 0
)
SELECT hostname FROM reset ORDER BY hostname;

-- name: claim_who
-- The claim a secret proves ($1 its hash): the student's VMs.
SELECT user_email, hostname, coalesce(status, '')
FROM vms
WHERE claim_secret_hash = $1 AND user_email IS NOT NULL
ORDER BY hostname;

-- name: vm_count_free
-- $1 stale seconds, $2 poll window seconds
SELECT count(*) FROM vms LEFT JOIN fleet f USING (hostname)
WHERE ll_vm_offered(vms, f.state, $1::integer, $2::integer);

-- name: vm_release
-- Give a VM back to the pool ($1 hostname, $2 who, $3 claim.on_release:
-- reset | replace | reuse, $4 the reset's id for reset). reset and replace
-- keep it out of the pool until its agent confirms the reset or terraform
-- replaced it. $5 (the idle rule's seconds, NULL = any VM): only a VM
-- still held and unused that long (idle_release_candidates' predicate,
-- rechecked on the row's current version: its student may have come back
-- since the rule read it).
WITH released AS (
    UPDATE vms
    SET user_email = NULL, crd_command = NULL, pin = NULL,
        assigned_at = NULL, delivered_at = NULL, in_use = false,
        start_host_ok = NULL, start_host_error = NULL, start_host_at = NULL,
        claim_secret_hash = NULL,
        release_pending = nullif($3, 'reuse'),
        reset_id = CASE WHEN $3 = 'reset' THEN $4 END,
        reset_requested_at = CASE WHEN $3 <> 'reuse' THEN now() END
    WHERE hostname = $1
      AND ($5::integer IS NULL
           OR (user_email IS NOT NULL AND NOT in_use
               AND greatest(assigned_at, in_use_changed_at)
                   < now() - make_interval(secs => $5::integer)))
    RETURNING hostname
), audit AS (
    INSERT INTO audit_log (actor, action, target, outcome, detail)
    SELECT $2, 'release', hostname, 'ok', 'on_release ' || $3 FROM released
)
SELECT hostname FROM released;

-- name: vm_reset_done
-- The agent's reset outcome ($1 hostname, $2 reset id, $3 success, $4
-- error, $5 the generation of its token): the VM returns to the pool only
-- when the reset it confirms is the current one, succeeded, and comes from
-- the agent of the current token. Answers 'current', 'stale' or 'revoked'
-- (no row: no such VM); every report is audited.
WITH vm AS (
    SELECT hostname,
           CASE WHEN token_generation IS DISTINCT FROM $5::bigint
                    THEN 'revoked'
                WHEN reset_id = $2 THEN 'current'
                ELSE 'stale' END AS state
    FROM vms WHERE hostname = $1
    FOR UPDATE
), done AS (
    UPDATE vms v
    SET release_pending = NULL, reset_id = NULL, reset_requested_at = NULL,
        last_seen_at = now()
    FROM vm
    WHERE v.hostname = vm.hostname AND vm.state = 'current' AND $3::boolean
    RETURNING v.hostname
), audit AS (
    INSERT INTO audit_log (actor, action, target, outcome, detail)
    SELECT 'vm:' || hostname, 'reset', hostname,
           CASE WHEN state <> 'current' THEN state
                WHEN $3::boolean THEN 'ok' ELSE 'failed' END,
           nullif($4, '')
    FROM vm
)
SELECT state FROM vm;

-- name: vm_result
-- The agent's start-host outcome ($2 'true' sets delivered_at, the first
-- acknowledgement; a failure leaves it NULL so the assignment is delivered
-- again), counted only from the agent of the current token's generation
-- $4. Answers 'current' or 'revoked' (no row: unknown VM) and the seconds
-- from claim to this acknowledgement when it is the one that delivered
-- ('' otherwise).
WITH v AS (
    SELECT hostname, token_generation IS NOT DISTINCT FROM $4::bigint AS current
    FROM vms WHERE hostname = $1
), r AS (
    UPDATE vms
    SET delivered_at = CASE WHEN $2::boolean AND crd_command IS NOT NULL
                            THEN coalesce(delivered_at, now())
                            ELSE delivered_at END,
        start_host_ok = $2::boolean,
        start_host_error = CASE WHEN $2::boolean THEN NULL
                                ELSE nullif($3, '') END,
        start_host_at = now(),
        last_seen_at = now()
    WHERE hostname = $1 AND token_generation IS NOT DISTINCT FROM $4::bigint
    RETURNING hostname,
              CASE WHEN delivered_at = now()
                   THEN extract(epoch FROM now() - assigned_at) END AS latency
), audit AS (
    INSERT INTO audit_log (actor, action, target, outcome, detail)
    SELECT 'vm:' || hostname, 'start-host', hostname,
           CASE WHEN $2::boolean THEN 'ok' ELSE 'failed' END, nullif($3, '')
    FROM r
)
SELECT CASE WHEN current THEN 'current' ELSE 'revoked' END,
       coalesce((SELECT latency::text FROM r), '') FROM v;
