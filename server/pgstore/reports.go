package pgstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/internal/storesql"
)

var sampleColumns = []string{"host_id", "seq", "time", "cpu_busy_pct", "mem_used_pct", "load1", "disk_max_used_pct", "net_rx_bps", "net_tx_bps", "report"}

type outageKey struct {
	host       string
	start, end time.Time
	class      string
	detail     string
}

// copyMinSamples is the number of new samples from which a commit writes them with COPY (its
// own round trip, cheapest per row) rather than in its final pipelined statement batch.
const copyMinSamples = 64

// CommitReports stores the batches in one transaction of two round trips, whatever their number:
// BEGIN and the host locks pipelined together, then the new samples (one INSERT from arrays), the
// outages, the metric rollups, the host updates and COMMIT pipelined together. A large commit (copyMinSamples or
// more new samples) sends the samples with COPY in between instead. Report JSON is prepared
// before the transaction starts so row locks are held only for the SQL.
func (s *Store) CommitReports(ctx context.Context, batches []server.HostReports) ([]uint64, error) {
	acks := make([]uint64, len(batches))
	if len(batches) == 0 {
		return acks, nil
	}
	encoded, err := storesql.EncodeReports(batches)
	if err != nil {
		return nil, fmt.Errorf("commit reports: %w", err)
	}
	ids := make([]string, 0, len(batches))
	for _, b := range batches {
		ids = append(ids, b.HostID)
	}
	// Lock in id order: two committers locking overlapping hosts then queue instead of deadlocking.
	slices.Sort(ids)
	ids = slices.Compact(ids)

	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("commit reports: %w", err)
	}
	// A connection left inside the transaction by an error is not reused: pgxpool destroys a
	// connection released in a transaction; the ROLLBACK makes it reusable when it can.
	open := false
	defer func() {
		if open {
			_, _ = conn.Exec(context.Background(), "ROLLBACK")
		}
		conn.Release()
	}()

	states := make(map[string]*storesql.HostIngest, len(ids))
	lock := &pgx.Batch{}
	lock.Queue("BEGIN")
	lock.Queue(`SELECT id, `+storesql.HostIngestColumns+`
		FROM hosts WHERE id = ANY($1) ORDER BY id FOR UPDATE`, ids).Query(func(rows pgx.Rows) error {
		_, err := collect(rows, func(row storesql.Scanner) (*storesql.HostIngest, error) {
			var id string
			st, err := storesql.ScanHostIngest(row, &id)
			if err == nil {
				states[id] = st
			}
			return st, err
		})
		return err
	})
	open = true
	if err := conn.SendBatch(ctx, lock).Close(); err != nil {
		return nil, fmt.Errorf("commit reports: lock hosts: %w", err)
	}
	if len(states) != len(ids) {
		for _, id := range ids {
			if states[id] == nil {
				return nil, fmt.Errorf("commit reports of host %s: %w", id, server.ErrNotFound)
			}
		}
	}

	var (
		sHost                    []string
		sSeq                     []int64
		sTime                    []time.Time
		sCPU, sMem, sLoad, sDisk []*float32
		sRx, sTx                 []*float32
		rollups                  = storesql.Rollups{}
		sReport                  [][]byte
		outages                  = map[outageKey]bool{}
		oHost                    []string
		oStart, oEnd             []time.Time
		oClass, oDetail          []string
	)
	for i, b := range batches {
		st := states[b.HostID]
		for j := range b.Reports {
			r := &b.Reports[j]
			if st.Duplicate(r) {
				continue
			}
			cpu, mem, load1, disk := storesql.KeyFigures(r)
			sHost, sSeq, sTime = append(sHost, b.HostID), append(sSeq, int64(r.Seq)), append(sTime, ts(r.Time))
			sCPU, sMem, sLoad, sDisk = append(sCPU, f32(cpu)), append(sMem, f32(mem)), append(sLoad, f32(load1)), append(sDisk, f32(disk))
			rx, tx := storesql.NetFigures(r)
			sRx, sTx = append(sRx, f32(rx)), append(sTx, f32(tx))
			rollups.Add(b.HostID, r)
			sReport = append(sReport, encoded[i][j])
			for _, o := range r.Outages {
				o = storesql.NewOutage(o)
				k := outageKey{b.HostID, o.Start, o.End, o.Class, o.Detail}
				if outages[k] {
					continue
				}
				outages[k] = true
				oHost, oStart, oEnd, oClass, oDetail = append(oHost, k.host), append(oStart, k.start), append(oEnd, k.end), append(oClass, k.class), append(oDetail, k.detail)
			}
			st.Apply(r, encoded[i][j])
		}
		st.Seen(b.Received)
		acks[i] = st.AckedSeq
	}

	final := &pgx.Batch{}
	if n := len(sHost); n >= copyMinSamples {
		rows := make([][]any, n)
		for k := range rows {
			rows[k] = []any{sHost[k], sSeq[k], sTime[k], sCPU[k], sMem[k], sLoad[k], sDisk[k], sRx[k], sTx[k], sReport[k]}
		}
		if _, err := conn.CopyFrom(ctx, pgx.Identifier{"samples"}, sampleColumns, pgx.CopyFromRows(rows)); err != nil {
			return nil, fmt.Errorf("commit reports: copy samples: %w", err)
		}
	} else if n > 0 {
		final.Queue(`INSERT INTO samples (host_id, seq, time, cpu_busy_pct, mem_used_pct, load1, disk_max_used_pct, net_rx_bps, net_tx_bps, report)
			SELECT * FROM unnest($1::text[], $2::bigint[], $3::timestamptz[], $4::real[], $5::real[], $6::real[], $7::real[], $8::real[], $9::real[], $10::json[])`,
			sHost, sSeq, sTime, sCPU, sMem, sLoad, sDisk, sRx, sTx, sReport)
	}
	var (
		n     = len(ids)
		hAck  = make([]int64, n)
		hSeen = make([]pgtype.Timestamptz, n)
		hAV   = make([]string, n)
		hUV   = make([]string, n)
		hIv   = make([]int32, n)
		hBoot = make([]pgtype.Timestamptz, n)
		hLast = make([][]byte, n)
		figs  = make([]*storesql.FigureRow, n)
	)
	for k, id := range ids {
		st := states[id]
		hAck[k], hSeen[k], hAV[k], hUV[k], hIv[k], hBoot[k], hLast[k] = int64(st.AckedSeq), nullTS(st.LastSeen), st.AgentVersion,
			st.UpdaterVersion, int32(st.IntervalSeconds), nullTS(st.BootTime), st.Latest
		if figs[k], err = st.Figures(); err != nil {
			return nil, fmt.Errorf("commit reports of host %s: %w", id, err)
		}
	}
	if len(oHost) > 0 {
		final.Queue(`INSERT INTO outages (host_id, start_time, end_time, class, detail)
			SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[], $4::text[], $5::text[])
			ON CONFLICT DO NOTHING`, oHost, oStart, oEnd, oClass, oDetail)
	}
	if len(rollups) > 0 {
		queueRollups(final, rollups)
	}
	hFig := queueFigures(final, ids, figs)
	final.Queue(`UPDATE hosts h SET acked_seq = u.acked_seq, last_seen = u.last_seen, agent_version = u.agent_version,
			updater_version = u.updater_version, interval_seconds = u.interval_seconds, boot_time = u.boot_time,
			latest = coalesce(u.latest, h.latest), fig_hash = coalesce(u.fig_hash, h.fig_hash)
		FROM unnest($1::text[], $2::bigint[], $3::timestamptz[], $4::text[], $5::text[], $6::integer[], $7::timestamptz[], $8::json[], $9::bigint[])
			AS u (id, acked_seq, last_seen, agent_version, updater_version, interval_seconds, boot_time, latest, fig_hash)
		WHERE h.id = u.id`, ids, hAck, hSeen, hAV, hUV, hIv, hBoot, hLast, hFig)
	final.Queue("COMMIT")
	if err := conn.SendBatch(ctx, final).Close(); err != nil {
		return nil, fmt.Errorf("commit reports: %w", err)
	}
	// COMMIT of a transaction that failed answers ROLLBACK without an error: check it ended
	// committed, not merely ended.
	open = conn.Conn().PgConn().TxStatus() != 'I'
	if open {
		return nil, fmt.Errorf("commit reports: transaction still open after COMMIT")
	}
	return acks, nil
}

