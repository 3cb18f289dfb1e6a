-- Heartbeats (issue 6: 10,000 VMs at 1 Hz) rewrite a vms row every second
-- but touch no indexed column. With full pages each new row version went to
-- another page and into every index; with room left on the page PostgreSQL
-- keeps the new version beside the old one (a HOT update: no index writes)
-- and prunes the old one when it next reads the page.
ALTER TABLE vms SET (fillfactor = 50);
