-- "Export, then destroy" (issue 16): the zips kept on an allocator's disk
-- (export.keep_dir) until the admin has downloaded and deleted them. The
-- file lives on the allocator that made it (allocator = its host name).
CREATE TABLE IF NOT EXISTS export_archives (
    name          text PRIMARY KEY
                  CHECK (name ~ '^lablink_data[0-9]{8}_[0-9]{6}\.zip$'),
    bytes         bigint NOT NULL CHECK (bytes >= 0),
    files         integer NOT NULL DEFAULT 0,
    allocator     text CHECK (length(allocator) <= 255),
    operation_id  bigint,
    created_at    timestamptz NOT NULL DEFAULT now(),
    downloaded_at timestamptz
);
