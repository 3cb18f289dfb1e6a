-- Release wipes the desktop before the next student (issue 15 section 3).
-- A released VM is withheld from the pool while release_pending is set:
--   'reset'    its agent must end the session and restore the home, and
--              confirm reset_id (POST /api/vm-reset-result)
--   'replace'  terraform replaces it (claim.on_release: destroy)
ALTER TABLE vms ADD COLUMN IF NOT EXISTS release_pending text
    CHECK (release_pending IN ('reset', 'replace'));
ALTER TABLE vms ADD COLUMN IF NOT EXISTS reset_id text
    CHECK (reset_id ~ '^[0-9a-f]{32}$');
ALTER TABLE vms ADD COLUMN IF NOT EXISTS reset_requested_at timestamptz;

-- The free rows, exactly the assignment predicate (a withheld VM is not
-- free).
DROP INDEX IF EXISTS vms_free;
CREATE INDEX vms_free ON vms (hostname)
    WHERE status = 'running' AND user_email IS NULL
      AND release_pending IS NULL;

-- A new reset reaches the VM's parked long-poll on every allocator through
-- the assignment channel. CrdCommand and Pin are null, so listeners that
-- only want assignments (upstream's shape) ignore it.
CREATE OR REPLACE FUNCTION vms_notify_reset() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(
        coalesce((SELECT value FROM settings WHERE key = 'message_channel'),
                 'vm_updates'),
        json_build_object('HostName', NEW.hostname, 'CrdCommand', NULL,
                          'Pin', NULL, 'Reset', NEW.reset_id)::text);
    RETURN NEW;
END
$$;

DROP TRIGGER IF EXISTS vms_reset_notify ON vms;
CREATE TRIGGER vms_reset_notify
    AFTER UPDATE OF reset_id ON vms
    FOR EACH ROW WHEN (NEW.reset_id IS NOT NULL)
    EXECUTE FUNCTION vms_notify_reset();
