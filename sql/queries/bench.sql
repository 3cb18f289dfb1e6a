-- lablink-bench (bench/*.c): seeding and checking its own VM rows, all
-- named "<prefix>-NNNNN" so a benchmark never touches real VMs.

-- name: bench_seed
-- $1 prefix, $2 count: running, fresh, unassigned VMs whose clients wait
-- for an assignment (as if each had just polled /vm_startup).
INSERT INTO vms (hostname, status, last_seen_at, last_polled_at)
SELECT $1 || '-' || lpad(g::text, 5, '0'), 'running', now(), now()
FROM generate_series(1, $2::integer) g
ON CONFLICT (hostname) DO UPDATE
SET status = 'running', user_email = NULL, crd_command = NULL, pin = NULL,
    assigned_at = NULL, delivered_at = NULL, last_seen_at = now(),
    last_polled_at = now();

-- name: bench_clear
DELETE FROM vms WHERE hostname LIKE $1 || '-%';

-- name: bench_check
-- Assigned rows, distinct students among them, rows whose student holds
-- more than one VM (must be 0).
SELECT count(*) FILTER (WHERE user_email IS NOT NULL),
       count(DISTINCT user_email),
       (SELECT count(*) FROM (SELECT user_email FROM vms
                              WHERE hostname LIKE $1 || '-%'
                                AND user_email IS NOT NULL
                              GROUP BY user_email HAVING count(*) > 1) d)
FROM vms WHERE hostname LIKE $1 || '-%';

-- name: bench_pg_connections
-- Connections of allocator processes (the bench's own excluded).
SELECT count(*) FROM pg_stat_activity
WHERE application_name = 'lablink-allocator' AND pid <> pg_backend_pid();

-- name: bench_tokens
-- The benchmark's agents as "bring your own VM" registrations, thousands
-- in one statement: $1 hostnames, $2 the hashes of the tokens the bench
-- minted for them (runtime/token.h). A row is made when absent; an older
-- token of the VM is replaced (and revoked, migration 0012). Never a
-- terraform fleet name.
INSERT INTO vms (hostname, token_hash, token_generation)
SELECT t.hostname, t.hash, nextval('vm_token_generations')
FROM unnest($1::text[], $2::text[]) AS t(hostname, hash)
WHERE NOT EXISTS (SELECT 1 FROM fleet f WHERE f.hostname = t.hostname)
ORDER BY t.hostname
ON CONFLICT (hostname) DO UPDATE
    SET token_hash = EXCLUDED.token_hash,
        token_generation = EXCLUDED.token_generation;
