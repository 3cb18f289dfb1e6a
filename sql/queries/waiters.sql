-- The waiters (actors/waiters.c) and the listener (actors/listener.c).

-- name: wait_check
-- A VM asks for its assignment: touch last_seen_at and last_polled_at (its
-- client waits: it may be offered) and return the undelivered assignment,
-- if any, the generation of the VM's current token and the reset it must
-- do ('' when none; no row: unknown VM).
UPDATE vms SET last_seen_at = now(), last_polled_at = now()
WHERE hostname = $1
RETURNING crd_command IS NOT NULL AND delivered_at IS NULL, pin, crd_command,
          coalesce(token_generation::text, ''), coalesce(reset_id, '');

-- name: wait_pending
-- One VM's undelivered assignment or pending reset (after a NOTIFY) and its
-- generation.
SELECT coalesce(pin, ''), coalesce(crd_command, ''),
       coalesce(token_generation::text, ''), coalesce(reset_id, '')
FROM vms
WHERE hostname = $1
  AND ((crd_command IS NOT NULL AND delivered_at IS NULL)
       OR reset_id IS NOT NULL);

-- name: wait_pending_all
-- Every undelivered assignment and pending reset (after the listener
-- reconnected).
SELECT hostname, coalesce(pin, ''), coalesce(crd_command, ''),
       coalesce(token_generation::text, ''), coalesce(reset_id, '')
FROM vms
WHERE (crd_command IS NOT NULL AND delivered_at IS NULL)
   OR reset_id IS NOT NULL;

-- name: wait_polled
-- VMs still parked here without a deadline (ZeroMQ): their clients wait.
UPDATE vms SET last_polled_at = now() WHERE hostname = ANY ($1::text[]);

-- name: listen_channel
SELECT ll_listen($1);
