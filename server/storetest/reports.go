package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/wire"
)

// testCommitReportsAck walks one host through a sequence of batches and checks the ack and the
// stored seqs after each.
func testCommitReportsAck(t *testing.T, f *fixture) {
	h, _ := f.host("acker", server.DefaultGroup)
	steps := []struct {
		name    string
		seqs    []uint64
		wantAck uint64
		stored  []uint64 // all stored seqs afterwards
	}{
		{"first batch", []uint64{1, 2, 3}, 3, []uint64{1, 2, 3}},
		{"duplicates only keep the ack", []uint64{2, 3}, 3, []uint64{1, 2, 3}},
		{"overlap stores only new seqs", []uint64{3, 4, 5}, 5, []uint64{1, 2, 3, 4, 5}},
		{"gap is acknowledged across", []uint64{9, 10}, 10, []uint64{1, 2, 3, 4, 5, 9, 10}},
		{"late seq below the ack is a duplicate", []uint64{7}, 10, []uint64{1, 2, 3, 4, 5, 9, 10}},
		{"single report", []uint64{11}, 11, []uint64{1, 2, 3, 4, 5, 9, 10, 11}},
	}
	for i, st := range steps {
		acks := f.commit(batch(h.ID, t0.Add(time.Duration(i)*time.Second), st.seqs...))
		if acks[0] != st.wantAck {
			t.Errorf("%s: ack = %d, want %d", st.name, acks[0], st.wantAck)
		}
		if got := f.getHost(h.ID).AckedSeq; got != st.wantAck {
			t.Errorf("%s: host AckedSeq = %d, want %d", st.name, got, st.wantAck)
		}
		if got := seqsOf(f.samples(h.ID)); !slices.Equal(got, st.stored) {
			t.Errorf("%s: stored seqs %v, want %v", st.name, got, st.stored)
		}
	}
	if acks, err := f.s.CommitReports(f.ctx, nil); err != nil || len(acks) != 0 {
		t.Errorf("CommitReports(nil) = %v, %v; want no acks and no error", acks, err)
	}
}

func testCommitReportsDedupe(t *testing.T, f *fixture) {
	a, _ := f.host("a", server.DefaultGroup)
	b, _ := f.host("b", server.DefaultGroup)
	c, _ := f.host("c", server.DefaultGroup)
	recv := t0.Add(time.Hour)

	// Within a batch: a repeated seq is stored once.
	dup := batch(c.ID, recv, 1, 2)
	dup.Reports = append(dup.Reports, dup.Reports[1])
	// Across batches of one call: a's second request overlaps its first.
	acks := f.commit(
		batch(a.ID, recv, 1, 2),
		batch(b.ID, recv, 5, 6, 7),
		batch(a.ID, recv, 2, 3),
		dup,
	)
	if want := []uint64{2, 7, 3, 2}; !slices.Equal(acks, want) {
		t.Errorf("acks = %v, want %v", acks, want)
	}
	for _, tt := range []struct {
		host server.Host
		want []uint64
	}{
		{a, []uint64{1, 2, 3}},
		{b, []uint64{5, 6, 7}},
		{c, []uint64{1, 2}},
	} {
		if got := seqsOf(f.samples(tt.host.ID)); !slices.Equal(got, tt.want) {
			t.Errorf("host %s stored %v, want %v", tt.host.Hostname, got, tt.want)
		}
	}

	// Across calls: a replay of everything stores nothing and keeps every ack.
	acks = f.commit(batch(a.ID, recv, 1, 2, 3), batch(b.ID, recv, 5, 6, 7), batch(c.ID, recv, 1, 2))
	if want := []uint64{3, 7, 2}; !slices.Equal(acks, want) {
		t.Errorf("replay acks = %v, want %v", acks, want)
	}
	if got := seqsOf(f.samples(a.ID)); !slices.Equal(got, []uint64{1, 2, 3}) {
		t.Errorf("replay stored again: %v", got)
	}
}

