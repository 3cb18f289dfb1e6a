-- Provision (issue 4): the fleet as a durable list of VM names, never
-- "requested + row count" (reference 12.16): terraform is always given
-- exactly these names (for_each), so losing or corrupting vms rows cannot
-- make it destroy a VM nobody asked to destroy.

CREATE TABLE fleet (
    hostname     text PRIMARY KEY
                 CHECK (hostname ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$'),
    -- the trailing number of the name (lablink-vm-prod-3 -> 3)
    ordinal      integer NOT NULL UNIQUE CHECK (ordinal > 0),
    -- pending: asked for by a launch still running; active: terraform made
    -- it; removing: asked to go by a destroy still running
    state        text NOT NULL DEFAULT 'pending'
                 CHECK (state IN ('pending', 'active', 'removing')),
    operation_id bigint REFERENCES operations (id),
    added_at     timestamptz NOT NULL DEFAULT now()
);

-- Operations on one VM besides launch and destroy
ALTER TABLE operations DROP CONSTRAINT operations_kind_check;
ALTER TABLE operations ADD CONSTRAINT operations_kind_check
    CHECK (kind IN ('launch', 'destroy', 'destroy-vm', 'replace-vm'));
ALTER TABLE operations ADD COLUMN target text;

-- Where a VM's sshd listens (the local provider shares one address space)
ALTER TABLE vms ADD COLUMN ssh_port integer CHECK (ssh_port BETWEEN 1 AND 65535);
