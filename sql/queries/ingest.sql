-- The ingest actor: log lines appended with COPY, read newest-first or
-- incrementally, retention per VM.

-- name: vm_logs_flush_start
-- One round trip at the start of a flush: the first id of its block
-- (migration 0007: its lines take the ids first, first + 1, ..., at most
-- 2^20 of them), then which of the hostnames $1 exist (NULL when none does).
SELECT b.first_id, v.hostname
FROM (SELECT nextval('vm_logs_blocks') << 20 AS first_id) b
LEFT JOIN vms v ON v.hostname = ANY($1::text[]);

-- name: vm_log_batches_claim
-- Record agent batches ($1 hostnames, $2 sources, $3 seqs); returns those
-- not seen before (the others were stored already).
INSERT INTO vm_log_batches (hostname, source, seq)
SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
ON CONFLICT DO NOTHING
RETURNING hostname, source, seq;

-- name: vm_logs_copy
COPY vm_logs (id, hostname, stream, line) FROM STDIN (FORMAT binary);

-- name: vm_logs_trim
-- Keep the newest $2 lines of VM $1.
DELETE FROM vm_logs
WHERE hostname = $1 AND id < (
    SELECT id FROM vm_logs WHERE hostname = $1
    ORDER BY id DESC OFFSET $2::integer - 1 LIMIT 1);

-- name: vm_log_batches_prune
DELETE FROM vm_log_batches WHERE received_at < now() - interval '1 day';

-- name: vm_logs_vm
SELECT coalesce(status, '') FROM vms WHERE hostname = $1;

-- name: vm_logs_newest
-- The newest $2 lines of VM $1, newest first.
SELECT id, stream, line FROM vm_logs
WHERE hostname = $1 ORDER BY id DESC LIMIT $2::integer;

-- name: vm_logs_after
-- Up to $3 lines of VM $1 after id $2, oldest first.
SELECT id, stream, line FROM vm_logs
WHERE hostname = $1 AND id > $2::bigint ORDER BY id LIMIT $3::integer;

-- name: vm_logs_count
-- Lines stored for hostnames starting with $1 (benchmarks, tests).
SELECT count(*) FROM vm_logs WHERE hostname LIKE $1 || '%';
