-- Whether a VM is offered to a new student, written once for the claim
-- (claim_free and the wait behind it), the free count and /metrics: running,
-- nobody's, not withheld for a reset, seen within stale_s, its client
-- waiting within poll_window_s (migration 0024), its GPU not known bad, and
-- not on its way out: fleet_state, its fleet row's state (callers join
-- fleet; NULL for a VM outside the fleet), is not 'removing' (a destroy, or
-- an export-destroy that exports for minutes before it destroys). A plain
-- SQL function without a sub-select, so the planner inlines it into each
-- query (a sub-select here stopped that: claims fell from 5,000 to 1,800/s).
CREATE OR REPLACE FUNCTION ll_vm_offered(v vms, fleet_state text,
                                         stale_s integer,
                                         poll_window_s integer)
RETURNS boolean
LANGUAGE sql STABLE AS $$
SELECT v.status = 'running' AND v.user_email IS NULL
   AND v.release_pending IS NULL
   AND v.last_seen_at >= now() - make_interval(secs => stale_s)
   AND v.gpu_health IS DISTINCT FROM 'Unhealthy'
   AND v.last_polled_at >= now() - make_interval(secs => poll_window_s)
   AND fleet_state IS DISTINCT FROM 'removing'
$$;