func testCommitReportsHostState(t *testing.T, f *fixture) {
	h, _ := f.host("state", server.DefaultGroup)
	other, _ := f.host("other", server.DefaultGroup)
	recv1 := time.Date(2026, 11, 21, 11, 0, 0, 555555555, time.FixedZone("X", -5*3600))
	b1 := batch(h.ID, recv1, 1, 2)
	b1.Reports[1].AgentVersion = "2.0.0"
	b1.Reports[1].UpdaterVersion = "2.0.1"
	b1.Reports[1].IntervalSeconds = 30
	b1.Reports[1].BootTime = time.Date(2026, 11, 20, 1, 2, 3, 456789000, time.UTC)
	b1.Reports[1].Outages = []wire.Outage{{Start: t0, End: t0.Add(time.Minute), Class: wire.OutageDNS, Detail: "no such host"}}
	f.commit(b1)

	got := f.getHost(h.ID)
	if got.AgentVersion != "2.0.0" || got.UpdaterVersion != "2.0.1" || got.IntervalSeconds != 30 || got.AckedSeq != 2 {
		t.Errorf("host after first batch = %+v", got)
	}
	checkTime(t, "LastSeen", got.LastSeen, recv1)
	checkTime(t, "BootTime", got.BootTime, b1.Reports[1].BootTime)
	sameReport(t, "Latest", got.Latest, &b1.Reports[1])
	if o := f.getHost(other.ID); o.AckedSeq != 0 || !o.LastSeen.IsZero() || o.Latest != nil {
		t.Errorf("another host changed: %+v", o)
	}

	// A newer report with empty versions, interval and boot time keeps the previous ones.
	recv2 := recv1.Add(time.Minute)
	b2 := batch(h.ID, recv2, 3)
	b2.Reports[0].AgentVersion, b2.Reports[0].UpdaterVersion, b2.Reports[0].IntervalSeconds, b2.Reports[0].BootTime = "", "", 0, time.Time{}
	f.commit(b2)
	got = f.getHost(h.ID)
	if got.AgentVersion != "2.0.0" || got.UpdaterVersion != "2.0.1" || got.IntervalSeconds != 30 {
		t.Errorf("empty fields of the newest report overwrote the host's: %+v", got)
	}
	checkTime(t, "BootTime kept", got.BootTime, b1.Reports[1].BootTime)
	checkTime(t, "LastSeen", got.LastSeen, recv2)
	sameReport(t, "Latest", got.Latest, &b2.Reports[0])

	// A reboot and an upgrade show in the newest report.
	b3 := batch(h.ID, recv2.Add(time.Minute), 4)
	b3.Reports[0].AgentVersion = "2.1.0"
	b3.Reports[0].BootTime = time.Date(2026, 11, 21, 10, 30, 0, 0, time.UTC)
	f.commit(b3)
	got = f.getHost(h.ID)
	if got.AgentVersion != "2.1.0" || got.UpdaterVersion != "1.4.0" {
		t.Errorf("versions = %q/%q, want 2.1.0/1.4.0", got.AgentVersion, got.UpdaterVersion)
	}
	checkTime(t, "BootTime", got.BootTime, b3.Reports[0].BootTime)

	// Duplicates only: LastSeen follows the request (the host is alive), the rest stays.
	recv4 := recv2.Add(time.Hour)
	f.commit(batch(h.ID, recv4, 3, 4))
	got = f.getHost(h.ID)
	checkTime(t, "LastSeen after duplicates", got.LastSeen, recv4)
	if got.AckedSeq != 4 || got.Latest == nil || got.Latest.Seq != 4 || got.AgentVersion != "2.1.0" {
		t.Errorf("duplicates changed the host: %+v", got)
	}
	// Enrollment fields are untouched by reports.
	if got.Hostname != "state" || got.Group != server.DefaultGroup || got.Revoked {
		t.Errorf("reports changed enrollment fields: %+v", got)
	}
}

// testCommitReportsAtomic: a call that fails stores and acknowledges nothing.
func testCommitReportsAtomic(t *testing.T, f *fixture) {
	h, _ := f.host("atomic", server.DefaultGroup)
	f.commit(batch(h.ID, t0, 1))
	_, err := f.s.CommitReports(f.ctx, []server.HostReports{
		batch(h.ID, t0.Add(time.Hour), 2, 3),
		batch("h-unknown", t0.Add(time.Hour), 1),
	})
	wantErr(t, "CommitReports with an unknown host", err, server.ErrNotFound)
	got := f.getHost(h.ID)
	if got.AckedSeq != 1 || got.Latest == nil || got.Latest.Seq != 1 {
		t.Errorf("failed commit changed the host: acked %d", got.AckedSeq)
	}
	checkTime(t, "LastSeen after failed commit", got.LastSeen, t0)
	if seqs := seqsOf(f.samples(h.ID)); !slices.Equal(seqs, []uint64{1}) {
		t.Errorf("failed commit stored %v", seqs)
	}
}

