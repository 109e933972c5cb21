-- The rule figures of each host's latest report, written by CommitReports with it so the alerting
-- engine never reads or decodes whole reports (alert.Figures, storesql.FigureColumns). NULL where
-- the report lacks a figure; all NULL until the host's first report after this migration. Numbers
-- are double precision, like SQLite's REAL, so both stores hold the report's exact values.
ALTER TABLE hosts
    ADD COLUMN fig_hash bigint,
    ADD COLUMN fig_cpu double precision,
    ADD COLUMN fig_mem_avail double precision,
    ADD COLUMN fig_load1 double precision,
    ADD COLUMN fig_cores bigint,
    ADD COLUMN fig_disk_max double precision,
    ADD COLUMN fig_mounts text,
    ADD COLUMN fig_proc_start bigint,
    ADD COLUMN fig_proc_alarm bigint NOT NULL DEFAULT 0,
    ADD COLUMN fig_procs text,
    ADD COLUMN fig_states text;
