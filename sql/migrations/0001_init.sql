-- The foundation schema (ARCHITECTURE.md section 4). Applied once, inside
-- the migration transaction, recorded in schema_migrations.

CREATE TABLE settings (
    key   text PRIMARY KEY,
    value text NOT NULL
);

CREATE TABLE vms (
    hostname      text PRIMARY KEY
                  CHECK (hostname ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$'),
    status        text
                  CHECK (status IN ('initializing', 'running', 'error',
                                    'unknown', 'rebooting')),
    user_email    text CHECK (length(user_email) <= 320),
    crd_command   text CHECK (length(crd_command) <= 1024),
    pin           text CHECK (pin ~ '^[0-9]{6}$'),
    assigned_at   timestamptz,
    delivered_at  timestamptz,
    in_use        boolean NOT NULL DEFAULT false,
    gpu_health    text CHECK (gpu_health IN ('Healthy', 'Unhealthy', 'N/A')),
    last_seen_at  timestamptz,
    public_ip     text,
    boot_id       text CHECK (length(boot_id) <= 64),
    crd_active    boolean,
    disk_free_pct smallint CHECK (disk_free_pct BETWEEN 0 AND 100),
    terraform_start_time        timestamptz,
    terraform_end_time          timestamptz,
    terraform_duration_seconds  double precision
                                CHECK (terraform_duration_seconds >= 0),
    cloud_init_start_time       timestamptz,
    cloud_init_end_time         timestamptz,
    cloud_init_duration_seconds double precision
                                CHECK (cloud_init_duration_seconds >= 0),
    container_start_time        timestamptz,
    container_end_time          timestamptz,
    container_duration_seconds  double precision
                                CHECK (container_duration_seconds >= 0),
    -- Known only once every part is known: a partial sum would mislead
    -- (reference 12.23), and the database keeps it current by itself.
    total_startup_seconds double precision GENERATED ALWAYS AS
        (terraform_duration_seconds + cloud_init_duration_seconds
         + container_duration_seconds) STORED,
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- An assignment is whole or absent
    CHECK ((crd_command IS NULL) = (pin IS NULL))
);

-- The free rows, exactly the assignment predicate: makes claims fast.
CREATE INDEX vms_free ON vms (hostname)
    WHERE status = 'running' AND user_email IS NULL;
CREATE INDEX vms_user_email ON vms (user_email) WHERE user_email IS NOT NULL;

-- NOTIFY on the configured channel (settings.message_channel) with the
-- upstream payload keys. pg_notify takes the channel as a value, so the
-- configured name never becomes SQL text.
CREATE FUNCTION vms_notify_crd_command() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(
        coalesce((SELECT value FROM settings WHERE key = 'message_channel'),
                 'vm_updates'),
        json_build_object('HostName', NEW.hostname,
                          'CrdCommand', NEW.crd_command,
                          'Pin', NEW.pin)::text);
    RETURN NEW;
END
$$;

CREATE TRIGGER vms_crd_command_notify
    AFTER INSERT OR UPDATE OF crd_command ON vms
    FOR EACH ROW WHEN (NEW.crd_command IS NOT NULL)
    EXECUTE FUNCTION vms_notify_crd_command();

CREATE TABLE vm_logs (
    id          bigserial PRIMARY KEY,
    hostname    text NOT NULL,
    stream      text NOT NULL CHECK (stream IN ('cloud_init', 'docker', 'agent')),
    received_at timestamptz NOT NULL DEFAULT now(),
    line        text NOT NULL
);
CREATE INDEX vm_logs_hostname_id ON vm_logs (hostname, id);

CREATE TABLE operations (
    id          bigserial PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('launch', 'destroy')),
    status      text NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    requested   integer NOT NULL DEFAULT 0 CHECK (requested >= 0),
    done        integer NOT NULL DEFAULT 0,
    total       integer NOT NULL DEFAULT 0,
    output      text NOT NULL DEFAULT '',
    error       text,
    created_by  text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    started_at  timestamptz,
    finished_at timestamptz
);
-- "One operation at a time" is a database fact.
CREATE UNIQUE INDEX operations_one_active ON operations ((true))
    WHERE status IN ('queued', 'running');

CREATE TABLE audit_log (
    id      bigserial PRIMARY KEY,
    at      timestamptz NOT NULL DEFAULT now(),
    actor   text NOT NULL,
    action  text NOT NULL,
    target  text,
    outcome text NOT NULL,
    detail  text
);
CREATE INDEX audit_log_at ON audit_log (at);
