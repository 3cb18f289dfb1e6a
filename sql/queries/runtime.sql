-- Statements the runtime itself uses: migrations, settings, health.

-- name: migrate_lock
SELECT pg_advisory_xact_lock(1280068684);

-- name: migrate_create_table
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- name: migrate_applied
SELECT version FROM schema_migrations ORDER BY version;

-- name: migrate_record
INSERT INTO schema_migrations (version, name) VALUES ($1::integer, $2);

-- name: settings_put
INSERT INTO settings (key, value) VALUES ($1, $2)
ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value;

-- name: settings_get
SELECT value FROM settings WHERE key = $1;

-- name: health_ping
SELECT 1;

-- name: settings_init
INSERT INTO settings (key, value) VALUES ($1, $2)
ON CONFLICT (key) DO NOTHING;
