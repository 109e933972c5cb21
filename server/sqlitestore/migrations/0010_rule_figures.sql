-- The rule figures of each host's latest report, written by CommitReports with it so the alerting
-- engine never reads or decodes whole reports (alert.Figures, storesql.FigureColumns). NULL where
-- the report lacks a figure; all NULL until the host's first report after this migration.
ALTER TABLE hosts ADD COLUMN fig_hash INTEGER;
ALTER TABLE hosts ADD COLUMN fig_cpu REAL;
ALTER TABLE hosts ADD COLUMN fig_mem_avail REAL;
ALTER TABLE hosts ADD COLUMN fig_load1 REAL;
ALTER TABLE hosts ADD COLUMN fig_cores INTEGER;
ALTER TABLE hosts ADD COLUMN fig_disk_max REAL;
ALTER TABLE hosts ADD COLUMN fig_mounts TEXT;
ALTER TABLE hosts ADD COLUMN fig_proc_start INTEGER;
ALTER TABLE hosts ADD COLUMN fig_proc_alarm INTEGER NOT NULL DEFAULT 0;
ALTER TABLE hosts ADD COLUMN fig_procs TEXT;
ALTER TABLE hosts ADD COLUMN fig_states TEXT;
