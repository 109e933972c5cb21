-- Agent settings (data only) per group and per host: JSON, '' when none.
ALTER TABLE groups ADD COLUMN agent_settings text NOT NULL DEFAULT '';
ALTER TABLE hosts ADD COLUMN agent_settings text NOT NULL DEFAULT '';
