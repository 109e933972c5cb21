package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/vigilhq/vigil/server"
)

func testGroups(t *testing.T, f *fixture) {
	web := server.Group{
		Name: "web", Grace: 90*time.Second + 500*time.Millisecond, AlertEmails: []string{"ops@example.com", "web@example.com"},
		Pin: server.Pin{Channel: "beta"}, CreatedAt: t0,
	}
	if err := f.s.CreateGroup(f.ctx, web, audit("group.create", "web")); err != nil {
		t.Fatalf("CreateGroup: %v", err)
	}
	f.wantAudit("group.create", "web")
	f.group("api")

	got := f.getGroup("web")
	if got.Name != "web" || got.Grace != web.Grace || !slices.Equal(got.AlertEmails, web.AlertEmails) || got.Pin != web.Pin || got.Hosts != 0 {
		t.Errorf("GetGroup = %+v, want %+v", got, web)
	}
	checkTime(t, "CreatedAt", got.CreatedAt, t0)
	if g := f.getGroup("api"); len(g.AlertEmails) != 0 || g.Grace != 0 || g.Pin != (server.Pin{}) {
		t.Errorf("GetGroup of a bare group = %+v", g)
	}

	before := f.lastAudit()
	for _, tt := range []struct {
		name string
		g    server.Group
		want error
	}{
		{"existing", server.Group{Name: "web", CreatedAt: t0}, server.ErrConflict},
		{"default", server.Group{Name: server.DefaultGroup, CreatedAt: t0}, server.ErrConflict},
		{"empty name", server.Group{CreatedAt: t0}, server.ErrInvalid},
	} {
		wantErr(t, "CreateGroup "+tt.name, f.s.CreateGroup(f.ctx, tt.g, audit("group.create", tt.g.Name)), tt.want)
	}
	f.noNewAudit(before, "failed CreateGroup")
	_, err := f.s.GetGroup(f.ctx, "nope")
	wantErr(t, "GetGroup unknown", err, server.ErrNotFound)

	f.host("w1", "web")
	f.host("w2", "web")
	f.host("d1", server.DefaultGroup)
	gs, err := f.s.ListGroups(f.ctx)
	if err != nil {
		t.Fatalf("ListGroups: %v", err)
	}
	var names []string
	counts := map[string]int{}
	for _, g := range gs {
		names = append(names, g.Name)
		counts[g.Name] = g.Hosts
	}
	if want := []string{"api", server.DefaultGroup, "web"}; !slices.Equal(names, want) {
		t.Errorf("ListGroups = %v, want %v", names, want)
	}
	if counts["web"] != 2 || counts[server.DefaultGroup] != 1 || counts["api"] != 0 {
		t.Errorf("host counts = %v", counts)
	}
	if n := f.getGroup("web").Hosts; n != 2 {
		t.Errorf("GetGroup web Hosts = %d, want 2", n)
	}

	// UpdateGroup sets Grace and AlertEmails only.
	upd := server.Group{Name: "web", Grace: 5 * time.Minute, AlertEmails: []string{"new@example.com"}, Pin: server.Pin{Version: "9.9.9"}, CreatedAt: t0.Add(time.Hour)}
	if err := f.s.UpdateGroup(f.ctx, upd, audit("group.update", "web")); err != nil {
		t.Fatalf("UpdateGroup: %v", err)
	}
	f.wantAudit("group.update", "web")
	got = f.getGroup("web")
	if got.Grace != 5*time.Minute || !slices.Equal(got.AlertEmails, upd.AlertEmails) || got.Pin != web.Pin {
		t.Errorf("after UpdateGroup = %+v", got)
	}
	checkTime(t, "CreatedAt after update", got.CreatedAt, t0)
	if err := f.s.UpdateGroup(f.ctx, server.Group{Name: "web"}, audit("group.update", "web")); err != nil {
		t.Fatalf("UpdateGroup clearing: %v", err)
	}
	if got = f.getGroup("web"); got.Grace != 0 || len(got.AlertEmails) != 0 {
		t.Errorf("after clearing UpdateGroup = %+v", got)
	}

	for _, p := range []server.Pin{{Version: "1.2.3"}, {Channel: "stable"}, {}} {
		if err := f.s.SetPin(f.ctx, "web", p, audit("group.pin", "web")); err != nil {
			t.Fatalf("SetPin %+v: %v", p, err)
		}
		f.wantAudit("group.pin", "web")
		if got := f.getGroup("web").Pin; got != p {
			t.Errorf("Pin = %+v, want %+v", got, p)
		}
	}
	if err := f.s.SetPin(f.ctx, server.DefaultGroup, server.Pin{Version: "1.0.0"}, audit("group.pin", server.DefaultGroup)); err != nil {
		t.Fatalf("SetPin default: %v", err)
	}
	if got := f.getGroup(server.DefaultGroup).Pin.Version; got != "1.0.0" {
		t.Errorf("default pin = %q", got)
	}

	before = f.lastAudit()
	wantErr(t, "UpdateGroup unknown", f.s.UpdateGroup(f.ctx, server.Group{Name: "nope"}, audit("group.update", "nope")), server.ErrNotFound)
	wantErr(t, "SetPin unknown", f.s.SetPin(f.ctx, "nope", server.Pin{Version: "1"}, audit("group.pin", "nope")), server.ErrNotFound)
	f.noNewAudit(before, "failed group changes")
}

func testDeleteGroup(t *testing.T, f *fixture) {
	f.group("full")
	f.group("empty")
	f.group("tokens-only")
	h, _ := f.host("resident", "full")
	f.token("tokens-only", 1, t0.Add(time.Hour))

	before := f.lastAudit()
	for _, tt := range []struct {
		name, group string
		want        error
	}{
		{"with hosts", "full", server.ErrGroupNotEmpty},
		{"default", server.DefaultGroup, server.ErrInvalid},
		{"unknown", "nope", server.ErrNotFound},
	} {
		wantErr(t, "DeleteGroup "+tt.name, f.s.DeleteGroup(f.ctx, tt.group, audit("group.delete", tt.group)), tt.want)
	}
	f.noNewAudit(before, "refused DeleteGroup")
	f.getGroup("full")
	f.getGroup(server.DefaultGroup)

	for _, name := range []string{"empty", "tokens-only"} {
		if err := f.s.DeleteGroup(f.ctx, name, audit("group.delete", name)); err != nil {
			t.Fatalf("DeleteGroup %s: %v", name, err)
		}
		f.wantAudit("group.delete", name)
		_, err := f.s.GetGroup(f.ctx, name)
		wantErr(t, "GetGroup after delete", err, server.ErrNotFound)
	}

	// Once its hosts move away, a group can go.
	if err := f.s.MoveHost(f.ctx, h.ID, server.DefaultGroup, audit("host.move", h.ID)); err != nil {
		t.Fatalf("MoveHost: %v", err)
	}
	if err := f.s.DeleteGroup(f.ctx, "full", audit("group.delete", "full")); err != nil {
		t.Fatalf("DeleteGroup after moving its host: %v", err)
	}
	// A deleted name can be created again.
	f.group("full")
}
