-- Alerting: rules, alerts with their history, maintenance silences and the notification outbox.
-- Rows keep their full Go value as JSON in data; the columns beside it are what queries filter,
-- order and constrain on.

CREATE TABLE alert_rules (
    id         text        PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now(),
    data       text        NOT NULL   -- JSON alert.Rule
);

-- Default rules of a new server. They live here, not in code run at start, so a rule an operator
-- deleted stays deleted.
INSERT INTO alert_rules (id, data) VALUES
    ('default-silence', '{"id":"default-silence","name":"Host silent","kind":"silence","created_by":"default"}'),
    ('default-cpu', '{"id":"default-cpu","name":"CPU busy above 90% for 5m","kind":"cpu","threshold":90,"for":"5m0s","created_by":"default"}'),
    ('default-memory', '{"id":"default-memory","name":"Memory available below 5% for 5m","kind":"memory","threshold":5,"for":"5m0s","created_by":"default"}'),
    ('default-disk', '{"id":"default-disk","name":"Disk used above 90%","kind":"disk","threshold":90,"for":"1m0s","created_by":"default"}'),
    ('default-load', '{"id":"default-load","name":"Load per core above 2 for 10m","kind":"load","threshold":2,"for":"10m0s","created_by":"default"}'),
    ('default-process', '{"id":"default-process","name":"Watched process gone or restarting","kind":"process","created_by":"default"}'),
    ('default-unit', '{"id":"default-unit","name":"Systemd unit failed","kind":"unit","created_by":"default"}');

CREATE TABLE alerts (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key        text        NOT NULL,
    state      text        NOT NULL,
    host_id    text        NOT NULL DEFAULT '',
    version    bigint      NOT NULL,
    updated_at timestamptz NOT NULL,
    data       text        NOT NULL   -- JSON alert.Alert
);
-- At most one open alert per condition.
CREATE UNIQUE INDEX alerts_open_key ON alerts (key) WHERE state <> 'resolved';
CREATE INDEX alerts_open ON alerts (id) WHERE state <> 'resolved';
CREATE INDEX alerts_host ON alerts (host_id, id);

CREATE TABLE alert_events (
    id       bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id bigint      NOT NULL REFERENCES alerts (id),
    time     timestamptz NOT NULL,
    state    text        NOT NULL,
    message  text        NOT NULL
);
CREATE INDEX alert_events_alert ON alert_events (alert_id, id);

CREATE TABLE silences (
    id        text        PRIMARY KEY,
    starts_at timestamptz NOT NULL,
    ends_at   timestamptz NOT NULL,
    data      text        NOT NULL   -- JSON alert.Silence
);
CREATE INDEX silences_ends ON silences (ends_at);

-- The outbox. key is the idempotency key; a row is claimed by setting claimed_until in the future
-- only where it is in the past, so two senders never hold one row.
CREATE TABLE notifications (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key           text        NOT NULL UNIQUE,
    created_at    timestamptz NOT NULL,
    next_attempt  timestamptz NOT NULL,
    claimed_until timestamptz NOT NULL DEFAULT '-infinity',
    claimed_by    text        NOT NULL DEFAULT '',
    attempts      integer     NOT NULL DEFAULT 0,
    sent_at       timestamptz,
    outcome       text        NOT NULL DEFAULT '',
    last_error    text        NOT NULL DEFAULT '',
    data          text        NOT NULL   -- JSON alert.Notification (message fields)
);
CREATE INDEX notifications_due ON notifications (next_attempt) WHERE sent_at IS NULL;