// figureUpsert writes the rule figures of a commit's hosts with new reports from arrays: $1 the
// host ids, then storesql.FigureColumns.
var figureUpsert = func() string {
	types := []string{"double precision", "double precision", "double precision", "bigint", "double precision",
		"text", "bigint", "bigint", "text", "text"}
	params := []string{"$1::text[]"}
	for i, t := range types {
		params = append(params, fmt.Sprintf("$%d::%s[]", 2+i, t))
	}
	return `INSERT INTO host_figures (host_id, ` + strings.Join(storesql.FigureColumns, ", ") + `)
		SELECT * FROM unnest(` + strings.Join(params, ", ") + `)
		ON CONFLICT (host_id) DO UPDATE SET ` + storesql.FigureUpsertSet
}()

// queueFigures queues the upsert of the figures of the hosts that got a new latest report (a
// non-nil row), in ids order like the host locks; it returns each host's fig_hash, NULL (keep)
// for the others.
func queueFigures(batch *pgx.Batch, ids []string, rows []*storesql.FigureRow) []*int64 {
	hashes := make([]*int64, len(ids))
	var (
		host                  []string
		cores, start, alarm   []*int64
		cpu, mem, load1, disk []*float64
		mounts, procs, states []*string
	)
	for k, r := range rows {
		if r == nil {
			continue
		}
		hashes[k] = &r.Hash
		host, alarm = append(host, ids[k]), append(alarm, &r.ProcAlarm)
		cpu, mem, load1, cores, disk = append(cpu, r.CPU), append(mem, r.MemAvail), append(load1, r.Load1), append(cores, r.Cores), append(disk, r.DiskMax)
		mounts, start, procs, states = append(mounts, r.Mounts), append(start, r.ProcStart), append(procs, r.Procs), append(states, r.States)
	}
	if len(host) > 0 {
		batch.Queue(figureUpsert, host, cpu, mem, load1, cores, disk, mounts, start, alarm, procs, states)
	}
	return hashes
}

