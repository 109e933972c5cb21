package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/internal/storesql"
)

// CommitReports stores the batches in one write transaction. Report JSON is encoded before the
// transaction starts so the write lock is held only for the SQL.
func (s *Store) CommitReports(ctx context.Context, batches []server.HostReports) ([]uint64, error) {
	acks := make([]uint64, len(batches))
	if len(batches) == 0 {
		return acks, nil
	}
	encoded, err := storesql.EncodeReports(batches)
	if err != nil {
		return nil, fmt.Errorf("commit reports: %w", err)
	}

	err = s.tx(ctx, func(tx *sql.Tx) error {
		selHost := tx.StmtContext(ctx, s.selHostState)
		insSample := tx.StmtContext(ctx, s.insSample)
		insOutage := tx.StmtContext(ctx, s.insOutage)
		updHost := tx.StmtContext(ctx, s.updHostState)
		upsRollup := tx.StmtContext(ctx, s.upsRollup)
		upsFigures := tx.StmtContext(ctx, s.upsFigures)
		rollups := storesql.Rollups{}

		states := map[string]*storesql.HostIngest{}
		var order []string
		for i, b := range batches {
			st := states[b.HostID]
			if st == nil {
				var err error
				st, err = storesql.ScanHostIngest(selHost.QueryRowContext(ctx, b.HostID))
				if errors.Is(err, sql.ErrNoRows) {
					return fmt.Errorf("commit reports of host %s: %w", b.HostID, server.ErrNotFound)
				}
				if err != nil {
					return fmt.Errorf("commit reports of host %s: %w", b.HostID, err)
				}
				states[b.HostID] = st
				order = append(order, b.HostID)
			}
			for j := range b.Reports {
				r := &b.Reports[j]
				if st.Duplicate(r) {
					continue
				}
				cpu, mem, load1, disk := storesql.KeyFigures(r)
				rx, tx := storesql.NetFigures(r)
				if _, err := insSample.ExecContext(ctx, b.HostID, int64(r.Seq), micros(r.Time), cpu, mem, load1, disk, rx, tx, string(encoded[i][j])); err != nil {
					return fmt.Errorf("store report %d of host %s: %w", r.Seq, b.HostID, err)
				}
				for _, o := range r.Outages {
					o = storesql.NewOutage(o)
					if _, err := insOutage.ExecContext(ctx, b.HostID, micros(o.Start), micros(o.End), o.Class, o.Detail); err != nil {
						return fmt.Errorf("store outage of host %s: %w", b.HostID, err)
					}
				}
				rollups.Add(b.HostID, r)
				st.Apply(r, encoded[i][j])
			}
			st.Seen(b.Received)
			acks[i] = st.AckedSeq
		}

		for _, k := range rollups.Keys() {
			args := append([]any{k.Host, int64(k.Res / time.Second), micros(k.Bucket)}, rollups[k].Values()...)
			if _, err := upsRollup.ExecContext(ctx, args...); err != nil {
				return fmt.Errorf("roll up reports of host %s: %w", k.Host, err)
			}
		}

		for _, id := range order {
			st := states[id]
			var latest any
			if st.Latest != nil {
				latest = string(st.Latest)
			}
			row, err := st.Figures()
			if err != nil {
				return fmt.Errorf("update host %s: %w", id, err)
			}
			var hash any
			if row != nil {
				hash = row.Hash
				if _, err := upsFigures.ExecContext(ctx, append([]any{id}, row.Values()...)...); err != nil {
					return fmt.Errorf("store rule figures of host %s: %w", id, err)
				}
			}
			if _, err := updHost.ExecContext(ctx, int64(st.AckedSeq), nullMicros(st.LastSeen), st.AgentVersion, st.UpdaterVersion,
				st.IntervalSeconds, nullMicros(st.BootTime), latest, hash, id); err != nil {
				return fmt.Errorf("update host %s: %w", id, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("commit reports: %w", err)
	}
	return acks, nil
}

// prepareIngest prepares the statements of the ingest path on the writer.
func (s *Store) prepareIngest(ctx context.Context) error {
	for _, p := range []struct {
		dst *(*sql.Stmt)
		sql string
	}{
		{&s.selHostState, `SELECT ` + storesql.HostIngestColumns + ` FROM hosts WHERE id = ?`},
		{&s.insSample, `INSERT INTO samples (host_id, seq, time, cpu_busy_pct, mem_used_pct, load1, disk_max_used_pct, net_rx_bps, net_tx_bps, report)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		{&s.upsRollup, `INSERT INTO metric_rollups (host_id, resolution, bucket, ` + strings.Join(storesql.RollupColumns, ", ") + `)
			VALUES (?, ?, ?` + strings.Repeat(", ?", len(storesql.RollupColumns)) + `)
			ON CONFLICT (host_id, resolution, bucket) DO UPDATE SET ` + storesql.RollupUpsertSet("metric_rollups", sqliteGreatest)},
		{&s.insOutage, `INSERT INTO outages (host_id, start_time, end_time, class, detail)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`},
		{&s.updHostState, `UPDATE hosts SET acked_seq = ?, last_seen = ?, agent_version = ?, updater_version = ?,
			interval_seconds = ?, boot_time = ?, latest = coalesce(?, latest), fig_hash = coalesce(?, fig_hash) WHERE id = ?`},
		{&s.upsFigures, `INSERT INTO host_figures (host_id, ` + strings.Join(storesql.FigureColumns, ", ") + `)
			VALUES (?` + strings.Repeat(", ?", len(storesql.FigureColumns)) + `)
			ON CONFLICT (host_id) DO UPDATE SET ` + storesql.FigureUpsertSet},
	} {
		st, err := s.w.PrepareContext(ctx, p.sql)
		if err != nil {
			return fmt.Errorf("prepare ingest statements: %w", err)
		}
		*p.dst = st
	}
	return nil
}

// ReportsDropped sums the spool_dropped counts of a host's reports since since. instr skips the
// reports that do not name the field (most) before any JSON is parsed; TOTAL, a float, cannot
// overflow on counts a host made up.
func (s *Store) ReportsDropped(ctx context.Context, hostID string, since time.Time) (server.DroppedReports, error) {
	var (
		total float64
		d     server.DroppedReports
	)
	err := s.r.QueryRowContext(ctx, `SELECT TOTAL(n), MAX(CASE WHEN n > 0 THEN time END) FROM (
		SELECT json_extract(report, '$.spool_dropped') AS n, time FROM samples
		WHERE host_id = ? AND time >= ? AND instr(report, '"spool_dropped"') > 0)`,
		hostID, micros(since)).Scan(&total, storesql.TimeInto(&d.Last))
	if err != nil {
		return server.DroppedReports{}, fmt.Errorf("sum dropped reports of host %s: %w", hostID, err)
	}
	d.Count = storesql.CountOf(total)
	return d, nil
}

// sqliteGreatest is the larger of two nullable values: SQLite's max() is NULL when either is.
func sqliteGreatest(a, b string) string {
	return "coalesce(max(" + a + ", " + b + "), " + a + ", " + b + ")"
}

// ListMetrics returns a host's chart figures: raw samples when res is 0, else rollups.
func (s *Store) ListMetrics(ctx context.Context, hostID string, res time.Duration, from, to time.Time, limit int) ([]server.MetricPoint, error) {
	if err := server.CheckResolution(res); err != nil {
		return nil, fmt.Errorf("list metrics of host %s: %w", hostID, err)
	}
	var q string
	args := []any{hostID}
	if res == 0 {
		q = `SELECT time, ` + storesql.SampleMetricColumns + ` FROM samples
			WHERE host_id = ? AND time >= ? AND time < ? ORDER BY time, seq LIMIT ?`
	} else {
		q = `SELECT bucket, ` + storesql.MetricColumns + ` FROM metric_rollups
			WHERE host_id = ? AND resolution = ? AND bucket >= ? AND bucket < ? ORDER BY bucket LIMIT ?`
		args = append(args, int64(res/time.Second))
	}
	args = append(args, micros(from), micros(to), limitOrAll(limit))
	rows, err := s.r.QueryContext(ctx, q, args...)
	ps, err := collect(rows, err, storesql.ScanMetricPoint)
	if err != nil {
		return nil, fmt.Errorf("list metrics of host %s: %w", hostID, err)
	}
	return ps, nil
}

// DeleteRollupsBefore deletes rollups of resolution res that start before t.
func (s *Store) DeleteRollupsBefore(ctx context.Context, res time.Duration, t time.Time) (int64, error) {
	if err := server.CheckResolution(res); err != nil || res == 0 {
		return 0, fmt.Errorf("delete rollups: resolution %s: %w", res, server.ErrInvalid)
	}
	var n int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, `DELETE FROM metric_rollups WHERE resolution = ? AND bucket < ?`, int64(res/time.Second), micros(t))
		if err != nil {
			return err
		}
		n, err = r.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("delete %s rollups before %s: %w", res, t.UTC().Format(time.RFC3339), err)
	}
	return n, nil
}
