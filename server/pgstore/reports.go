package pgstore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/wire"
)

// hostState is what CommitReports reads and writes of a host row.
type hostState struct {
	acked          int64
	lastSeen       pgtype.Timestamptz
	agentVersion   string
	updaterVersion string
	interval       int32
	bootTime       pgtype.Timestamptz
	latest         []byte // new latest report, nil (SQL NULL: keep) if unchanged
}

// apply makes r, a newly stored report newer than any before it, the host's latest.
func (st *hostState) apply(r *wire.Report, encoded []byte) {
	st.acked = int64(r.Seq)
	st.latest = encoded
	if r.AgentVersion != "" {
		st.agentVersion = r.AgentVersion
	}
	if r.UpdaterVersion != "" {
		st.updaterVersion = r.UpdaterVersion
	}
	if r.IntervalSeconds > 0 {
		st.interval = int32(r.IntervalSeconds)
	}
	if !r.BootTime.IsZero() {
		st.bootTime = pgtype.Timestamptz{Time: ts(r.BootTime), Valid: true}
	}
}

var sampleColumns = []string{"host_id", "seq", "time", "cpu_busy_pct", "mem_used_pct", "load1", "disk_max_used_pct", "report"}

type outageKey struct {
	host       string
	start, end time.Time
	class      string
	detail     string
}

// CommitReports stores the batches in one transaction of four round trips after BEGIN, whatever
// their number: lock the hosts, COPY the new samples, one pipelined batch with the outages and the
// host updates, COMMIT. Report JSON is encoded before the transaction starts so row locks are held
// only for the SQL.
func (s *Store) CommitReports(ctx context.Context, batches []server.HostReports) ([]uint64, error) {
	acks := make([]uint64, len(batches))
	if len(batches) == 0 {
		return acks, nil
	}
	encoded := make([][][]byte, len(batches))
	ids := make([]string, 0, len(batches))
	for i, b := range batches {
		ids = append(ids, b.HostID)
		encoded[i] = make([][]byte, len(b.Reports))
		for j := range b.Reports {
			data, err := json.Marshal(&b.Reports[j])
			if err != nil {
				return nil, fmt.Errorf("commit reports: encode report %d of host %s: %w", b.Reports[j].Seq, b.HostID, err)
			}
			encoded[i][j] = data
		}
	}
	// Lock in id order: two committers locking overlapping hosts then queue instead of deadlocking.
	slices.Sort(ids)
	ids = slices.Compact(ids)

	err := s.tx(ctx, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, `SELECT id, acked_seq, last_seen, agent_version, updater_version, interval_seconds, boot_time
			FROM hosts WHERE id = ANY($1) ORDER BY id FOR UPDATE`, ids)
		states := make(map[string]*hostState, len(ids))
		var (
			id string
			st hostState
		)
		_, err := pgx.ForEachRow(rows, []any{&id, &st.acked, &st.lastSeen, &st.agentVersion, &st.updaterVersion, &st.interval, &st.bootTime}, func() error {
			c := st
			states[id] = &c
			return nil
		})
		if err != nil {
			return fmt.Errorf("lock hosts: %w", err)
		}
		if len(states) != len(ids) {
			for _, id := range ids {
				if states[id] == nil {
					return fmt.Errorf("commit reports of host %s: %w", id, server.ErrNotFound)
				}
			}
		}

		var (
			samples [][]any
			outages = map[outageKey]bool{}
			oHost   []string
			oStart  []time.Time
			oEnd    []time.Time
			oClass  []string
			oDetail []string
		)
		for i, b := range batches {
			st := states[b.HostID]
			for j := range b.Reports {
				r := &b.Reports[j]
				if int64(r.Seq) <= st.acked {
					continue // a duplicate: stored before, or the agent dropped it and we acked across
				}
				cpu, mem, load1, disk := keyFigures(r)
				samples = append(samples, []any{b.HostID, int64(r.Seq), ts(r.Time), cpu, mem, load1, disk, encoded[i][j]})
				for _, o := range r.Outages {
					k := outageKey{b.HostID, ts(o.Start), ts(o.End), o.Class, o.Detail}
					if outages[k] {
						continue
					}
					outages[k] = true
					oHost, oStart, oEnd, oClass, oDetail = append(oHost, k.host), append(oStart, k.start), append(oEnd, k.end), append(oClass, k.class), append(oDetail, k.detail)
				}
				st.apply(r, encoded[i][j])
			}
			if !b.Received.IsZero() && (!st.lastSeen.Valid || b.Received.After(st.lastSeen.Time)) {
				st.lastSeen = pgtype.Timestamptz{Time: ts(b.Received), Valid: true}
			}
			acks[i] = uint64(st.acked)
		}

		if len(samples) > 0 {
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"samples"}, sampleColumns, pgx.CopyFromRows(samples)); err != nil {
				return fmt.Errorf("copy samples: %w", err)
			}
		}

		var (
			batch = &pgx.Batch{}
			n     = len(ids)
			hAck  = make([]int64, n)
			hSeen = make([]pgtype.Timestamptz, n)
			hAV   = make([]string, n)
			hUV   = make([]string, n)
			hIv   = make([]int32, n)
			hBoot = make([]pgtype.Timestamptz, n)
			hLast = make([][]byte, n)
		)
		for k, id := range ids {
			st := states[id]
			hAck[k], hSeen[k], hAV[k], hUV[k], hIv[k], hBoot[k], hLast[k] = st.acked, st.lastSeen, st.agentVersion, st.updaterVersion, st.interval, st.bootTime, st.latest
		}
		if len(oHost) > 0 {
			batch.Queue(`INSERT INTO outages (host_id, start_time, end_time, class, detail)
				SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[], $4::text[], $5::text[])
				ON CONFLICT DO NOTHING`, oHost, oStart, oEnd, oClass, oDetail)
		}
		batch.Queue(`UPDATE hosts h SET acked_seq = u.acked_seq, last_seen = u.last_seen, agent_version = u.agent_version,
				updater_version = u.updater_version, interval_seconds = u.interval_seconds, boot_time = u.boot_time,
				latest = coalesce(u.latest, h.latest)
			FROM unnest($1::text[], $2::bigint[], $3::timestamptz[], $4::text[], $5::text[], $6::integer[], $7::timestamptz[], $8::json[])
				AS u (id, acked_seq, last_seen, agent_version, updater_version, interval_seconds, boot_time, latest)
			WHERE h.id = u.id`, ids, hAck, hSeen, hAV, hUV, hIv, hBoot, hLast)
		if err := tx.SendBatch(ctx, batch).Close(); err != nil {
			return fmt.Errorf("update hosts: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("commit reports: %w", err)
	}
	return acks, nil
}

