-- Admin console: browser sessions and login throttling (issue 8).
-- Both live in the database so every allocator sharing it agrees: a session
-- made by one is valid on all, a logout on one ends it everywhere, and
-- failed logins count against an address whichever process saw them.

-- A browser session of the admin. The cookie holds a random id; only its
-- SHA-256 (hex) is stored, so a copy of this table opens no session.
CREATE TABLE admin_sessions (
    id_hash      text PRIMARY KEY CHECK (id_hash ~ '^[0-9a-f]{64}$'),
    actor        text NOT NULL CHECK (length(actor) <= 200),
    address      text CHECK (length(address) <= 64),
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX admin_sessions_last_seen ON admin_sessions (last_seen_at);

-- One row per failed login (form or Basic), for the per-address limit.
CREATE TABLE admin_login_failures (
    id      bigserial PRIMARY KEY,
    address text NOT NULL CHECK (length(address) <= 64),
    at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX admin_login_failures_address_at
    ON admin_login_failures (address, at);
