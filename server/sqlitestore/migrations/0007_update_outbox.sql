-- Update events may carry the updater's id for them: a repost after a kill is recorded once per host.
ALTER TABLE update_events ADD COLUMN event_id TEXT;
CREATE UNIQUE INDEX update_events_host_event_id ON update_events (host_id, event_id) WHERE event_id IS NOT NULL;
-- Raised each time an operator clears the host's quarantine; sent in the desired-version answer.
ALTER TABLE hosts ADD COLUMN quarantine_generation INTEGER NOT NULL DEFAULT 0;
