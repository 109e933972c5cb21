-- The rule figures of each host's latest report, written by CommitReports with it so the alerting
-- engine never reads or decodes whole reports (alert.Figures, storesql.FigureColumns). They live in
-- their own narrow table: reading them never reads the wide host rows that hold the latest report.
-- hosts.fig_hash identifies them, so the fleet scan tells which hosts' figures changed. NULL where
-- the report lacks a figure; no row (and a NULL fig_hash) until the host's first report after
-- this migration. Numbers are double precision, like SQLite's REAL, so both stores hold the
-- report's exact values.
ALTER TABLE hosts ADD COLUMN fig_hash bigint;
CREATE TABLE host_figures (
    host_id        text PRIMARY KEY REFERENCES hosts (id) ON DELETE CASCADE,
    fig_cpu        double precision,
    fig_mem_avail  double precision,
    fig_load1      double precision,
    fig_cores      bigint,
    fig_disk_max   double precision,
    fig_mounts     text,
    fig_proc_start bigint,
    fig_proc_alarm bigint NOT NULL DEFAULT 0,
    fig_procs      text,
    fig_states     text
) WITH (fillfactor = 70); -- room for HOT updates: every report rewrites the row
