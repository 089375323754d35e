-- The cluster's jobs (seedbed.cluster.jobs): one row per rke up run and its retries.
CREATE TABLE IF NOT EXISTS cluster_jobs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    reason       TEXT NOT NULL,
    state        TEXT NOT NULL,          -- queued, running, succeeded, failed, interrupted
    attempt      INTEGER NOT NULL,
    retry_of     INTEGER,
    force        INTEGER NOT NULL,       -- run rke up even if nothing changed
    created_at   REAL NOT NULL,
    not_before   REAL NOT NULL,
    started_at   REAL,
    finished_at  REAL,
    runner       TEXT,                   -- who ran it: service or cli, and the pid
    stage        TEXT,                   -- the last stage reached
    digest       TEXT,                   -- the plan it applied
    rke_digest   TEXT,
    rke_outcome  TEXT,                   -- ok | failed, once rke up ran
    update_only  INTEGER,
    members      TEXT,                   -- JSON: the nodes in its cluster.yml
    outcome      TEXT,
    log          TEXT NOT NULL DEFAULT '',
    child_pid    INTEGER,
    child_start  TEXT
);
CREATE INDEX IF NOT EXISTS cluster_jobs_by_state ON cluster_jobs (state, not_before);
