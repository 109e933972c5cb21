package storetest

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/wire"
)

// Shape of the chart benchmark: one host reporting every BenchChartInterval for BenchChartDays,
// among BenchChartOtherHosts hosts that report over the same days at a coarser pace (so the
// tables hold other hosts' rows, as in a fleet).
const (
	BenchChartDays       = 30
	BenchChartInterval   = 10 * time.Second
	BenchChartOtherHosts = 9
)

// BenchChartQuery seeds s (fresh) and measures the host page's 30-day chart query, ListMetrics
// over 30 days, at each resolution: raw reports, one-minute and one-hour rollups. It reports the
// points each query returns and the median time of one query (the machine this runs on is
// often shared, so the median says more than the mean).
func BenchChartQuery(b *testing.B, s server.Store) {
	ctx := b.Context()
	end := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	start := end.Add(-BenchChartDays * 24 * time.Hour)
	tok := server.EnrollmentToken{ID: randomID("et-"), Group: server.DefaultGroup, CreatedAt: start, Hash: randomID("hash-")}
	if err := s.CreateEnrollmentToken(ctx, tok, audit("enrollment-token.create", tok.ID)); err != nil {
		b.Fatal(err)
	}
	var hosts []string
	for i := range 1 + BenchChartOtherHosts {
		h, err := s.Enroll(ctx, tok.Hash, start, server.Host{ID: randomID("h-"), Hostname: fmt.Sprintf("chart-%02d", i), EnrolledAt: start}, randomID("cred-"))
		if err != nil {
			b.Fatal(err)
		}
		hosts = append(hosts, h.ID)
	}
	seeded := time.Now()
	// The charted host: every 10 s. The others: every 5 min. Committed a few hours at a time.
	const perCall = 2000
	seqs := make([]uint64, len(hosts))
	for at := start; at.Before(end); {
		var batches []server.HostReports
		next := at.Add(perCall * BenchChartInterval)
		for i, id := range hosts {
			step := BenchChartInterval
			if i > 0 {
				step = 5 * time.Minute
			}
			hr := server.HostReports{HostID: id, Received: next}
			for t := at; t.Before(next) && t.Before(end); t = t.Add(step) {
				seqs[i]++
				hr.Reports = append(hr.Reports, chartReport(seqs[i], t))
			}
			batches = append(batches, hr)
		}
		if _, err := s.CommitReports(ctx, batches); err != nil {
			b.Fatal(err)
		}
		at = next
	}
	b.Logf("seeded %d reports of the charted host and %d of others in %s", seqs[0], seqs[1]*BenchChartOtherHosts, time.Since(seeded).Round(time.Millisecond))

	for _, res := range []struct {
		name string
		res  time.Duration
	}{{"raw", 0}, {"1m", server.RollupMinute}, {"1h", server.RollupHour}} {
		b.Run("res="+res.name, func(b *testing.B) {
			var (
				n     int
				times []time.Duration
			)
			for b.Loop() {
				t0 := time.Now()
				ps, err := s.ListMetrics(ctx, hosts[0], res.res, start, end, 0)
				if err != nil {
					b.Fatal(err)
				}
				times = append(times, time.Since(t0))
				n = len(ps)
			}
			slices.Sort(times)
			b.ReportMetric(float64(n), "points")
			b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "median-ms")
		})
	}
}

// chartReport is a small report with every chart figure.
func chartReport(seq uint64, at time.Time) wire.Report {
	x := float64(seq)
	return wire.Report{Seq: seq, Time: at, AgentVersion: "1.0.0", IntervalSeconds: 10,
		CPU:        &wire.CPU{Cores: 4, BusyPct: 40 + 30*math.Sin(x/500)},
		Memory:     &wire.Memory{TotalBytes: 8 << 30, UsedPct: 60},
		Load:       &wire.Load{Load1: 1 + math.Sin(x/300)},
		Mounts:     []wire.Mount{{Path: "/", UsedPct: 70}},
		Interfaces: []wire.NetIO{{Interface: "eth0", RxBytesPS: 1e5, TxBytesPS: 2e4}}}
}
