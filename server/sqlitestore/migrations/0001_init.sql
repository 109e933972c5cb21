-- The initial schema. Times are INTEGER microseconds since the Unix epoch (UTC); NULL where a time
-- is unknown. JSON columns hold TEXT.

CREATE TABLE groups (
    name         TEXT    PRIMARY KEY,
    grace_ns     INTEGER NOT NULL DEFAULT 0,
    alert_emails TEXT    NOT NULL DEFAULT '[]',
    pin_version  TEXT    NOT NULL DEFAULT '',
    pin_channel  TEXT    NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL
) STRICT;

INSERT INTO groups (name, created_at) VALUES ('default', CAST(unixepoch('subsec') * 1000000 AS INTEGER));

CREATE TABLE hosts (
    id               TEXT    PRIMARY KEY,
    hostname         TEXT    NOT NULL,
    machine_id       TEXT    NOT NULL DEFAULT '',
    os               TEXT    NOT NULL DEFAULT '',
    arch             TEXT    NOT NULL DEFAULT '',
    group_name       TEXT    NOT NULL REFERENCES groups (name),
    enrolled_at      INTEGER NOT NULL,
    revoked          INTEGER NOT NULL DEFAULT 0,
    credential_hash  TEXT    NOT NULL,
    agent_version    TEXT    NOT NULL DEFAULT '',
    updater_version  TEXT    NOT NULL DEFAULT '',
    interval_seconds INTEGER NOT NULL DEFAULT 0,
    last_seen        INTEGER,
    acked_seq        INTEGER NOT NULL DEFAULT 0,
    boot_time        INTEGER,
    latest           TEXT,  -- JSON wire.Report, the newest stored
    last_update      TEXT   -- JSON server.UpdateEvent, the last added
) STRICT;
CREATE UNIQUE INDEX hosts_credential_hash ON hosts (credential_hash);
CREATE INDEX hosts_group_name ON hosts (group_name);
CREATE INDEX hosts_hostname ON hosts (hostname, id);

-- samples keeps every stored report whole, plus the figures charts and alert rules read.
CREATE TABLE samples (
    host_id           TEXT    NOT NULL REFERENCES hosts (id),
    seq               INTEGER NOT NULL,
    time              INTEGER NOT NULL,
    cpu_busy_pct      REAL,
    mem_used_pct      REAL,
    load1             REAL,
    disk_max_used_pct REAL,
    report            TEXT    NOT NULL,
    PRIMARY KEY (host_id, seq)
) STRICT;
CREATE INDEX samples_host_time ON samples (host_id, time);
CREATE INDEX samples_time ON samples (time);

CREATE TABLE outages (
    host_id    TEXT    NOT NULL REFERENCES hosts (id),
    start_time INTEGER NOT NULL,
    end_time   INTEGER NOT NULL,
    class      TEXT    NOT NULL,
    detail     TEXT    NOT NULL DEFAULT '',
    UNIQUE (host_id, start_time, end_time, class, detail)
) STRICT;
CREATE INDEX outages_host_end ON outages (host_id, end_time);
CREATE INDEX outages_end ON outages (end_time);

CREATE TABLE enrollment_tokens (
    id         TEXT    PRIMARY KEY,
    hash       TEXT    NOT NULL,
    group_name TEXT    NOT NULL REFERENCES groups (name) ON DELETE CASCADE,
    expires_at INTEGER,             -- NULL: never expires
    max_uses   INTEGER NOT NULL,    -- 0 or less: unlimited
    uses       INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    created_by TEXT    NOT NULL DEFAULT '',
    revoked    INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE UNIQUE INDEX enrollment_tokens_hash ON enrollment_tokens (hash);

CREATE TABLE api_tokens (
    id         TEXT    PRIMARY KEY,
    name       TEXT    NOT NULL DEFAULT '',
    role       TEXT    NOT NULL,
    hash       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    revoked    INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE UNIQUE INDEX api_tokens_hash ON api_tokens (hash);

CREATE TABLE update_events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    host_id      TEXT    NOT NULL REFERENCES hosts (id),
    binary_name  TEXT    NOT NULL DEFAULT '',
    from_version TEXT    NOT NULL DEFAULT '',
    to_version   TEXT    NOT NULL DEFAULT '',
    phase        TEXT    NOT NULL,
    result       TEXT    NOT NULL,
    reason       TEXT    NOT NULL DEFAULT '',
    time         INTEGER NOT NULL,
    received_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX update_events_host ON update_events (host_id, id);

CREATE TABLE audit (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    time   INTEGER NOT NULL,
    actor  TEXT    NOT NULL DEFAULT '',
    action TEXT    NOT NULL,
    target TEXT    NOT NULL DEFAULT '',
    detail TEXT    NOT NULL DEFAULT ''
) STRICT;
