-- VM credentials per launch (issue 15 section 2). Each launch of a VM (and
-- each "bring your own VM" registration) mints a random token; only its
-- SHA-256 is stored, with a generation number from one sequence, so the
-- generations of a hostname only grow, also across destroy and relaunch.
-- Replacing the hash (a new launch, a replace) or deleting the row (a
-- destroy) revokes the old token: its hash moves to vm_tokens_revoked
-- (so an old token is told "token revoked", not "invalid") and the
-- allocators hear of it on the channel lablink_vm_tokens ("<hostname>
-- <new generation>", 0 when the row is gone): they drop the cached token
-- and every parked waiter of an older generation.

ALTER TABLE vms ADD COLUMN IF NOT EXISTS token_hash text
    CHECK (token_hash ~ '^[0-9a-f]{64}$');
ALTER TABLE vms ADD COLUMN IF NOT EXISTS token_generation bigint;

CREATE SEQUENCE IF NOT EXISTS vm_token_generations;

CREATE TABLE IF NOT EXISTS vm_tokens_revoked (
    token_hash text PRIMARY KEY CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    hostname   text NOT NULL,
    generation bigint,
    revoked_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS vm_tokens_revoked_at
    ON vm_tokens_revoked (revoked_at);

CREATE OR REPLACE FUNCTION vms_token_revoke() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO vm_tokens_revoked (token_hash, hostname, generation)
    VALUES (OLD.token_hash, OLD.hostname, OLD.token_generation)
    ON CONFLICT (token_hash) DO NOTHING;
    PERFORM pg_notify('lablink_vm_tokens',
                      OLD.hostname || ' ' || CASE WHEN TG_OP = 'DELETE'
                          THEN 0 ELSE coalesce(NEW.token_generation, 0) END);
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS vms_token_replaced ON vms;
CREATE TRIGGER vms_token_replaced
    AFTER UPDATE OF token_hash ON vms
    FOR EACH ROW
    WHEN (OLD.token_hash IS NOT NULL
          AND OLD.token_hash IS DISTINCT FROM NEW.token_hash)
    EXECUTE FUNCTION vms_token_revoke();

DROP TRIGGER IF EXISTS vms_token_deleted ON vms;
CREATE TRIGGER vms_token_deleted
    AFTER DELETE ON vms
    FOR EACH ROW WHEN (OLD.token_hash IS NOT NULL)
    EXECUTE FUNCTION vms_token_revoke();

-- The assignment's NOTIFY also names the generation it is for: a waiter
-- of another generation never gets the PIN (upstream's keys unchanged).
CREATE OR REPLACE FUNCTION vms_notify_crd_command() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(
        coalesce((SELECT value FROM settings WHERE key = 'message_channel'),
                 'vm_updates'),
        json_build_object('HostName', NEW.hostname,
                          'CrdCommand', NEW.crd_command,
                          'Pin', NEW.pin,
                          'Generation', NEW.token_generation)::text);
    RETURN NEW;
END
$$;
