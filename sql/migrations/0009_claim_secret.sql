-- The returning student must prove it is them (issue 15 section 1): a
-- claim hands out a secret (cookie and recovery code); only its SHA-256
-- (runtime/recovery.h) is kept with the VM. A re-claim with the email that
-- holds the VM must show the secret. NULL: no secret (a claim made before
-- this migration): nobody can re-claim until the admin resets the claim.
ALTER TABLE vms ADD COLUMN IF NOT EXISTS claim_secret_hash text
    CHECK (claim_secret_hash ~ '^[0-9a-f]{64}$');

-- The student's own page looks the claim up by the hash.
CREATE INDEX IF NOT EXISTS vms_claim_secret_hash ON vms (claim_secret_hash)
    WHERE claim_secret_hash IS NOT NULL;
