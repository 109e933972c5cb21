-- Alerting: rules, alerts with their history, maintenance silences and the notification outbox.
-- Rows keep their full Go value as JSON in data; the columns beside it are what queries filter,
-- order and constrain on.

CREATE TABLE alert_rules (
    id         TEXT    PRIMARY KEY,
    created_at INTEGER NOT NULL,
    data       TEXT    NOT NULL   -- JSON alert.Rule
) STRICT;

-- Default rules of a new server. They live here, not in code run at start, so a rule an operator
-- deleted stays deleted.
INSERT INTO alert_rules (id, created_at, data) VALUES
    ('default-silence', CAST(unixepoch('subsec') * 1000000 AS INTEGER),
     '{"id":"default-silence","name":"Host silent","kind":"silence","created_by":"default"}'),
    ('default-cpu', CAST(unixepoch('subsec') * 1000000 AS INTEGER),
     '{"id":"default-cpu","name":"CPU busy above 90% for 5m","kind":"cpu","threshold":90,"for":"5m0s","created_by":"default"}'),
    ('default-memory', CAST(unixepoch('subsec') * 1000000 AS INTEGER),
     '{"id":"default-memory","name":"Memory available below 5% for 5m","kind":"memory","threshold":5,"for":"5m0s","created_by":"default"}'),
    ('default-disk', CAST(unixepoch('subsec') * 1000000 AS INTEGER),
     '{"id":"default-disk","name":"Disk used above 90%","kind":"disk","threshold":90,"for":"1m0s","created_by":"default"}'),
    ('default-load', CAST(unixepoch('subsec') * 1000000 AS INTEGER),
     '{"id":"default-load","name":"Load per core above 2 for 10m","kind":"load","threshold":2,"for":"10m0s","created_by":"default"}'),
    ('default-process', CAST(unixepoch('subsec') * 1000000 AS INTEGER),
     '{"id":"default-process","name":"Watched process gone or restarting","kind":"process","created_by":"default"}'),
    ('default-unit', CAST(unixepoch('subsec') * 1000000 AS INTEGER),
     '{"id":"default-unit","name":"Systemd unit failed","kind":"unit","created_by":"default"}');

CREATE TABLE alerts (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    key        TEXT    NOT NULL,
    state      TEXT    NOT NULL,
    host_id    TEXT    NOT NULL DEFAULT '',
    version    INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    data       TEXT    NOT NULL   -- JSON alert.Alert
) STRICT;
-- At most one open alert per condition.
CREATE UNIQUE INDEX alerts_open_key ON alerts (key) WHERE state <> 'resolved';
CREATE INDEX alerts_open ON alerts (id) WHERE state <> 'resolved';
CREATE INDEX alerts_host ON alerts (host_id, id);

CREATE TABLE alert_events (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id INTEGER NOT NULL REFERENCES alerts (id),
    time     INTEGER NOT NULL,
    state    TEXT    NOT NULL,
    message  TEXT    NOT NULL
) STRICT;
CREATE INDEX alert_events_alert ON alert_events (alert_id, id);

CREATE TABLE silences (
    id        TEXT    PRIMARY KEY,
    starts_at INTEGER NOT NULL,
    ends_at   INTEGER NOT NULL,
    data      TEXT    NOT NULL   -- JSON alert.Silence
) STRICT;
CREATE INDEX silences_ends ON silences (ends_at);

-- The outbox. key is the idempotency key; a row is claimed by setting claimed_until in the future
-- only where it is in the past, so two senders never hold one row.
CREATE TABLE notifications (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    key           TEXT    NOT NULL UNIQUE,
    created_at    INTEGER NOT NULL,
    next_attempt  INTEGER NOT NULL,
    claimed_until INTEGER NOT NULL DEFAULT 0,
    claimed_by    TEXT    NOT NULL DEFAULT '',
    attempts      INTEGER NOT NULL DEFAULT 0,
    sent_at       INTEGER,
    outcome       TEXT    NOT NULL DEFAULT '',
    last_error    TEXT    NOT NULL DEFAULT '',
    data          TEXT    NOT NULL   -- JSON alert.Notification (message fields)
) STRICT;
CREATE INDEX notifications_due ON notifications (next_attempt) WHERE sent_at IS NULL;
