-- The initial schema. Times are timestamptz (microseconds); NULL where a time is unknown.

CREATE TABLE groups (
    name         text        PRIMARY KEY,
    grace_ns     bigint      NOT NULL DEFAULT 0,
    alert_emails jsonb       NOT NULL DEFAULT '[]',
    pin_version  text        NOT NULL DEFAULT '',
    pin_channel  text        NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now()
);

INSERT INTO groups (name) VALUES ('default');

-- hosts is updated by every ingest commit: leave room on each page so those updates stay HOT
-- (no index changes, no new index entries).
CREATE TABLE hosts (
    id               text        PRIMARY KEY,
    hostname         text        NOT NULL,
    machine_id       text        NOT NULL DEFAULT '',
    os               text        NOT NULL DEFAULT '',
    arch             text        NOT NULL DEFAULT '',
    group_name       text        NOT NULL REFERENCES groups (name),
    enrolled_at      timestamptz NOT NULL,
    revoked          boolean     NOT NULL DEFAULT false,
    credential_hash  text        NOT NULL,
    agent_version    text        NOT NULL DEFAULT '',
    updater_version  text        NOT NULL DEFAULT '',
    interval_seconds integer     NOT NULL DEFAULT 0,
    last_seen        timestamptz,
    acked_seq        bigint      NOT NULL DEFAULT 0,
    boot_time        timestamptz,
    latest           json,  -- wire.Report, the newest stored
    last_update      json   -- server.UpdateEvent, the last added
) WITH (fillfactor = 50);
CREATE UNIQUE INDEX hosts_credential_hash ON hosts (credential_hash);
CREATE INDEX hosts_group_name ON hosts (group_name);
CREATE INDEX hosts_hostname ON hosts (hostname, id);

-- samples keeps every stored report whole (json: stored as sent, cheaper to ingest than jsonb),
-- plus the figures charts and alert rules read. No foreign key: CommitReports holds the host row
-- locked while it writes, and a per-row RI check would cost ingest throughput. The BRIN index
-- serves retention (samples arrive roughly in time order) at almost no ingest cost.
CREATE TABLE samples (
    host_id           text        NOT NULL,
    seq               bigint      NOT NULL,
    time              timestamptz NOT NULL,
    cpu_busy_pct      real,
    mem_used_pct      real,
    load1             real,
    disk_max_used_pct real,
    report            json        NOT NULL,
    PRIMARY KEY (host_id, seq)
);
CREATE INDEX samples_host_time ON samples (host_id, time);
CREATE INDEX samples_time ON samples USING brin (time);

CREATE TABLE outages (
    host_id    text        NOT NULL REFERENCES hosts (id),
    start_time timestamptz NOT NULL,
    end_time   timestamptz NOT NULL,
    class      text        NOT NULL,
    detail     text        NOT NULL DEFAULT '',
    UNIQUE (host_id, start_time, end_time, class, detail)
);
CREATE INDEX outages_host_end ON outages (host_id, end_time);
CREATE INDEX outages_end ON outages (end_time);

CREATE TABLE enrollment_tokens (
    id         text        PRIMARY KEY,
    hash       text        NOT NULL,
    group_name text        NOT NULL REFERENCES groups (name) ON DELETE CASCADE,
    expires_at timestamptz,            -- NULL: never expires
    max_uses   integer     NOT NULL,   -- 0 or less: unlimited
    uses       integer     NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL,
    created_by text        NOT NULL DEFAULT '',
    revoked    boolean     NOT NULL DEFAULT false,
    seq        bigint      GENERATED ALWAYS AS IDENTITY  -- insertion order, breaks created_at ties
);
CREATE UNIQUE INDEX enrollment_tokens_hash ON enrollment_tokens (hash);

CREATE TABLE api_tokens (
    id         text        PRIMARY KEY,
    name       text        NOT NULL DEFAULT '',
    role       text        NOT NULL,
    hash       text        NOT NULL,
    created_at timestamptz NOT NULL,
    revoked    boolean     NOT NULL DEFAULT false,
    seq        bigint      GENERATED ALWAYS AS IDENTITY
);
CREATE UNIQUE INDEX api_tokens_hash ON api_tokens (hash);

CREATE TABLE update_events (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    host_id      text        NOT NULL REFERENCES hosts (id),
    binary_name  text        NOT NULL DEFAULT '',
    from_version text        NOT NULL DEFAULT '',
    to_version   text        NOT NULL DEFAULT '',
    phase        text        NOT NULL,
    result       text        NOT NULL,
    reason       text        NOT NULL DEFAULT '',
    time         timestamptz NOT NULL,
    received_at  timestamptz NOT NULL
);
CREATE INDEX update_events_host ON update_events (host_id, id);

CREATE TABLE audit (
    id     bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    time   timestamptz NOT NULL,
    actor  text        NOT NULL DEFAULT '',
    action text        NOT NULL,
    target text        NOT NULL DEFAULT '',
    detail text        NOT NULL DEFAULT ''
);

-- Reports (~2 KB of JSON) sit just above the 2 KB TOAST threshold, so every sample and every
-- host's latest report is compressed on write. lz4 does that several times faster than the default
-- pglz at a similar ratio (ingest measured ~25% faster). It needs PostgreSQL 14+ built with lz4;
-- elsewhere the columns keep the default and everything else works the same.
DO $$
BEGIN
    EXECUTE 'ALTER TABLE samples ALTER COLUMN report SET COMPRESSION lz4';
    EXECUTE 'ALTER TABLE hosts ALTER COLUMN latest SET COMPRESSION lz4';
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'lz4 compression unavailable, keeping the default: %', SQLERRM;
END $$;
