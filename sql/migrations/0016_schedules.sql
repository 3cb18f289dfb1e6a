-- Scheduled teardown (issue 16; upstream's scheduled_destructions, reference
-- 3.2 L): the end of a class, kept in the database so it survives a restart
-- and every allocator sees the same schedule. destruction_time is the next
-- time it runs (a recurring schedule moves it forward after each run).
CREATE TABLE IF NOT EXISTS scheduled_destructions (
    id                        serial PRIMARY KEY,
    schedule_name             varchar(255) NOT NULL UNIQUE,
    destruction_time          timestamptz NOT NULL,
    recurrence_rule           varchar(255),
    created_by                varchar(255),
    status                    varchar(50) NOT NULL DEFAULT 'scheduled'
        CHECK (status IN ('scheduled', 'executing', 'completed', 'failed',
                          'cancelled')),
    execution_count           integer NOT NULL DEFAULT 0,
    last_execution_time       timestamptz,
    last_execution_result     text,
    -- upstream stores these and never notifies; kept for its API
    notification_enabled      boolean NOT NULL DEFAULT false,
    notification_hours_before integer NOT NULL DEFAULT 1,
    -- ours: export every VM's data to the allocator's disk first
    export_before_destroy     boolean NOT NULL DEFAULT false,
    -- the operation running it now (status executing), else NULL
    operation_id              bigint,
    -- the first time asked for: a recurrence keeps its time of day
    first_time                timestamptz NOT NULL DEFAULT now(),
    created_at                timestamptz NOT NULL DEFAULT now(),
    updated_at                timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS scheduled_destructions_due
    ON scheduled_destructions (destruction_time) WHERE status = 'scheduled';

-- Since when a VM's GPU has been Unhealthy (recovery.replace_after_s);
-- NULL while it is not.
ALTER TABLE vms ADD COLUMN IF NOT EXISTS unhealthy_since timestamptz;

-- The dashboard lists the latest automatic actions (audit rows of 'auto').
CREATE INDEX IF NOT EXISTS audit_log_auto ON audit_log (id) WHERE actor = 'auto';
