-- Claim and connect (issue 5).

-- LISTEN takes an identifier, not a value: this function lets the listener
-- subscribe to the configured channel with a bound parameter, so the name
-- never becomes SQL text (format's %I quotes it).
CREATE FUNCTION ll_listen(channel text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('LISTEN %I', channel);
END
$$;

-- Assignments not yet acknowledged by their VM: re-read after the listener
-- reconnects (RESYNC), so this stays a small index scan.
CREATE INDEX vms_undelivered ON vms (hostname)
    WHERE crd_command IS NOT NULL AND delivered_at IS NULL;
