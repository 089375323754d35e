-- The store as the first release made it (IF NOT EXISTS: state folders made before
-- versioned schemas already hold these tables).
CREATE TABLE IF NOT EXISTS nodes (
    hostname      TEXT PRIMARY KEY,
    state         TEXT NOT NULL,
    state_since   REAL NOT NULL,
    armed_until   REAL,                 -- armed until then (NULL: not armed)
    install_id    INTEGER,              -- the install in progress or last finished
    facts         TEXT,                 -- JSON of the last ready report
    health        TEXT,                 -- JSON list of reasons a node is unhealthy
    last_event    TEXT,
    last_event_at REAL
);
CREATE TABLE IF NOT EXISTS installs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    hostname    TEXT NOT NULL,
    mac         TEXT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    boot_addr   TEXT,                   -- who fetched the boot script that began it
    method      TEXT NOT NULL,
    state       TEXT NOT NULL,          -- issued, installing, installed, ready, failed, superseded
    created_at  REAL NOT NULL,
    expires_at  REAL NOT NULL,          -- seeds are served until then
    finished_at REAL,
    log         TEXT                    -- excerpt posted with a failure
);
CREATE TABLE IF NOT EXISTS events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          REAL NOT NULL,
    hostname    TEXT,
    mac         TEXT,
    install_id  INTEGER,
    kind        TEXT NOT NULL,
    message     TEXT NOT NULL,
    data        TEXT
);
CREATE INDEX IF NOT EXISTS installs_by_host ON installs (hostname, id);
CREATE INDEX IF NOT EXISTS events_by_host ON events (hostname, id);
CREATE INDEX IF NOT EXISTS events_by_install ON events (install_id, id);
CREATE TABLE IF NOT EXISTS dropped (
    scope       TEXT PRIMARY KEY,       -- events, node:HOST, install:ID, without-node,
                                        -- discovered, installs:HOST
    count       INTEGER NOT NULL        -- rows rolled off to keep the store bounded
);
CREATE TABLE IF NOT EXISTS event_counts (
    scope       TEXT PRIMARY KEY,       -- node:HOST, install:ID, without-node
    count       INTEGER NOT NULL        -- events of that scope now in the table
);
CREATE TABLE IF NOT EXISTS discovered (
    mac         TEXT PRIMARY KEY,
    first_seen  REAL NOT NULL,
    last_seen   REAL NOT NULL,
    boots       INTEGER NOT NULL,
    buildarch   TEXT,
    platform    TEXT,
    uuid        TEXT,
    accepted_as TEXT
);
CREATE TABLE IF NOT EXISTS admin_tokens (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash  TEXT NOT NULL UNIQUE,
    label       TEXT NOT NULL,
    created_at  REAL NOT NULL
);
