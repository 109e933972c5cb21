package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/wire"
)

// figReport is a report whose chart figures are the given values; a negative value leaves the
// figure out (no CPU section, no mounts, no interfaces, …).
func figReport(seq uint64, at time.Time, cpu, mem, load, disk, rx, tx float64) wire.Report {
	r := wire.Report{Seq: seq, Time: at, AgentVersion: "1.0.0", IntervalSeconds: 10}
	if cpu >= 0 {
		r.CPU = &wire.CPU{Cores: 2, BusyPct: cpu}
	}
	if mem >= 0 {
		r.Memory = &wire.Memory{TotalBytes: 1 << 30, UsedPct: mem}
	}
	if load >= 0 {
		r.Load = &wire.Load{Load1: load}
	}
	if disk >= 0 {
		// The fullest mount counts.
		r.Mounts = []wire.Mount{{Path: "/", UsedPct: disk / 2}, {Path: "/var", UsedPct: disk}}
	}
	if rx >= 0 {
		// Interfaces add up.
		r.Interfaces = []wire.NetIO{{Interface: "eth0", RxBytesPS: rx / 2, TxBytesPS: tx / 2}, {Interface: "eth1", RxBytesPS: rx / 2, TxBytesPS: tx / 2}}
	}
	return r
}

func (f *fixture) metrics(hostID string, res time.Duration, from, to time.Time, limit int) []server.MetricPoint {
	f.t.Helper()
	ps, err := f.s.ListMetrics(f.ctx, hostID, res, from, to, limit)
	if err != nil {
		f.t.Fatalf("ListMetrics %s: %v", res, err)
	}
	return ps
}

func wantFigure(t *testing.T, what string, got server.Figure, avg, max float64) {
	t.Helper()
	if !got.Valid || got.Avg != avg || got.Max != max {
		t.Errorf("%s = %+v, want avg %v max %v", what, got, avg, max)
	}
}

func wantNoFigure(t *testing.T, what string, got server.Figure) {
	t.Helper()
	if got.Valid || got.Avg != 0 || got.Max != 0 {
		t.Errorf("%s = %+v, want none (no report carried it)", what, got)
	}
}