// testCommitReportsConcurrent: several committers (server replicas, retried requests) race to
// store the same reports; each (host, seq) is stored once and every call succeeds.
func testCommitReportsConcurrent(t *testing.T, f *fixture) {
	const writers, seqs = 6, 40
	var hosts []server.Host
	for i := range 3 {
		h, _ := f.host(fmt.Sprintf("busy-%d", i), server.DefaultGroup)
		hosts = append(hosts, h)
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers*seqs)
	for w := range writers {
		wg.Go(func() {
			for seq := uint64(1); seq <= seqs; seq += 4 {
				var bs []server.HostReports
				// Vary the host order so lock ordering matters.
				for i := range hosts {
					h := hosts[(i+w)%len(hosts)]
					bs = append(bs, batch(h.ID, t0, seq, seq+1, seq+2, seq+3))
				}
				if _, err := f.s.CommitReports(f.ctx, bs); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent CommitReports: %v", err)
	}
	for _, h := range hosts {
		got := seqsOf(f.samples(h.ID))
		if len(got) != seqs || got[0] != 1 || got[seqs-1] != seqs {
			t.Errorf("host %s stored %d samples (%v), want seqs 1..%d once", h.Hostname, len(got), got, seqs)
		}
		if a := f.getHost(h.ID).AckedSeq; a != seqs {
			t.Errorf("host %s AckedSeq = %d, want %d", h.Hostname, a, seqs)
		}
	}
}

func testSamples(t *testing.T, f *fixture) {
	h, _ := f.host("sampled", server.DefaultGroup)
	other, _ := f.host("other", server.DefaultGroup)
	b := batch(h.ID, t0, 1, 2, 3, 4, 5)
	b.Reports[2].Time = reportTime(3).In(time.FixedZone("CET", 3600))
	b.Reports[3].CPU, b.Reports[3].Memory, b.Reports[3].Load, b.Reports[3].Mounts = nil, nil, nil, nil // optional parts may be missing
	f.commit(b, batch(other.ID, t0, 1, 2, 3, 4, 5))

	all := f.samples(h.ID)
	if len(all) != 5 {
		t.Fatalf("ListSamples returned %d samples, want 5", len(all))
	}
	for i, s := range all {
		want := b.Reports[i]
		if s.HostID != h.ID || s.Seq != want.Seq {
			t.Errorf("sample %d = host %s seq %d, want %s %d", i, s.HostID, s.Seq, h.ID, want.Seq)
		}
		checkTime(t, "Sample.Time", s.Time, want.Time)
		sameReport(t, fmt.Sprintf("sample %d report", i), &s.Report, &want)
	}

	for _, tt := range []struct {
		name     string
		from, to time.Time
		limit    int
		want     []uint64
	}{
		{"from is inclusive", reportTime(2), reportTime(5), 100, []uint64{2, 3, 4}},
		{"to is exclusive", reportTime(2), reportTime(3), 100, []uint64{2}},
		{"between samples", reportTime(2).Add(time.Second), reportTime(4).Add(time.Second), 100, []uint64{3, 4}},
		{"limit keeps the oldest", reportTime(1), reportTime(6), 2, []uint64{1, 2}},
		{"empty range", reportTime(6), reportTime(9), 100, []uint64{}},
		{"no limit", reportTime(0), reportTime(9), 0, []uint64{1, 2, 3, 4, 5}},
	} {
		ss, err := f.s.ListSamples(f.ctx, h.ID, tt.from, tt.to, tt.limit)
		if err != nil {
			t.Fatalf("ListSamples %s: %v", tt.name, err)
		}
		if got := seqsOf(ss); !slices.Equal(got, tt.want) {
			t.Errorf("ListSamples %s = %v, want %v", tt.name, got, tt.want)
		}
	}
	ss, err := f.s.ListSamples(f.ctx, "h-unknown", reportTime(0), reportTime(9), 10)
	if err != nil || len(ss) != 0 {
		t.Errorf("ListSamples of an unknown host = %v, %v; want none", ss, err)
	}
}

func testOutages(t *testing.T, f *fixture) {
	h, _ := f.host("flaky", server.DefaultGroup)
	other, _ := f.host("other", server.DefaultGroup)
	o1 := wire.Outage{Start: t0, End: t0.Add(2 * time.Minute), Class: wire.OutageDNS, Detail: "lookup vigil: no such host"}
	o2 := wire.Outage{Start: t0.Add(time.Hour), End: t0.Add(time.Hour + time.Minute), Class: wire.OutageHTTP, Detail: "503"}
	o3 := wire.Outage{Start: t0.Add(2 * time.Hour), End: t0.Add(3 * time.Hour), Class: wire.OutageTimeout}

	b := batch(h.ID, t0, 1, 2, 3)
	b.Reports[0].Outages = []wire.Outage{o2, o1} // not in order
	b.Reports[1].Outages = []wire.Outage{o1}     // identical outage in another report
	f.commit(b)
	b = batch(h.ID, t0, 3, 4)
	b.Reports[0].Outages = []wire.Outage{o3} // seq 3 is a duplicate: its outages are not stored
	b.Reports[1].Outages = []wire.Outage{o2, o3}
	f.commit(b)
	ob := batch(other.ID, t0, 1)
	ob.Reports[0].Outages = []wire.Outage{{Start: t0, End: t0.Add(time.Minute), Class: wire.OutageTLS}}
	f.commit(ob)

	for _, tt := range []struct {
		name  string
		since time.Time
		want  []wire.Outage
	}{
		{"all", time.Time{}, []wire.Outage{o1, o2, o3}},
		{"end at since counts", o2.End, []wire.Outage{o2, o3}},
		{"after o2", o2.End.Add(time.Microsecond), []wire.Outage{o3}},
		{"none", o3.End.Add(time.Second), nil},
	} {
		got, err := f.s.ListOutages(f.ctx, h.ID, tt.since)
		if err != nil {
			t.Fatalf("ListOutages %s: %v", tt.name, err)
		}
		if len(got) != len(tt.want) {
			t.Errorf("ListOutages %s = %+v, want %+v", tt.name, got, tt.want)
			continue
		}
		for i := range got {
			if got[i].Class != tt.want[i].Class || got[i].Detail != tt.want[i].Detail {
				t.Errorf("ListOutages %s [%d] = %+v, want %+v", tt.name, i, got[i], tt.want[i])
			}
			checkTime(t, "Outage.Start", got[i].Start, tt.want[i].Start)
			checkTime(t, "Outage.End", got[i].End, tt.want[i].End)
		}
	}
}

func testRetention(t *testing.T, f *fixture) {
	h, _ := f.host("old", server.DefaultGroup)
	other, _ := f.host("other", server.DefaultGroup)
	b := batch(h.ID, t0, 1, 2, 3, 4)
	oldOutage := wire.Outage{Start: reportTime(0), End: reportTime(1), Class: wire.OutageConnect}
	openOutage := wire.Outage{Start: reportTime(1), End: reportTime(5), Class: wire.OutageTLS}
	b.Reports[3].Outages = []wire.Outage{oldOutage, openOutage}
	f.commit(b, batch(other.ID, t0, 1, 2, 3, 4))

	n, err := f.s.DeleteSamplesBefore(f.ctx, reportTime(3))
	if err != nil {
		t.Fatalf("DeleteSamplesBefore: %v", err)
	}
	if n != 4 {
		t.Errorf("DeleteSamplesBefore deleted %d samples, want 4 (two per host)", n)
	}
	for _, id := range []string{h.ID, other.ID} {
		if got := seqsOf(f.samples(id)); !slices.Equal(got, []uint64{3, 4}) {
			t.Errorf("samples left = %v, want [3 4]", got)
		}
	}
	os, err := f.s.ListOutages(f.ctx, h.ID, time.Time{})
	if err != nil {
		t.Fatalf("ListOutages: %v", err)
	}
	if len(os) != 1 || os[0].Class != wire.OutageTLS {
		t.Errorf("outages left = %+v, want only the one that ended after the cut", os)
	}
	// Retention does not touch the host's state.
	if got := f.getHost(h.ID); got.AckedSeq != 4 || got.Latest == nil {
		t.Errorf("retention changed the host: %+v", got)
	}
	n, err = f.s.DeleteSamplesBefore(f.ctx, reportTime(3))
	if err != nil || n != 0 {
		t.Errorf("second DeleteSamplesBefore = %d, %v; want 0", n, err)
	}
	// The acknowledged seq still dedupes reports whose samples are gone.
	f.commit(batch(h.ID, t0, 1, 2))
	if got := seqsOf(f.samples(h.ID)); !slices.Equal(got, []uint64{3, 4}) {
		t.Errorf("replay after retention stored %v", got)
	}
}
