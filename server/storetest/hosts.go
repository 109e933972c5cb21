package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/wire"
)

func testHosts(t *testing.T, f *fixture) {
	f.group("web")
	c, credC := f.host("charlie", "web")
	a, _ := f.host("alpha", "web")
	b, _ := f.host("bravo", server.DefaultGroup)

	// Give charlie a report and an update event: GetHost and ListHosts return them,
	// HostByCredential does not.
	f.commit(batch(c.ID, t0.Add(time.Minute), 1))
	ev := server.UpdateEvent{HostID: c.ID, ReceivedAt: t0, UpdateEvent: wire.UpdateEvent{FromVersion: "1.0.0", ToVersion: "1.1.0", Phase: wire.PhaseCommit, Result: wire.ResultOK, Time: t0}}
	if err := f.s.AddUpdateEvent(f.ctx, ev); err != nil {
		t.Fatalf("AddUpdateEvent: %v", err)
	}

	byCred, err := f.s.HostByCredential(f.ctx, credC)
	if err != nil {
		t.Fatalf("HostByCredential: %v", err)
	}
	if byCred.ID != c.ID || byCred.Hostname != "charlie" || byCred.Group != "web" || byCred.AckedSeq != 1 {
		t.Errorf("HostByCredential = %+v", byCred)
	}
	if byCred.Latest != nil || byCred.LastUpdate != nil {
		t.Errorf("HostByCredential returned Latest or LastUpdate")
	}
	_, err = f.s.HostByCredential(f.ctx, "cred-unknown")
	wantErr(t, "HostByCredential unknown", err, server.ErrNotFound)
	_, err = f.s.GetHost(f.ctx, "h-unknown")
	wantErr(t, "GetHost unknown", err, server.ErrNotFound)

	got := f.getHost(c.ID)
	if got.Latest == nil || got.Latest.Seq != 1 || got.LastUpdate == nil || got.LastUpdate.ToVersion != "1.1.0" {
		t.Errorf("GetHost = %+v, want Latest and LastUpdate", got)
	}

	for _, tt := range []struct {
		group string
		want  []string
	}{
		{"", []string{"alpha", "bravo", "charlie"}},
		{"web", []string{"alpha", "charlie"}},
		{server.DefaultGroup, []string{"bravo"}},
		{"nope", nil},
	} {
		hs, err := f.s.ListHosts(f.ctx, tt.group)
		if err != nil {
			t.Fatalf("ListHosts %q: %v", tt.group, err)
		}
		var names []string
		for _, h := range hs {
			names = append(names, h.Hostname)
			if h.ID == c.ID && (h.Latest == nil || h.LastUpdate == nil) {
				t.Errorf("ListHosts %q: charlie lacks Latest or LastUpdate", tt.group)
			}
			if h.ID == a.ID && (h.Latest != nil || h.LastUpdate != nil) {
				t.Errorf("ListHosts %q: alpha has Latest or LastUpdate", tt.group)
			}
		}
		if !slices.Equal(names, tt.want) {
			t.Errorf("ListHosts %q = %v, want %v", tt.group, names, tt.want)
		}
	}
	if got := f.getHost(b.ID); got.Group != server.DefaultGroup || got.Latest != nil || got.LastUpdate != nil || !got.LastSeen.IsZero() {
		t.Errorf("GetHost of a silent host = %+v", got)
	}
}

func testRevokeHost(t *testing.T, f *fixture) {
	h, cred := f.host("victim", server.DefaultGroup)
	other, _ := f.host("bystander", server.DefaultGroup)
	for range 2 { // idempotent
		if err := f.s.RevokeHost(f.ctx, h.ID, audit("host.revoke", h.ID)); err != nil {
			t.Fatalf("RevokeHost: %v", err)
		}
		f.wantAudit("host.revoke", h.ID)
	}
	byCred, err := f.s.HostByCredential(f.ctx, cred)
	if err != nil || byCred.ID != h.ID || !byCred.Revoked {
		t.Errorf("HostByCredential of revoked host = %+v, %v; want it with Revoked", byCred, err)
	}
	if !f.getHost(h.ID).Revoked {
		t.Errorf("GetHost: not Revoked")
	}
	if f.getHost(other.ID).Revoked {
		t.Errorf("revoking one host revoked another")
	}
	before := f.lastAudit()
	wantErr(t, "RevokeHost unknown", f.s.RevokeHost(f.ctx, "h-unknown", audit("host.revoke", "h-unknown")), server.ErrNotFound)
	f.noNewAudit(before, "RevokeHost unknown")
}

func testMoveHost(t *testing.T, f *fixture) {
	f.group("db")
	h, _ := f.host("mover", server.DefaultGroup)
	if err := f.s.MoveHost(f.ctx, h.ID, "db", audit("host.move", h.ID)); err != nil {
		t.Fatalf("MoveHost: %v", err)
	}
	f.wantAudit("host.move", h.ID)
	if g := f.getHost(h.ID).Group; g != "db" {
		t.Errorf("host group = %q after move, want db", g)
	}
	if n := f.getGroup("db").Hosts; n != 1 {
		t.Errorf("db has %d hosts, want 1", n)
	}
	if n := f.getGroup(server.DefaultGroup).Hosts; n != 0 {
		t.Errorf("default has %d hosts, want 0", n)
	}
	before := f.lastAudit()
	wantErr(t, "MoveHost to unknown group", f.s.MoveHost(f.ctx, h.ID, "nope", audit("host.move", h.ID)), server.ErrNotFound)
	wantErr(t, "MoveHost unknown host", f.s.MoveHost(f.ctx, "h-unknown", "db", audit("host.move", "h-unknown")), server.ErrNotFound)
	f.noNewAudit(before, "failed MoveHost")
	if g := f.getHost(h.ID).Group; g != "db" {
		t.Errorf("failed move changed the group to %q", g)
	}
}
