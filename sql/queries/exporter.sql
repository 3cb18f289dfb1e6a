-- The exporter actor (actors/exporter.c): data export over SSH.

-- name: exporter_vms
-- Every VM in a stable order: vm_<n> is the 1-based position here (the
-- trailing number of the hostname first, like upstream's count order).
-- Only those named in $1 (hostnames) or held by $2 (emails) when either is
-- not empty; they keep the number they have among all VMs.
SELECT hostname, address, port, n FROM (
    SELECT hostname, coalesce(public_ip, '') AS address,
           coalesce(ssh_port, 0) AS port, user_email,
           row_number () OVER (ORDER BY substring(hostname FROM '([0-9]+)$')::numeric
                               NULLS LAST, hostname) AS n
    FROM vms
) v
WHERE (cardinality($1::text[]) = 0 AND cardinality($2::text[]) = 0)
   OR hostname = ANY ($1::text[]) OR lower(user_email) = ANY ($2::text[])
ORDER BY n;

-- name: exporter_host_keys
SELECT hostname, key_type, key_base64, sha256 FROM ssh_host_keys;

-- name: exporter_pin_host_key
-- First contact only: an existing pin is never replaced here.
INSERT INTO ssh_host_keys (hostname, key_type, key_base64, sha256)
SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM vms WHERE hostname = $1)
ON CONFLICT (hostname) DO NOTHING;

-- name: exporter_audit
INSERT INTO audit_log (actor, action, target, outcome, detail)
VALUES ($1, $2, $3, $4, $5);

-- name: exporter_bench_add_vm
-- lablink-bench export: one local "VM" row.
INSERT INTO vms (hostname, status, public_ip, ssh_port)
VALUES ($1, 'running', $2, $3::integer)
ON CONFLICT (hostname) DO UPDATE
SET public_ip = EXCLUDED.public_ip, ssh_port = EXCLUDED.ssh_port;

-- name: exporter_bench_clear
DELETE FROM vms WHERE hostname LIKE 'lablink-bench-export-%';