// testRollups: every stored report lands in its one-minute and one-hour buckets (by its instant,
// whatever its zone), figures a report lacks are left out of the mean rather than counted as 0,
// a late report from an earlier minute joins its bucket, a duplicate is not counted twice, and
// ListMetrics reads buckets oldest first within [from, to).
func testRollups(t *testing.T, f *fixture) {
	h, _ := f.host("rolled", server.DefaultGroup)
	other, _ := f.host("other", server.DefaultGroup)
	base := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	ist := time.FixedZone("IST", 5*3600+1800)
	f.commit(server.HostReports{HostID: h.ID, Received: base.Add(2 * time.Minute), Reports: []wire.Report{
		figReport(1, base.Add(5*time.Second), 10, 50, 0.5, 40, 1000, 100),
		// The same minute written in UTC+5:30.
		figReport(2, base.Add(35*time.Second).In(ist), 30, 70, 1.5, 60, 3000, 300),
		// No CPU, memory, mounts or interfaces in this one: only load.
		figReport(3, base.Add(50*time.Second), -1, -1, 2.5, -1, -1, -1),
		figReport(4, base.Add(70*time.Second), 20, 60, 1, 50, 2000, 200),
	}}, server.HostReports{HostID: other.ID, Received: base, Reports: []wire.Report{
		figReport(1, base.Add(10*time.Second), 99, 99, 99, 99, 99, 99),
	}})

	from, to := base.Add(-time.Hour), base.Add(time.Hour)
	ms := f.metrics(h.ID, server.RollupMinute, from, to, 0)
	if len(ms) != 2 || !ms[0].Time.Equal(base) || !ms[1].Time.Equal(base.Add(time.Minute)) {
		t.Fatalf("minute buckets = %+v, want 10:00 and 10:01 UTC", ms)
	}
	if ms[0].Time.Location() != time.UTC {
		t.Errorf("bucket time zone = %s, want UTC", ms[0].Time.Location())
	}
	m := ms[0]
	if m.Reports != 3 {
		t.Errorf("10:00 bucket counts %d reports, want 3", m.Reports)
	}
	wantFigure(t, "10:00 CPU", m.CPU, 20, 30)
	wantFigure(t, "10:00 memory", m.Memory, 60, 70)
	wantFigure(t, "10:00 load", m.Load, 1.5, 2.5)
	wantFigure(t, "10:00 disk", m.Disk, 50, 60)
	wantFigure(t, "10:00 rx", m.NetRx, 2000, 3000)
	wantFigure(t, "10:00 tx", m.NetTx, 200, 300)
	wantFigure(t, "10:01 CPU", ms[1].CPU, 20, 20)

	hs := f.metrics(h.ID, server.RollupHour, from, to, 0)
	if len(hs) != 1 || !hs[0].Time.Equal(base) || hs[0].Reports != 4 {
		t.Fatalf("hour buckets = %+v, want one at 10:00 of 4 reports", hs)
	}
	wantFigure(t, "hour CPU", hs[0].CPU, 20, 30)
	wantFigure(t, "hour load", hs[0].Load, 1.375, 2.5)

	// A late report (spooled through an outage, sent after newer ones) joins the 10:00 bucket; a
	// repost of seq 2 is a duplicate and changes nothing.
	f.commit(server.HostReports{HostID: h.ID, Received: base.Add(5 * time.Minute), Reports: []wire.Report{
		figReport(2, base.Add(35*time.Second), 90, 90, 90, 90, 90, 90),
		figReport(5, base.Add(20*time.Second), 80, 40, 0.5, 30, 6000, 600),
	}})
	ms = f.metrics(h.ID, server.RollupMinute, from, to, 0)
	if len(ms) != 2 || ms[0].Reports != 4 {
		t.Fatalf("after the late report: %+v, want the 10:00 bucket with 4 reports", ms)
	}
	wantFigure(t, "10:00 CPU after the late report", ms[0].CPU, 40, 80)
	wantFigure(t, "10:00 memory after the late report", ms[0].Memory, 160.0/3, 70)
	wantFigure(t, "10:00 rx after the late report", ms[0].NetRx, 10000.0/3, 6000)

	// [from, to): a bucket starting at to is out, one starting at from is in; limit cuts.
	if got := f.metrics(h.ID, server.RollupMinute, base, base.Add(time.Minute), 0); len(got) != 1 || !got[0].Time.Equal(base) {
		t.Errorf("buckets in [10:00, 10:01) = %+v, want only 10:00", got)
	}
	if got := f.metrics(h.ID, server.RollupMinute, from, to, 1); len(got) != 1 || !got[0].Time.Equal(base) {
		t.Errorf("limit 1 = %+v, want the oldest bucket", got)
	}
	// Bounds in another zone mean the same instants.
	if got := f.metrics(h.ID, server.RollupMinute, base.Add(time.Minute).In(ist), to.In(ist), 0); len(got) != 1 || !got[0].Time.Equal(base.Add(time.Minute)) {
		t.Errorf("buckets from 10:01 UTC written in IST = %+v, want 10:01", got)
	}
	// The other host's figures stay its own.
	if got := f.metrics(other.ID, server.RollupMinute, from, to, 0); len(got) != 1 || got[0].CPU.Max != 99 {
		t.Errorf("other host's buckets = %+v", got)
	}
	if got := f.metrics(randomID("h-"), server.RollupHour, from, to, 0); len(got) != 0 {
		t.Errorf("unknown host has buckets: %+v", got)
	}
}

