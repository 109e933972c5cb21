package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/wire"
)

// hostState is what CommitReports reads and writes of a host row.
type hostState struct {
	acked          uint64
	lastSeen       sql.NullInt64
	agentVersion   string
	updaterVersion string
	interval       int
	bootTime       sql.NullInt64
	latest         []byte // new latest report, nil if unchanged
}

// apply makes r, a newly stored report newer than any before it, the host's latest.
func (st *hostState) apply(r *wire.Report, encoded []byte) {
	st.acked = r.Seq
	st.latest = encoded
	if r.AgentVersion != "" {
		st.agentVersion = r.AgentVersion
	}
	if r.UpdaterVersion != "" {
		st.updaterVersion = r.UpdaterVersion
	}
	if r.IntervalSeconds > 0 {
		st.interval = r.IntervalSeconds
	}
	if !r.BootTime.IsZero() {
		st.bootTime = sql.NullInt64{Int64: micros(r.BootTime), Valid: true}
	}
}

// CommitReports stores the batches in one write transaction. Report JSON is encoded before the
// transaction starts so the write lock is held only for the SQL.
func (s *Store) CommitReports(ctx context.Context, batches []server.HostReports) ([]uint64, error) {
	acks := make([]uint64, len(batches))
	if len(batches) == 0 {
		return acks, nil
	}
	encoded := make([][][]byte, len(batches))
	for i, b := range batches {
		encoded[i] = make([][]byte, len(b.Reports))
		for j := range b.Reports {
			data, err := json.Marshal(&b.Reports[j])
			if err != nil {
				return nil, fmt.Errorf("commit reports: encode report %d of host %s: %w", b.Reports[j].Seq, b.HostID, err)
			}
			encoded[i][j] = data
		}
	}

	err := s.tx(ctx, func(tx *sql.Tx) error {
		selHost := tx.StmtContext(ctx, s.selHostState)
		insSample := tx.StmtContext(ctx, s.insSample)
		insOutage := tx.StmtContext(ctx, s.insOutage)
		updHost := tx.StmtContext(ctx, s.updHostState)

		states := map[string]*hostState{}
		var order []string
		for i, b := range batches {
			st := states[b.HostID]
			if st == nil {
				st = &hostState{}
				err := selHost.QueryRowContext(ctx, b.HostID).Scan(&st.acked, &st.lastSeen, &st.agentVersion, &st.updaterVersion, &st.interval, &st.bootTime)
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
				if r.Seq <= st.acked {
					continue // a duplicate: stored before, or the agent dropped it and we acked across
				}
				cpu, mem, load1, disk := keyFigures(r)
				if _, err := insSample.ExecContext(ctx, b.HostID, int64(r.Seq), micros(r.Time), cpu, mem, load1, disk, string(encoded[i][j])); err != nil {
					return fmt.Errorf("store report %d of host %s: %w", r.Seq, b.HostID, err)
				}
				for _, o := range r.Outages {
					if _, err := insOutage.ExecContext(ctx, b.HostID, micros(o.Start), micros(o.End), o.Class, o.Detail); err != nil {
						return fmt.Errorf("store outage of host %s: %w", b.HostID, err)
					}
				}
				st.apply(r, encoded[i][j])
			}
			if !b.Received.IsZero() && (!st.lastSeen.Valid || micros(b.Received) > st.lastSeen.Int64) {
				st.lastSeen = sql.NullInt64{Int64: micros(b.Received), Valid: true}
			}
			acks[i] = st.acked
		}

		for _, id := range order {
			st := states[id]
			var latest any
			if st.latest != nil {
				latest = string(st.latest)
			}
			_, err := updHost.ExecContext(ctx, int64(st.acked), st.lastSeen, st.agentVersion, st.updaterVersion, st.interval, st.bootTime, latest, id)
			if err != nil {
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
		{&s.selHostState, `SELECT acked_seq, last_seen, agent_version, updater_version, interval_seconds, boot_time
			FROM hosts WHERE id = ?`},
		{&s.insSample, `INSERT INTO samples (host_id, seq, time, cpu_busy_pct, mem_used_pct, load1, disk_max_used_pct, report)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`},
		{&s.insOutage, `INSERT INTO outages (host_id, start_time, end_time, class, detail)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`},
		{&s.updHostState, `UPDATE hosts SET acked_seq = ?, last_seen = ?, agent_version = ?, updater_version = ?,
			interval_seconds = ?, boot_time = ?, latest = coalesce(?, latest) WHERE id = ?`},
	} {
		st, err := s.w.PrepareContext(ctx, p.sql)
		if err != nil {
			return fmt.Errorf("prepare ingest statements: %w", err)
		}
		*p.dst = st
	}
	return nil
}

// keyFigures returns the columns charts and alert rules read, NULL where the report lacks them.
func keyFigures(r *wire.Report) (cpuBusy, memUsed, load1, diskMax any) {
	if r.CPU != nil {
		cpuBusy = r.CPU.BusyPct
	}
	if r.Memory != nil {
		memUsed = r.Memory.UsedPct
	}
	if r.Load != nil {
		load1 = r.Load.Load1
	}
	if len(r.Mounts) > 0 {
		m := r.Mounts[0].UsedPct
		for _, mt := range r.Mounts[1:] {
			m = max(m, mt.UsedPct)
		}
		diskMax = m
	}
	return
}

// ListSamples returns a host's samples with from <= time < to, oldest first, at most limit
// (no limit when limit <= 0).
func (s *Store) ListSamples(ctx context.Context, hostID string, from, to time.Time, limit int) ([]server.Sample, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT seq, time, report FROM samples
		WHERE host_id = ? AND time >= ? AND time < ? ORDER BY time, seq LIMIT ?`,
		hostID, micros(from), micros(to), limitOrAll(limit))
	if err != nil {
		return nil, fmt.Errorf("list samples of host %s: %w", hostID, err)
	}
	defer rows.Close()
	var ss []server.Sample
	for rows.Next() {
		var (
			smp    = server.Sample{HostID: hostID}
			at     int64
			report []byte
		)
		if err := rows.Scan(&smp.Seq, &at, &report); err != nil {
			return nil, fmt.Errorf("list samples of host %s: %w", hostID, err)
		}
		smp.Time = fromMicros(at)
		if err := json.Unmarshal(report, &smp.Report); err != nil {
			return nil, fmt.Errorf("decode sample %d of host %s: %w", smp.Seq, hostID, err)
		}
		ss = append(ss, smp)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list samples of host %s: %w", hostID, err)
	}
	return ss, nil
}

// DeleteSamplesBefore deletes samples older than t and outages that ended before t.
func (s *Store) DeleteSamplesBefore(ctx context.Context, t time.Time) (int64, error) {
	var n int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM samples WHERE time < ?`, micros(t))
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM outages WHERE end_time < ?`, micros(t))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("delete samples before %s: %w", t.UTC().Format(time.RFC3339), err)
	}
	return n, nil
}

// ListOutages returns a host's outages that end at or after since, oldest first.
func (s *Store) ListOutages(ctx context.Context, hostID string, since time.Time) ([]wire.Outage, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT start_time, end_time, class, detail FROM outages
		WHERE host_id = ? AND end_time >= ? ORDER BY start_time, end_time, class, detail`, hostID, micros(since))
	if err != nil {
		return nil, fmt.Errorf("list outages of host %s: %w", hostID, err)
	}
	defer rows.Close()
	var os []wire.Outage
	for rows.Next() {
		var (
			o          wire.Outage
			start, end int64
		)
		if err := rows.Scan(&start, &end, &o.Class, &o.Detail); err != nil {
			return nil, fmt.Errorf("list outages of host %s: %w", hostID, err)
		}
		o.Start, o.End = fromMicros(start), fromMicros(end)
		os = append(os, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list outages of host %s: %w", hostID, err)
	}
	return os, nil
}
