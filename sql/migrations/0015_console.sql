-- Running a class from the console (issue 16): what the console knows
-- about each VM's connection, its reboots, and why it needs a look. Every
-- statement stands alone (IF NOT EXISTS / OR REPLACE): other branches'
-- migrations may touch the same tables.

-- The agent's last start-host outcome (POST /api/vm-startup-result):
-- success, the agent's reason on failure, and when.
ALTER TABLE vms ADD COLUMN IF NOT EXISTS start_host_ok boolean;
ALTER TABLE vms ADD COLUMN IF NOT EXISTS start_host_error text
    CHECK (length(start_host_error) <= 1000);
ALTER TABLE vms ADD COLUMN IF NOT EXISTS start_host_at timestamptz;
-- Reboots through the provider (upstream's reboot_count, last_reboot_time)
ALTER TABLE vms ADD COLUMN IF NOT EXISTS reboot_count integer NOT NULL DEFAULT 0;
ALTER TABLE vms ADD COLUMN IF NOT EXISTS last_reboot_time timestamptz;
-- When in_use last changed: "not in use for N seconds" (idle release)
ALTER TABLE vms ADD COLUMN IF NOT EXISTS in_use_changed_at timestamptz;
-- Why the console should show this VM (set by automatic recovery, e.g. a
-- student moved off it); NULL when nothing needs saying.
ALTER TABLE vms ADD COLUMN IF NOT EXISTS attention text
    CHECK (length(attention) <= 300);

-- The one state a VM is in, as the dashboard counts it (first rule that
-- holds): error, stale (silent for stale_s), unhealthy (GPU), starting (not
-- running yet), free, in_use, connected (the student's desktop is online),
-- connecting (start-host ran), assigned (waiting for the VM to take it).
CREATE OR REPLACE FUNCTION ll_vm_state(v vms, stale_s integer) RETURNS text
LANGUAGE sql STABLE AS $$
SELECT CASE
    WHEN v.status = 'error' THEN 'error'
    WHEN coalesce(v.last_seen_at, v.created_at)
         < now() - make_interval(secs => stale_s) THEN 'stale'
    WHEN v.gpu_health = 'Unhealthy' THEN 'unhealthy'
    WHEN v.status IS DISTINCT FROM 'running' THEN 'starting'
    WHEN v.user_email IS NULL THEN 'free'
    WHEN v.in_use THEN 'in_use'
    WHEN v.delivered_at IS NOT NULL AND v.crd_active THEN 'connected'
    WHEN v.delivered_at IS NOT NULL THEN 'connecting'
    ELSE 'assigned'
END
$$;

-- Operations on VMs besides launch and destroy: a reboot through the
-- provider, a replacement under a new name, and "export, then destroy".
ALTER TABLE operations DROP CONSTRAINT IF EXISTS operations_kind_check;
ALTER TABLE operations ADD CONSTRAINT operations_kind_check
    CHECK (kind IN ('launch', 'destroy', 'destroy-vm', 'replace-vm',
                    'move-vm', 'reboot-vm', 'export-destroy'));
