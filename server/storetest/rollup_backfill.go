package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/wire"
)

// RollupBackfill checks migration 0008's backfill: reports stored, then the store taken back to
// before 0008 by undo (drop metric_rollups and the samples' network columns, forget migration 8)
// and reopened by reopen, which applies 0008 again. The rebuilt rollups must equal what ingest
// had kept, but for the network figures, which samples stored before 0008 lack.
func RollupBackfill(t *testing.T, s server.Store, undo func(ctx context.Context) error, reopen func() server.Store) {
	f := &fixture{t: t, s: s, ctx: t.Context()}
	h, _ := f.host("backfilled", server.DefaultGroup)
	base := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	var rs []wire.Report
	for i := range 12 {
		cpu, disk := float64(i*7%90), float64(40+i)
		if i == 5 {
			cpu = -1 // no CPU section in this one
		}
		rs = append(rs, figReport(uint64(i+1), base.Add(time.Duration(i)*25*time.Minute), cpu, 60, float64(i)/4, disk, 1000, 100))
	}
	f.commit(server.HostReports{HostID: h.ID, Received: base, Reports: rs})
	from, to := base.Add(-time.Hour), base.Add(24*time.Hour)
	want := map[time.Duration][]server.MetricPoint{}
	for _, res := range server.Rollups {
		want[res] = f.metrics(h.ID, res, from, to, 0)
	}
	if err := undo(f.ctx); err != nil {
		t.Fatalf("undo migration 0008: %v", err)
	}
	f.s = reopen()
	for _, res := range server.Rollups {
		got := f.metrics(h.ID, res, from, to, 0)
		if len(got) != len(want[res]) {
			t.Fatalf("%s: %d buckets after the backfill, want %d", res, len(got), len(want[res]))
		}
		for i, g := range got {
			w := want[res][i]
			w.NetRx, w.NetTx = server.Figure{}, server.Figure{}
			if !g.Time.Equal(w.Time) || g.Reports != w.Reports || !sameFigure(g.CPU, w.CPU) || !sameFigure(g.Memory, w.Memory) ||
				!sameFigure(g.Load, w.Load) || !sameFigure(g.Disk, w.Disk) || g.NetRx.Valid || g.NetTx.Valid {
				t.Errorf("%s bucket %d after the backfill = %+v, want %+v", res, i, g, w)
			}
		}
	}
	// Ingest after the backfill adds to the rebuilt buckets.
	f.commit(server.HostReports{HostID: h.ID, Received: base, Reports: []wire.Report{figReport(13, base.Add(time.Minute), 10, 10, 1, 10, 500, 50)}})
	got := f.metrics(h.ID, server.RollupHour, from, to, 0)
	if got[0].Reports != want[server.RollupHour][0].Reports+1 || !got[0].NetRx.Valid || got[0].NetRx.Max != 500 {
		t.Errorf("first hour after a new report = %+v", got[0])
	}
}

// sameFigure compares figures up to float rounding (the backfill sums in SQL, ingest in Go).
func sameFigure(a, b server.Figure) bool {
	d := a.Avg - b.Avg
	return a.Valid == b.Valid && a.Max == b.Max && d < 1e-9 && d > -1e-9
}