// keyFigures returns the columns charts and alert rules read, NULL where the report lacks them.
func keyFigures(r *wire.Report) (cpuBusy, memUsed, load1, diskMax any) {
	if r.CPU != nil {
		cpuBusy = float32(r.CPU.BusyPct)
	}
	if r.Memory != nil {
		memUsed = float32(r.Memory.UsedPct)
	}
	if r.Load != nil {
		load1 = float32(r.Load.Load1)
	}
	if len(r.Mounts) > 0 {
		m := r.Mounts[0].UsedPct
		for _, mt := range r.Mounts[1:] {
			m = max(m, mt.UsedPct)
		}
		diskMax = float32(m)
	}
	return
}

// ListSamples returns a host's samples with from <= time < to, oldest first, at most limit
// (no limit when limit <= 0).
func (s *Store) ListSamples(ctx context.Context, hostID string, from, to time.Time, limit int) ([]server.Sample, error) {
	rows, err := s.pool.Query(ctx, `SELECT seq, time, report FROM samples
		WHERE host_id = $1 AND time >= $2 AND time < $3 ORDER BY time, seq LIMIT $4`,
		hostID, ts(from), ts(to), limitOrAll(limit))
	if err != nil {
		return nil, fmt.Errorf("list samples of host %s: %w", hostID, err)
	}
	ss, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (server.Sample, error) {
		var (
			smp    = server.Sample{HostID: hostID}
			seq    int64
			report []byte
		)
		if err := row.Scan(&seq, &smp.Time, &report); err != nil {
			return smp, err
		}
		smp.Seq, smp.Time = uint64(seq), smp.Time.UTC()
		if err := json.Unmarshal(report, &smp.Report); err != nil {
			return smp, fmt.Errorf("decode sample %d: %w", seq, err)
		}
		return smp, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list samples of host %s: %w", hostID, err)
	}
	return ss, nil
}

// DeleteSamplesBefore deletes samples older than t and outages that ended before t.
func (s *Store) DeleteSamplesBefore(ctx context.Context, t time.Time) (int64, error) {
	var n int64
	err := s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM samples WHERE time < $1`, ts(t))
		if err != nil {
			return err
		}
		n = tag.RowsAffected()
		_, err = tx.Exec(ctx, `DELETE FROM outages WHERE end_time < $1`, ts(t))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("delete samples before %s: %w", t.UTC().Format(time.RFC3339), err)
	}
	return n, nil
}

// ListOutages returns a host's outages that end at or after since, oldest first.
func (s *Store) ListOutages(ctx context.Context, hostID string, since time.Time) ([]wire.Outage, error) {
	rows, err := s.pool.Query(ctx, `SELECT start_time, end_time, class, detail FROM outages
		WHERE host_id = $1 AND end_time >= $2 ORDER BY start_time, end_time, class, detail`, hostID, ts(since))
	if err != nil {
		return nil, fmt.Errorf("list outages of host %s: %w", hostID, err)
	}
	os, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (wire.Outage, error) {
		var o wire.Outage
		err := row.Scan(&o.Start, &o.End, &o.Class, &o.Detail)
		o.Start, o.End = o.Start.UTC(), o.End.UTC()
		return o, err
	})
	if err != nil {
		return nil, fmt.Errorf("list outages of host %s: %w", hostID, err)
	}
	return os, nil
}
