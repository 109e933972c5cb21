package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/wire"
)

// testUpdateEventIDs: an event posted again with an ID the host sent before is recorded once
// and leaves LastUpdate alone; the same ID from another host, and events without an ID, are
// recorded every time; concurrent reposts still make one row.
func testUpdateEventIDs(t *testing.T, f *fixture) {
	h, _ := f.host("outbox", server.DefaultGroup)
	other, _ := f.host("outbox-other", server.DefaultGroup)
	ev := func(host, id string, phase string, at time.Time) server.UpdateEvent {
		return server.UpdateEvent{HostID: host, ReceivedAt: at, UpdateEvent: wire.UpdateEvent{ID: id,
			FromVersion: "1.0.0", ToVersion: "2.0.0", Phase: phase, Result: wire.ResultOK, Time: at}}
	}
	first := ev(h.ID, "0123456789abcdef0123456789abcdef", wire.PhaseCommit, t0)
	for i := 0; i < 3; i++ {
		if err := f.s.AddUpdateEvent(f.ctx, first); err != nil {
			t.Fatalf("AddUpdateEvent (post %d): %v", i, err)
		}
	}
	// A later event, then the first one reposted: LastUpdate stays the later one.
	later := ev(h.ID, "later", wire.PhaseCheck, t0.Add(time.Minute))
	if err := f.s.AddUpdateEvent(f.ctx, later); err != nil {
		t.Fatal(err)
	}
	if err := f.s.AddUpdateEvent(f.ctx, first); err != nil {
		t.Fatal(err)
	}
	if lu := f.getHost(h.ID).LastUpdate; lu == nil || lu.ID != "later" {
		t.Errorf("LastUpdate after a repost = %+v, want the later event", lu)
	}
	for i := 0; i < 2; i++ {
		if err := f.s.AddUpdateEvent(f.ctx, ev(h.ID, "", wire.PhaseDownload, t0.Add(2*time.Minute))); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.s.AddUpdateEvent(f.ctx, ev(other.ID, first.ID, wire.PhaseCommit, t0)); err != nil {
		t.Fatalf("the same ID from another host: %v", err)
	}
	got, err := f.s.ListUpdateEvents(f.ctx, h.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Fatalf("%d events stored, want 4 (one per ID, both without): %+v", len(got), got)
	}
	checkEvent(t, "the first event", got[3], first)
	if got[0].ID != "" || got[1].ID != "" || got[2].ID != "later" {
		t.Errorf("ids newest first = %q %q %q, want \"\" \"\" later", got[0].ID, got[1].ID, got[2].ID)
	}
	if o, _ := f.s.ListUpdateEvents(f.ctx, other.ID, 0); len(o) != 1 {
		t.Errorf("other host has %d events, want 1", len(o))
	}

	// Concurrent reposts of one new event: one row, and each post either succeeds or fails (a
	// failed post is retried by the updater, whose retry is then a no-op).
	race := ev(h.ID, "raced", wire.PhaseRollback, t0.Add(3*time.Minute))
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = f.s.AddUpdateEvent(f.ctx, race)
		}()
	}
	wg.Wait()
	if err := f.s.AddUpdateEvent(f.ctx, race); err != nil {
		t.Fatalf("repost after the race: %v", err)
	}
	got, _ = f.s.ListUpdateEvents(f.ctx, h.ID, 0)
	n := 0
	for _, e := range got {
		if e.ID == "raced" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("concurrent reposts stored %d rows, want 1", n)
	}
}

// testQuarantineGeneration: 0 for a new host, raised by one per clear with an audit entry,
// per host; ErrNotFound without the host, and no audit entry then.
func testQuarantineGeneration(t *testing.T, f *fixture) {
	h, _ := f.host("quarantined", server.DefaultGroup)
	other, _ := f.host("quarantined-other", server.DefaultGroup)
	if g, err := f.s.QuarantineGeneration(f.ctx, h.ID); err != nil || g != 0 {
		t.Fatalf("QuarantineGeneration of a new host = %d, %v; want 0", g, err)
	}
	for want := uint64(1); want <= 2; want++ {
		if err := f.s.ClearQuarantine(f.ctx, h.ID, audit("host.clear_quarantine", "host/"+h.ID)); err != nil {
			t.Fatalf("ClearQuarantine: %v", err)
		}
		f.wantAudit("host.clear_quarantine", "host/"+h.ID)
		if g, err := f.s.QuarantineGeneration(f.ctx, h.ID); err != nil || g != want {
			t.Fatalf("QuarantineGeneration = %d, %v; want %d", g, err, want)
		}
	}
	if g, _ := f.s.QuarantineGeneration(f.ctx, other.ID); g != 0 {
		t.Errorf("another host's generation = %d, want 0", g)
	}
	before := f.lastAudit()
	wantErr(t, "ClearQuarantine unknown host", f.s.ClearQuarantine(f.ctx, "h-unknown", audit("host.clear_quarantine", "host/h-unknown")), server.ErrNotFound)
	f.noNewAudit(before, "ClearQuarantine of an unknown host")
	_, err := f.s.QuarantineGeneration(f.ctx, "h-unknown")
	wantErr(t, "QuarantineGeneration unknown host", err, server.ErrNotFound)
}
