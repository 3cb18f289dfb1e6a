-- Telemetry and logs (issue 6).

-- Agent log batches already stored, so a retried batch is acknowledged
-- without being stored twice. Rows older than a day are pruned by ingest.
CREATE TABLE vm_log_batches (
    hostname    text NOT NULL,
    source      text NOT NULL CHECK (source ~ '^[0-9a-f]{16}$'),
    seq         bigint NOT NULL CHECK (seq >= 0),
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (hostname, source, seq)
);
CREATE INDEX vm_log_batches_received_at ON vm_log_batches (received_at);
