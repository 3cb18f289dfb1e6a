-- Faster log appends (issue 6): profiled at 2,000-6,000 lines per flush, a
-- third of the flush went to reserving ids one nextval() per line and a
-- third of the COPY to the primary-key index and locale-aware hostname
-- comparisons.
--
-- Line ids are now handed out per flush: one nextval() of vm_logs_blocks
-- gives block b, and the flush's lines get b * 2^20 + 0, 1, 2 ... (a flush
-- holds at most 100,000 lines). Ids stay unique and increasing in the order
-- flushes take their block, across several allocators, without a lock.
-- Every id already stored is below the first block.
CREATE SEQUENCE vm_logs_blocks;
SELECT setval('vm_logs_blocks', (coalesce(max(id), 0) >> 20) + 1, false)
FROM vm_logs;
ALTER TABLE vm_logs ALTER COLUMN id DROP DEFAULT;
DROP SEQUENCE vm_logs_id_seq;

-- Every read and the retention trim go through (hostname, id); the primary
-- key on id alone only cost time on every insert. Uniqueness of id comes from
-- the blocks above.
ALTER TABLE vm_logs DROP CONSTRAINT vm_logs_pkey;

-- Hostnames are ASCII names compared for equality and order within one VM:
-- byte order ("C") is cheaper than the database's locale and means the same.
ALTER TABLE vm_logs ALTER COLUMN hostname TYPE text COLLATE "C";
