-- An operator may acknowledge an open alert: who and when, kept beside the alert's JSON so the
-- alerting engine's saves (which replace data) never undo it. An acknowledged alert sends no
-- reminders.
ALTER TABLE alerts ADD COLUMN acked_at INTEGER;
ALTER TABLE alerts ADD COLUMN acked_by TEXT NOT NULL DEFAULT '';
