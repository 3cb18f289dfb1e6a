-- The waiters (actors/waiters.c) and the listener (actors/listener.c).

-- name: wait_check
-- VMs ask for their assignments ($1: their hostnames, an array literal;
-- every wait waiting at the waiters at once): touch last_seen_at and
-- last_polled_at (their clients wait: they may be offered) and return each
-- known VM's undelivered assignment, if any, the generation of its current
-- token and the reset it must do ('' when none; a hostname without a row is
-- an unknown VM).
UPDATE vms SET last_seen_at = now(), last_polled_at = now()
WHERE hostname = ANY ($1::text[])
RETURNING hostname, crd_command IS NOT NULL AND delivered_at IS NULL, pin,
          crd_command, coalesce(token_generation::text, ''),
          coalesce(reset_id, '');

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

-- name: listen_channel
SELECT ll_listen($1);
