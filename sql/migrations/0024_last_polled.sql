-- When the VM's client last asked for an assignment (issue 20): /vm_startup,
-- the gateway's WAIT (refreshed while parked) and, for the pg transport, a
-- heartbeat saying "waiting". A VM is offered to students only while its
-- client waits (within agent.long_poll_s + 20 s), so a client that stopped
-- listening after its first assignment (upstream's subscribe) is not
-- offered again after a release. A claim consumes it (set to NULL).
ALTER TABLE vms ADD COLUMN IF NOT EXISTS last_polled_at timestamptz;
