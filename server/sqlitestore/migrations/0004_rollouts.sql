-- Staged rollouts: one row per rollout, its state as JSON beside the columns queries need. At
-- most one active (running, paused or halted) rollout per group.
CREATE TABLE rollouts (
    id         TEXT    PRIMARY KEY,
    group_name TEXT    NOT NULL REFERENCES groups (name) ON DELETE CASCADE,
    state      TEXT    NOT NULL,
    active     INTEGER NOT NULL,
    version    INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    data       TEXT    NOT NULL
);
CREATE UNIQUE INDEX rollouts_one_active ON rollouts (group_name) WHERE active = 1;
CREATE INDEX rollouts_group_created ON rollouts (group_name, created_at);

-- A group's rollout policy: JSON, '' for the defaults.
ALTER TABLE groups ADD COLUMN rollout_policy TEXT NOT NULL DEFAULT '';
