-- Hardware facts reported by a discovery boot (seedbed.discovery), and the one-use
-- credential each discovery boot is given to report them.
ALTER TABLE discovered ADD COLUMN facts TEXT;              -- JSON (seedbed.discovery.facts)
ALTER TABLE discovered ADD COLUMN facts_at REAL;
ALTER TABLE discovered ADD COLUMN report_token_hash TEXT;  -- sha256 of the report token
ALTER TABLE discovered ADD COLUMN report_addr TEXT;        -- who fetched the discovery boot
ALTER TABLE discovered ADD COLUMN report_expires_at REAL;
CREATE UNIQUE INDEX IF NOT EXISTS discovered_by_report_token ON discovered (report_token_hash);
