-- Downsampling (0008): network figures beside the other chart figures of each report, and one-minute
-- and one-hour rollups of the chart figures, kept up to date by CommitReports in the same
-- transaction as the reports. Per figure: how many reports carried it (n), their sum (the mean is
-- sum/n) and their largest value (NULL when none did). The samples already stored are rolled up
-- here (without network figures, which they lack).
ALTER TABLE samples ADD COLUMN net_rx_bps real;
ALTER TABLE samples ADD COLUMN net_tx_bps real;
CREATE TABLE metric_rollups (
    host_id    text NOT NULL REFERENCES hosts (id),
    resolution bigint NOT NULL, -- seconds: 60 or 3600
    bucket     timestamptz NOT NULL, -- start of the bucket (report time truncated to the resolution, UTC)
    reports    bigint NOT NULL,
    cpu_n bigint NOT NULL DEFAULT 0,
    cpu_sum double precision NOT NULL DEFAULT 0,
    cpu_max double precision,
    mem_n bigint NOT NULL DEFAULT 0,
    mem_sum double precision NOT NULL DEFAULT 0,
    mem_max double precision,
    load_n bigint NOT NULL DEFAULT 0,
    load_sum double precision NOT NULL DEFAULT 0,
    load_max double precision,
    disk_n bigint NOT NULL DEFAULT 0,
    disk_sum double precision NOT NULL DEFAULT 0,
    disk_max double precision,
    rx_n bigint NOT NULL DEFAULT 0,
    rx_sum double precision NOT NULL DEFAULT 0,
    rx_max double precision,
    tx_n bigint NOT NULL DEFAULT 0,
    tx_sum double precision NOT NULL DEFAULT 0,
    tx_max double precision,
    PRIMARY KEY (host_id, resolution, bucket)
);
CREATE INDEX metric_rollups_bucket ON metric_rollups (resolution, bucket);
INSERT INTO metric_rollups (host_id, resolution, bucket, reports, cpu_n, cpu_sum, cpu_max, mem_n, mem_sum, mem_max, load_n, load_sum, load_max, disk_n, disk_sum, disk_max)
SELECT host_id, 60, to_timestamp(floor(extract(epoch FROM time) / 60) * 60), count(*), count(cpu_busy_pct), coalesce(sum(cpu_busy_pct::float8), 0), max(cpu_busy_pct), count(mem_used_pct), coalesce(sum(mem_used_pct::float8), 0), max(mem_used_pct), count(load1), coalesce(sum(load1::float8), 0), max(load1), count(disk_max_used_pct), coalesce(sum(disk_max_used_pct::float8), 0), max(disk_max_used_pct)
FROM samples GROUP BY host_id, to_timestamp(floor(extract(epoch FROM time) / 60) * 60);
INSERT INTO metric_rollups (host_id, resolution, bucket, reports, cpu_n, cpu_sum, cpu_max, mem_n, mem_sum, mem_max, load_n, load_sum, load_max, disk_n, disk_sum, disk_max)
SELECT host_id, 3600, to_timestamp(floor(extract(epoch FROM time) / 3600) * 3600), count(*), count(cpu_busy_pct), coalesce(sum(cpu_busy_pct::float8), 0), max(cpu_busy_pct), count(mem_used_pct), coalesce(sum(mem_used_pct::float8), 0), max(mem_used_pct), count(load1), coalesce(sum(load1::float8), 0), max(load1), count(disk_max_used_pct), coalesce(sum(disk_max_used_pct::float8), 0), max(disk_max_used_pct)
FROM samples GROUP BY host_id, to_timestamp(floor(extract(epoch FROM time) / 3600) * 3600);