// testRawMetrics: resolution 0 reads one point per stored report, oldest first (ties by seq),
// with Avg = Max and missing figures left out.
func testRawMetrics(t *testing.T, f *fixture) {
	h, _ := f.host("raw", server.DefaultGroup)
	base := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	f.commit(server.HostReports{HostID: h.ID, Received: base, Reports: []wire.Report{
		figReport(1, base.Add(20*time.Second), 10, 50, 0.5, 40, 1000, 100),
		figReport(2, base.Add(10*time.Second), -1, -1, -1, -1, -1, -1),
		figReport(3, base.Add(20*time.Second), 30, 70, 1.5, 60, 3000, 300),
	}})
	ps := f.metrics(h.ID, 0, base, base.Add(time.Hour), 0)
	if len(ps) != 3 {
		t.Fatalf("raw points = %+v, want 3", ps)
	}
	if !ps[0].Time.Equal(base.Add(10*time.Second)) || ps[0].Reports != 1 {
		t.Errorf("first point = %+v, want the report at 10:00:10", ps[0])
	}
	for _, fig := range []server.Figure{ps[0].CPU, ps[0].Memory, ps[0].Load, ps[0].Disk, ps[0].NetRx, ps[0].NetTx} {
		wantNoFigure(t, "figure of an empty report", fig)
	}
	wantFigure(t, "seq 1 CPU", ps[1].CPU, 10, 10)
	wantFigure(t, "seq 1 tx", ps[1].NetTx, 100, 100)
	wantFigure(t, "seq 3 disk", ps[2].Disk, 60, 60)
	if got := f.metrics(h.ID, 0, base, base.Add(20*time.Second), 0); len(got) != 1 {
		t.Errorf("raw points before 10:00:20 = %d, want 1", len(got))
	}
	if _, err := f.s.ListMetrics(f.ctx, h.ID, 5*time.Minute, base, base.Add(time.Hour), 0); !errors.Is(err, server.ErrInvalid) {
		t.Errorf("ListMetrics at 5m: %v, want ErrInvalid", err)
	}
}

// testRollupRetention: DeleteRollupsBefore deletes one resolution's buckets that start before the
// cut and leaves the other resolution and the raw samples alone.
func testRollupRetention(t *testing.T, f *fixture) {
	h, _ := f.host("kept", server.DefaultGroup)
	base := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	var rs []wire.Report
	for i := range 4 {
		rs = append(rs, figReport(uint64(i+1), base.Add(time.Duration(i)*40*time.Minute), 10, 10, 1, 10, 10, 10))
	}
	f.commit(server.HostReports{HostID: h.ID, Received: base, Reports: rs})
	from, to := base.Add(-time.Hour), base.Add(5*time.Hour)
	n, err := f.s.DeleteRollupsBefore(f.ctx, server.RollupMinute, base.Add(80*time.Minute))
	if err != nil || n != 2 {
		t.Fatalf("DeleteRollupsBefore 1m = %d, %v; want 2", n, err)
	}
	if got := f.metrics(h.ID, server.RollupMinute, from, to, 0); len(got) != 2 || !got[0].Time.Equal(base.Add(80*time.Minute)) {
		t.Errorf("minute buckets left = %+v, want 11:20 and 12:00", got)
	}
	if got := f.metrics(h.ID, server.RollupHour, from, to, 0); len(got) != 3 {
		t.Errorf("hour buckets = %d, want 3 (untouched)", len(got))
	}
	n, err = f.s.DeleteRollupsBefore(f.ctx, server.RollupHour, base.Add(time.Hour))
	if err != nil || n != 1 {
		t.Errorf("DeleteRollupsBefore 1h = %d, %v; want 1", n, err)
	}
	if got := f.metrics(h.ID, 0, from, to, 0); len(got) != 4 {
		t.Errorf("raw samples = %d, want 4 (untouched)", len(got))
	}
	if _, err := f.s.DeleteRollupsBefore(f.ctx, 0, base); !errors.Is(err, server.ErrInvalid) {
		t.Errorf("DeleteRollupsBefore 0: %v, want ErrInvalid", err)
	}
}