// f32 is a storesql.KeyFigures value as a nullable real.
func f32(v any) *float32 {
	if f, ok := v.(float32); ok {
		return &f
	}
	return nil
}

// rollupUpsert adds a commit's rollup increments, one unnest row per bucket, to metric_rollups.
var rollupUpsert = func() string {
	var cols, params []string
	types := []string{"text", "bigint", "timestamptz", "bigint"}
	for range storesql.RollupFigureNames {
		types = append(types, "bigint", "double precision", "double precision")
	}
	for i, t := range types {
		params = append(params, fmt.Sprintf("$%d::%s[]", i+1, t))
	}
	cols = append([]string{"host_id", "resolution", "bucket"}, storesql.RollupColumns...)
	return `INSERT INTO metric_rollups (` + strings.Join(cols, ", ") + `)
		SELECT * FROM unnest(` + strings.Join(params, ", ") + `)
		ON CONFLICT (host_id, resolution, bucket) DO UPDATE SET ` +
		storesql.RollupUpsertSet("metric_rollups", func(a, b string) string { return "greatest(" + a + ", " + b + ")" })
}()

// queueRollups queues the upsert of rollups, in a fixed order so concurrent commits touching the
// same buckets lock them in the same order.
func queueRollups(batch *pgx.Batch, rollups storesql.Rollups) {
	keys := rollups.Keys()
	host := make([]string, len(keys))
	res := make([]int64, len(keys))
	bucket := make([]time.Time, len(keys))
	reports := make([]int64, len(keys))
	const nf = len(storesql.RollupFigureNames)
	var (
		n   [nf][]int64
		sum [nf][]float64
		mx  [nf][]*float64
	)
	for k, key := range keys {
		acc := rollups[key]
		host[k], res[k], bucket[k], reports[k] = key.Host, int64(key.Res/time.Second), key.Bucket, acc.Reports
		for i, f := range acc.Figures {
			n[i] = append(n[i], f.N)
			sum[i] = append(sum[i], f.Sum)
			if f.N > 0 {
				m := f.Max
				mx[i] = append(mx[i], &m)
			} else {
				mx[i] = append(mx[i], nil)
			}
		}
	}
	args := []any{host, res, bucket, reports}
	for i := range nf {
		args = append(args, n[i], sum[i], mx[i])
	}
	batch.Queue(rollupUpsert, args...)
}

// ListMetrics returns a host's chart figures: raw samples when res is 0, else rollups.
func (s *Store) ListMetrics(ctx context.Context, hostID string, res time.Duration, from, to time.Time, limit int) ([]server.MetricPoint, error) {
	if err := server.CheckResolution(res); err != nil {
		return nil, fmt.Errorf("list metrics of host %s: %w", hostID, err)
	}
	var rows pgx.Rows
	if res == 0 {
		rows, _ = s.pool.Query(ctx, `SELECT time, `+storesql.SampleMetricColumns+` FROM samples
			WHERE host_id = $1 AND time >= $2 AND time < $3 ORDER BY time, seq LIMIT $4`,
			hostID, ts(from), ts(to), limitOrAll(limit))
	} else {
		rows, _ = s.pool.Query(ctx, `SELECT bucket, `+storesql.MetricColumns+` FROM metric_rollups
			WHERE host_id = $1 AND resolution = $2 AND bucket >= $3 AND bucket < $4 ORDER BY bucket LIMIT $5`,
			hostID, int64(res/time.Second), ts(from), ts(to), limitOrAll(limit))
	}
	ps, err := collect(rows, storesql.ScanMetricPoint)
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
	tag, err := s.pool.Exec(ctx, `DELETE FROM metric_rollups WHERE resolution = $1 AND bucket < $2`, int64(res/time.Second), ts(t))
	if err != nil {
		return 0, fmt.Errorf("delete %s rollups before %s: %w", res, t.UTC().Format(time.RFC3339), err)
	}
	return tag.RowsAffected(), nil
}

// ReportsDropped sums the spool_dropped counts of a host's reports since since. The LIKE skips
// the reports that do not name the field (most) before any JSON is parsed; the sum is taken as a
// float so counts a host made up cannot overflow it.
func (s *Store) ReportsDropped(ctx context.Context, hostID string, since time.Time) (server.DroppedReports, error) {
	var (
		total float64
		d     server.DroppedReports
	)
	err := s.pool.QueryRow(ctx, `SELECT COALESCE(SUM(n), 0), MAX(time) FILTER (WHERE n > 0) FROM (
		SELECT (report->>'spool_dropped')::float8 AS n, time FROM samples
		WHERE host_id = $1 AND time >= $2 AND report::text LIKE '%"spool_dropped"%') AS r`,
		hostID, ts(since)).Scan(&total, storesql.TimeInto(&d.Last))
	if err != nil {
		return server.DroppedReports{}, fmt.Errorf("sum dropped reports of host %s: %w", hostID, err)
	}
	d.Count = storesql.CountOf(total)
	return d, nil
}
