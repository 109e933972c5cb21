-- The rule figures of each host's latest report, written by CommitReports with it so the alerting
-- engine never reads or decodes whole reports (alert.Figures, storesql.FigureColumns). They live in
-- their own narrow table: reading them never reads the wide host rows that hold the latest report.
-- hosts.fig_hash identifies them, so the fleet scan tells which hosts' figures changed. NULL where
-- the report lacks a figure; no row (and a NULL fig_hash) until the host's first report after
-- this migration.
ALTER TABLE hosts ADD COLUMN fig_hash INTEGER;
CREATE TABLE host_figures (
    host_id        TEXT    PRIMARY KEY REFERENCES hosts (id) ON DELETE CASCADE,
    fig_cpu        REAL,
    fig_mem_avail  REAL,
    fig_load1      REAL,
    fig_cores      INTEGER,
    fig_disk_max   REAL,
    fig_mounts     TEXT,
    fig_proc_start INTEGER,
    fig_proc_alarm INTEGER NOT NULL DEFAULT 0,
    fig_procs      TEXT,
    fig_states     TEXT
) WITHOUT ROWID;
