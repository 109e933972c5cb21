-- Staged rollouts: one row per rollout, its state as JSON beside the columns queries need. At
-- most one active (running, paused or halted) rollout per group.
CREATE TABLE rollouts (
    id         text        PRIMARY KEY,
    group_name text        NOT NULL REFERENCES groups (name) ON DELETE CASCADE,
    state      text        NOT NULL,
    active     boolean     NOT NULL,
    version    bigint      NOT NULL,
    created_at timestamptz NOT NULL,
    data       text        NOT NULL   -- JSON rollout.Rollout
);
CREATE UNIQUE INDEX rollouts_one_active ON rollouts (group_name) WHERE active;
CREATE INDEX rollouts_group_created ON rollouts (group_name, created_at);

-- A group's rollout policy: JSON, '' for the defaults.
ALTER TABLE groups ADD COLUMN rollout_policy text NOT NULL DEFAULT '';
