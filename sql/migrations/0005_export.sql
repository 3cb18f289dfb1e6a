-- Data export (issue 7): where each VM's sshd listens, and the SSH host key
-- pinned at first contact.
--
-- vms.public_ip (0001) is the address the exporter connects to; the local
-- provider stores its loopback address there (127.0.1.N). ssh_port is the
-- port of that VM's sshd (NULL = export.ssh_port, 22 by default). IF NOT
-- EXISTS: the provision migration (0004) may add the same column.
ALTER TABLE vms ADD COLUMN IF NOT EXISTS ssh_port integer
    CHECK (ssh_port BETWEEN 1 AND 65535);

-- Trust on first use: the first key a VM's sshd offers is stored; a later
-- different key is refused (and reported) until an admin deletes the row.
-- A VM row's removal (destroy) removes its pin.
CREATE TABLE ssh_host_keys (
    hostname   text PRIMARY KEY REFERENCES vms (hostname) ON DELETE CASCADE,
    key_type   text NOT NULL CHECK (length(key_type) <= 64),
    key_base64 text NOT NULL CHECK (length(key_base64) <= 8192),
    sha256     text NOT NULL CHECK (length(sha256) <= 64),
    pinned_at  timestamptz NOT NULL DEFAULT now()
);
