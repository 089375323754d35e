-- Power control (seedbed.power): one row per action on a node's power and its retries,
-- and the last power state read from each node's BMC.
CREATE TABLE IF NOT EXISTS power_jobs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    hostname     TEXT NOT NULL,
    action       TEXT NOT NULL,          -- on, off, cycle, reinstall (network once, then cycle)
    who          TEXT NOT NULL,          -- cli, api:<token label>
    state        TEXT NOT NULL,          -- queued, running, succeeded, failed, interrupted
    attempt      INTEGER NOT NULL,
    retry_of     INTEGER,
    created_at   REAL NOT NULL,
    not_before   REAL NOT NULL,
    started_at   REAL,
    finished_at  REAL,
    runner       TEXT,
    stage        TEXT,
    outcome      TEXT,
    log          TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS power_jobs_by_state ON power_jobs (state, not_before);
CREATE INDEX IF NOT EXISTS power_jobs_by_host ON power_jobs (hostname, id);
CREATE TABLE IF NOT EXISTS power_status (
    hostname     TEXT PRIMARY KEY,
    state        TEXT NOT NULL,          -- on, off, unknown
    checked_at   REAL NOT NULL,
    error        TEXT                    -- why the last read failed (state is then unknown)
);
