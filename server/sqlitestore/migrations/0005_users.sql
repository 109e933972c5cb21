-- People (issue 12): users with password hashes, dashboard sessions stored by the hash of their
-- ID, API tokens owned by a user, and audit entries that say who (user, token), from where, and
-- the state before and after.
CREATE TABLE users (
    id                  TEXT    PRIMARY KEY,
    name                TEXT    NOT NULL,
    role                TEXT    NOT NULL,
    password_hash       TEXT    NOT NULL,
    password_changed_at INTEGER NOT NULL,
    created_at          INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX users_name ON users (name);

CREATE TABLE sessions (
    id_hash    TEXT    PRIMARY KEY,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL,
    address    TEXT    NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_last_seen ON sessions (last_seen);

ALTER TABLE api_tokens ADD COLUMN owner TEXT NOT NULL DEFAULT '';

ALTER TABLE audit ADD COLUMN actor_user  TEXT NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN actor_token TEXT NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN address     TEXT NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN state_before TEXT NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN state_after  TEXT NOT NULL DEFAULT '';
CREATE INDEX audit_time ON audit (time);
