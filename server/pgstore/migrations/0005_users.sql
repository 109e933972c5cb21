-- People (issue 12): users with password hashes, dashboard sessions stored by the hash of their
-- ID, API tokens owned by a user, and audit entries that say who (user, token), from where, and
-- the state before and after.
CREATE TABLE users (
    id                  text        PRIMARY KEY,
    name                text        NOT NULL,
    role                text        NOT NULL,
    password_hash       text        NOT NULL,
    password_changed_at timestamptz NOT NULL,
    created_at          timestamptz NOT NULL
);
CREATE UNIQUE INDEX users_name ON users (name);

CREATE TABLE sessions (
    id_hash    text        PRIMARY KEY,
    user_id    text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    last_seen  timestamptz NOT NULL,
    address    text        NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_last_seen ON sessions (last_seen);

ALTER TABLE api_tokens ADD COLUMN owner text NOT NULL DEFAULT '';

ALTER TABLE audit ADD COLUMN actor_user  text NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN actor_token text NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN address     text NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN state_before text NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN state_after  text NOT NULL DEFAULT '';
CREATE INDEX audit_time ON audit (time);
