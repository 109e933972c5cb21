package storesql

import (
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/wire"
)

// NetFigures returns the samples' net_rx_bps and net_tx_bps columns: bytes per second summed over
// the report's interfaces, nil (NULL) when it has none. Like KeyFigures they are float32 values.
func NetFigures(r *wire.Report) (rx, tx any) {
	if len(r.Interfaces) == 0 {
		return nil, nil
	}
	var sr, st float64
	for _, n := range r.Interfaces {
		sr += n.RxBytesPS
		st += n.TxBytesPS
	}
	return figure(sr), figure(st)
}

// nFigures is the number of chart figures: cpu, mem, load, disk, rx, tx.
const nFigures = 6

// RollupFigureNames are the column prefixes of the figures in metric_rollups, in chart order.
var RollupFigureNames = [nFigures]string{"cpu", "mem", "load", "disk", "rx", "tx"}

// RollupKey names one rollup bucket.
type RollupKey struct {
	Host   string
	Res    time.Duration
	Bucket time.Time
}

// RollupFigure accumulates one figure in a bucket: how many reports carried it, their sum and
// their largest value.
type RollupFigure struct {
	N   int64
	Sum float64
	Max float64
}

// RollupAcc accumulates the reports of one bucket within a commit.
type RollupAcc struct {
	Reports int64
	Figures [nFigures]RollupFigure
}

// Rollups accumulates the rollup increments of one commit. Not safe for concurrent use.
type Rollups map[RollupKey]*RollupAcc

// Add adds a stored report of host to its bucket at every resolution.
func (rs Rollups) Add(host string, r *wire.Report) {
	cpu, mem, load, disk := KeyFigures(r)
	rx, tx := NetFigures(r)
	figs := [nFigures]any{cpu, mem, load, disk, rx, tx}
	for _, res := range server.Rollups {
		k := RollupKey{Host: host, Res: res, Bucket: Normal(r.Time).Truncate(res)}
		acc := rs[k]
		if acc == nil {
			acc = &RollupAcc{}
			rs[k] = acc
		}
		acc.Reports++
		for i, f := range figs {
			v, ok := f.(float32)
			if !ok {
				continue
			}
			fa := &acc.Figures[i]
			if fa.N == 0 || float64(v) > fa.Max {
				fa.Max = float64(v)
			}
			fa.N++
			fa.Sum += float64(v)
		}
	}
}

// Keys returns the buckets in a fixed order (host, resolution, bucket), so concurrent committers
// upsert overlapping rows in the same order.
func (rs Rollups) Keys() []RollupKey {
	ks := make([]RollupKey, 0, len(rs))
	for k := range rs {
		ks = append(ks, k)
	}
	slices.SortFunc(ks, func(a, b RollupKey) int {
		if c := strings.Compare(a.Host, b.Host); c != 0 {
			return c
		}
		if a.Res != b.Res {
			return int(a.Res - b.Res)
		}
		return a.Bucket.Compare(b.Bucket)
	})
	return ks
}

// RollupColumns are the value columns of metric_rollups after host_id, resolution and bucket:
// reports, then n, sum and max of each figure.
var RollupColumns = func() []string {
	cols := []string{"reports"}
	for _, f := range RollupFigureNames {
		cols = append(cols, f+"_n", f+"_sum", f+"_max")
	}
	return cols
}()

// Values returns acc's values in RollupColumns order; a figure no report carried has a NULL max.
func (acc *RollupAcc) Values() []any {
	vs := []any{acc.Reports}
	for _, f := range acc.Figures {
		var mx any
		if f.N > 0 {
			mx = f.Max
		}
		vs = append(vs, f.N, f.Sum, mx)
	}
	return vs
}

// RollupUpsertSet is the ON CONFLICT … DO UPDATE SET clause of a rollup upsert: counts and sums
// add up, maxima take the larger. greatest is the two-argument function that ignores NULLs
// (PostgreSQL's GREATEST; for SQLite, whose max() is NULL when any argument is, pass a coalesce
// around it via the caller).
func RollupUpsertSet(table string, greatest func(a, b string) string) string {
	var b strings.Builder
	b.WriteString("reports = " + table + ".reports + excluded.reports")
	for _, f := range RollupFigureNames {
		fmt.Fprintf(&b, ", %[1]s_n = %[2]s.%[1]s_n + excluded.%[1]s_n, %[1]s_sum = %[2]s.%[1]s_sum + excluded.%[1]s_sum, %[1]s_max = %[3]s",
			f, table, greatest(table+"."+f+"_max", "excluded."+f+"_max"))
	}
	return b.String()
}

// MetricColumns are the columns ScanMetricPoint reads from metric_rollups (after the bucket).
var MetricColumns = func() string {
	cols := []string{"reports"}
	for _, f := range RollupFigureNames {
		cols = append(cols, f+"_n", f+"_sum", f+"_max")
	}
	return strings.Join(cols, ", ")
}()

// SampleMetricColumns are the samples columns ScanMetricPoint reads (after the time), shaped like
// MetricColumns: each report is a bucket of one.
const SampleMetricColumns = `1,
	CASE WHEN cpu_busy_pct IS NULL THEN 0 ELSE 1 END, coalesce(cpu_busy_pct, 0), cpu_busy_pct,
	CASE WHEN mem_used_pct IS NULL THEN 0 ELSE 1 END, coalesce(mem_used_pct, 0), mem_used_pct,
	CASE WHEN load1 IS NULL THEN 0 ELSE 1 END, coalesce(load1, 0), load1,
	CASE WHEN disk_max_used_pct IS NULL THEN 0 ELSE 1 END, coalesce(disk_max_used_pct, 0), disk_max_used_pct,
	CASE WHEN net_rx_bps IS NULL THEN 0 ELSE 1 END, coalesce(net_rx_bps, 0), net_rx_bps,
	CASE WHEN net_tx_bps IS NULL THEN 0 ELSE 1 END, coalesce(net_tx_bps, 0), net_tx_bps`

// ScanMetricPoint scans a time (or bucket) followed by MetricColumns.
func ScanMetricPoint(row Scanner) (server.MetricPoint, error) {
	var (
		p       server.MetricPoint
		reports int64
		n       [nFigures]int64
		sum     [nFigures]float64
		mx      [nFigures]sql.NullFloat64
	)
	dst := []any{TimeInto(&p.Time), &reports}
	for i := range nFigures {
		dst = append(dst, &n[i], &sum[i], &mx[i])
	}
	if err := row.Scan(dst...); err != nil {
		return server.MetricPoint{}, err
	}
	p.Reports = int(reports)
	figs := [nFigures]*server.Figure{&p.CPU, &p.Memory, &p.Load, &p.Disk, &p.NetRx, &p.NetTx}
	for i, f := range figs {
		if n[i] > 0 && mx[i].Valid {
			*f = server.Figure{Avg: sum[i] / float64(n[i]), Max: mx[i].Float64, Valid: true}
		}
	}
	return p, nil
}
