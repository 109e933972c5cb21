-- Downsampling (0008): network figures beside the other chart figures of each report, and one-minute
-- and one-hour rollups of the chart figures, kept up to date by CommitReports in the same
-- transaction as the reports. Per figure: how many reports carried it (n), their sum (the mean is
-- sum/n) and their largest value (NULL when none did). The samples already stored are rolled up
-- here (without network figures, which they lack).
ALTER TABLE samples ADD COLUMN net_rx_bps REAL;
ALTER TABLE samples ADD COLUMN net_tx_bps REAL;
CREATE TABLE metric_rollups (
    host_id    TEXT NOT NULL REFERENCES hosts (id),
    resolution INTEGER NOT NULL, -- seconds: 60 or 3600
    bucket     INTEGER NOT NULL, -- start of the bucket (report time truncated to the resolution, UTC)
    reports    INTEGER NOT NULL,
    cpu_n INTEGER NOT NULL DEFAULT 0,
    cpu_sum REAL NOT NULL DEFAULT 0,
    cpu_max REAL,
    mem_n INTEGER NOT NULL DEFAULT 0,
    mem_sum REAL NOT NULL DEFAULT 0,
    mem_max REAL,
    load_n INTEGER NOT NULL DEFAULT 0,
    load_sum REAL NOT NULL DEFAULT 0,
    load_max REAL,
    disk_n INTEGER NOT NULL DEFAULT 0,
    disk_sum REAL NOT NULL DEFAULT 0,
    disk_max REAL,
    rx_n INTEGER NOT NULL DEFAULT 0,
    rx_sum REAL NOT NULL DEFAULT 0,
    rx_max REAL,
    tx_n INTEGER NOT NULL DEFAULT 0,
    tx_sum REAL NOT NULL DEFAULT 0,
    tx_max REAL,
    PRIMARY KEY (host_id, resolution, bucket)
) STRICT;
CREATE INDEX metric_rollups_bucket ON metric_rollups (resolution, bucket);
INSERT INTO metric_rollups (host_id, resolution, bucket, reports, cpu_n, cpu_sum, cpu_max, mem_n, mem_sum, mem_max, load_n, load_sum, load_max, disk_n, disk_sum, disk_max)
SELECT host_id, 60, time - (time % 60000000), count(*), count(cpu_busy_pct), coalesce(sum(cpu_busy_pct), 0), max(cpu_busy_pct), count(mem_used_pct), coalesce(sum(mem_used_pct), 0), max(mem_used_pct), count(load1), coalesce(sum(load1), 0), max(load1), count(disk_max_used_pct), coalesce(sum(disk_max_used_pct), 0), max(disk_max_used_pct)
FROM samples GROUP BY host_id, time - (time % 60000000);
INSERT INTO metric_rollups (host_id, resolution, bucket, reports, cpu_n, cpu_sum, cpu_max, mem_n, mem_sum, mem_max, load_n, load_sum, load_max, disk_n, disk_sum, disk_max)
SELECT host_id, 3600, time - (time % 3600000000), count(*), count(cpu_busy_pct), coalesce(sum(cpu_busy_pct), 0), max(cpu_busy_pct), count(mem_used_pct), coalesce(sum(mem_used_pct), 0), max(mem_used_pct), count(load1), coalesce(sum(load1), 0), max(load1), count(disk_max_used_pct), coalesce(sum(disk_max_used_pct), 0), max(disk_max_used_pct)
FROM samples GROUP BY host_id, time - (time % 3600000000);
