package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/vigilhq/vigil/server"
)

// BenchReportsDropped seeds s (fresh) with a day of one host reporting every 10 s (full reports,
// one in 1,000 with a spool_dropped count) among 9 hosts reporting every 5 minutes, then measures,
// side by side in one run, what the host detail reads: ReportsDropped over the day, GetHost, and
// the 24 h chart query of the host page (ListMetrics at one-minute rollups). It reports the median
// time of each (the machine this runs on is often shared).
func BenchReportsDropped(b *testing.B, s server.Store) {
	ctx := b.Context()
	end := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	start := end.Add(-24 * time.Hour)
	tok := server.EnrollmentToken{ID: randomID("et-"), Group: server.DefaultGroup, CreatedAt: start, Hash: randomID("hash-")}
	if err := s.CreateEnrollmentToken(ctx, tok, audit("enrollment-token.create", tok.ID)); err != nil {
		b.Fatal(err)
	}
	var hosts []string
	for i := range 10 {
		h, err := s.Enroll(ctx, tok.Hash, start, server.Host{ID: randomID("h-"), Hostname: fmt.Sprintf("drop-%02d", i), EnrolledAt: start}, randomID("cred-"))
		if err != nil {
			b.Fatal(err)
		}
		hosts = append(hosts, h.ID)
	}
	seqs := make([]uint64, len(hosts))
	var want uint64
	for at := start; at.Before(end); {
		next := at.Add(2000 * 10 * time.Second)
		var batches []server.HostReports
		for i, id := range hosts {
			step := 10 * time.Second
			if i > 0 {
				step = 5 * time.Minute
			}
			hr := server.HostReports{HostID: id, Received: next}
			for t := at; t.Before(next) && t.Before(end); t = t.Add(step) {
				seqs[i]++
				r := Report(seqs[i], t)
				if i == 0 && seqs[i]%1000 == 0 {
					r.SpoolDropped = 3
					want += 3
				}
				hr.Reports = append(hr.Reports, r)
			}
			batches = append(batches, hr)
		}
		if _, err := s.CommitReports(ctx, batches); err != nil {
			b.Fatal(err)
		}
		at = next
	}
	queries := []struct {
		name string
		run  func() error
	}{
		{"ReportsDropped", func() error {
			d, err := s.ReportsDropped(ctx, hosts[0], start)
			if err == nil && d.Count != want {
				err = fmt.Errorf("ReportsDropped = %d, want %d", d.Count, want)
			}
			return err
		}},
		{"GetHost", func() error { _, err := s.GetHost(ctx, hosts[0]); return err }},
		{"ListMetrics24h1m", func() error { _, err := s.ListMetrics(ctx, hosts[0], server.RollupMinute, start, end, 0); return err }},
	}
	times := make([][]time.Duration, len(queries))
	for b.Loop() {
		for i, q := range queries { // side by side: each round runs every query once
			t0 := time.Now()
			if err := q.run(); err != nil {
				b.Fatal(err)
			}
			times[i] = append(times[i], time.Since(t0))
		}
	}
	for i, q := range queries {
		slices.Sort(times[i])
		b.ReportMetric(float64(times[i][len(times[i])/2].Microseconds())/1000, q.name+"-median-ms")
	}
	b.ReportMetric(float64(seqs[0]), "reports")
}
