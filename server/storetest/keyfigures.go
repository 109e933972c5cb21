package storetest

import (
	"context"
	"testing"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/wire"
)

// FiguresFunc reads the key figures stored with the sample (hostID, seq), in the order
// cpu_busy_pct, mem_used_pct, load1, disk_max_used_pct; NULL is nil. Each store's test supplies
// one, since no Store method reads them.
type FiguresFunc func(ctx context.Context, hostID string, seq uint64) ([4]*float64, error)

// KeyFigures checks the key figures CommitReports stores beside each sample: single precision
// (the float32 nearest the report's value, widened exactly, so both stores hold the same bits), the
// largest used percentage over the mounts for the disk, and NULL where the report lacks a figure or
// float32 cannot hold it. s must be a fresh store.
func KeyFigures(t *testing.T, s server.Store, read FiguresFunc) {
	f := &fixture{t: t, s: s, ctx: t.Context()}
	h, _ := f.host("figures", server.DefaultGroup)

	full := Report(1, reportTime(1))
	full.CPU.BusyPct, full.Memory.UsedPct, full.Load.Load1 = 0.1, 99.99, 12345.678
	full.Mounts[0].UsedPct, full.Mounts[1].UsedPct, full.Mounts[2].UsedPct = 3.5, 97.3, 50
	huge := Report(2, reportTime(2))
	huge.Load.Load1 = 1e300 // beyond float32
	bare := wire.Report{Seq: 3, Time: reportTime(3)}
	f.commit(server.HostReports{HostID: h.ID, Received: t0, Reports: []wire.Report{full, huge, bare}})

	f32 := func(v float64) *float64 { w := float64(float32(v)); return &w }
	for _, tt := range []struct {
		seq  uint64
		want [4]*float64
	}{
		{1, [4]*float64{f32(0.1), f32(99.99), f32(12345.678), f32(97.3)}},
		{2, [4]*float64{f32(huge.CPU.BusyPct), f32(huge.Memory.UsedPct), nil, f32(90.2)}},
		{3, [4]*float64{nil, nil, nil, nil}},
	} {
		got, err := read(f.ctx, h.ID, tt.seq)
		if err != nil {
			t.Fatalf("read key figures of seq %d: %v", tt.seq, err)
		}
		for i, name := range []string{"cpu_busy_pct", "mem_used_pct", "load1", "disk_max_used_pct"} {
			g, w := got[i], tt.want[i]
			switch {
			case g == nil && w == nil:
			case g == nil || w == nil:
				t.Errorf("seq %d %s = %v, want %v", tt.seq, name, deref(g), deref(w))
			case *g != *w:
				t.Errorf("seq %d %s = %v, want %v (float32 of the report's value)", tt.seq, name, *g, *w)
			}
		}
	}
}

func deref(p *float64) any {
	if p == nil {
		return "NULL"
	}
	return *p
}
