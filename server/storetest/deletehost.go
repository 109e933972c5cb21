package storetest

import (
	"testing"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/wire"
)

// testDeleteHost: a deleted host is gone with its samples and update events, its credential no
// longer finds it, other hosts keep theirs, and the deletion is audited.
func testDeleteHost(t *testing.T, f *fixture) {
	h, cred := f.host("retired", server.DefaultGroup)
	other, _ := f.host("stays", server.DefaultGroup)
	f.commit(batch(h.ID, t0.Add(time.Minute), 1, 2), batch(other.ID, t0.Add(time.Minute), 1))
	ev := server.UpdateEvent{HostID: h.ID, ReceivedAt: t0, UpdateEvent: wire.UpdateEvent{Phase: wire.PhaseCheck, Result: wire.ResultOK, Time: t0}}
	if err := f.s.AddUpdateEvent(f.ctx, ev); err != nil {
		t.Fatalf("AddUpdateEvent: %v", err)
	}
	if err := f.s.DeleteHost(f.ctx, h.ID, audit("host.delete", h.ID)); err != nil {
		t.Fatalf("DeleteHost: %v", err)
	}
	f.wantAudit("host.delete", h.ID)
	_, err := f.s.GetHost(f.ctx, h.ID)
	wantErr(t, "GetHost of a deleted host", err, server.ErrNotFound)
	_, err = f.s.HostByCredential(f.ctx, cred)
	wantErr(t, "HostByCredential of a deleted host", err, server.ErrNotFound)
	if ss := f.samples(h.ID); len(ss) != 0 {
		t.Errorf("deleted host keeps %d samples", len(ss))
	}
	if evs, err := f.s.ListUpdateEvents(f.ctx, h.ID, 10); err != nil || len(evs) != 0 {
		t.Errorf("deleted host's update events = %v, %v; want none", evs, err)
	}
	if ss := f.samples(other.ID); len(ss) != 1 {
		t.Errorf("other host has %d samples, want 1", len(ss))
	}
	before := f.lastAudit()
	wantErr(t, "DeleteHost again", f.s.DeleteHost(f.ctx, h.ID, audit("host.delete", h.ID)), server.ErrNotFound)
	f.noNewAudit(before, "DeleteHost again")
}
