package storetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/wire"
)

// testAgentSettings: group and host settings round-trip, GetGroup and ListGroups carry the group's,
// AgentSettings reads both for a host (following a move), the zero value clears, every change is
// audited, invalid settings are refused, and unknown groups and hosts are ErrNotFound.
func testAgentSettings(t *testing.T, f *fixture) {
	f.group("web")
	h, _ := f.host("alpha", "web")

	g0, h0, err := f.s.AgentSettings(f.ctx, h.ID)
	if err != nil || !g0.IsZero() || !h0.IsZero() {
		t.Fatalf("AgentSettings of a new host = %+v, %+v, %v; want zero values", g0, h0, err)
	}
	if got := f.getGroup("web").AgentSettings; !got.IsZero() {
		t.Errorf("new group's settings = %+v", got)
	}

	gs := server.AgentSettings{Interval: 30 * time.Second,
		WatchProcesses: []wire.ProcessWatch{{Name: "nginx"}, {Exe: "/usr/sbin/sshd"}},
		WatchUnits:     []string{"nginx.service", "backup.timer"}}
	hs := server.AgentSettings{WatchUnits: []string{"postgresql@16-main.service"}}
	if err := f.s.SetGroupAgentSettings(f.ctx, "web", gs, audit("group.agent_settings", "group/web")); err != nil {
		t.Fatalf("SetGroupAgentSettings: %v", err)
	}
	if err := f.s.SetHostAgentSettings(f.ctx, h.ID, hs, audit("host.agent_settings", "host/"+h.ID)); err != nil {
		t.Fatalf("SetHostAgentSettings: %v", err)
	}
	if got := f.getGroup("web").AgentSettings; !reflect.DeepEqual(got, gs) {
		t.Errorf("GetGroup settings = %+v, want %+v", got, gs)
	}
	groups, err := f.s.ListGroups(f.ctx)
	if err != nil {
		t.Fatalf("ListGroups: %v", err)
	}
	for _, g := range groups {
		want := server.AgentSettings{}
		if g.Name == "web" {
			want = gs
		}
		if !reflect.DeepEqual(g.AgentSettings, want) {
			t.Errorf("ListGroups %s settings = %+v, want %+v", g.Name, g.AgentSettings, want)
		}
	}
	gotG, gotH, err := f.s.AgentSettings(f.ctx, h.ID)
	if err != nil || !reflect.DeepEqual(gotG, gs) || !reflect.DeepEqual(gotH, hs) {
		t.Errorf("AgentSettings = %+v, %+v, %v; want %+v, %+v", gotG, gotH, err, gs, hs)
	}

	// A moved host gets its new group's settings and keeps its own.
	if err := f.s.MoveHost(f.ctx, h.ID, server.DefaultGroup, audit("host.move", h.ID)); err != nil {
		t.Fatalf("MoveHost: %v", err)
	}
	gotG, gotH, err = f.s.AgentSettings(f.ctx, h.ID)
	if err != nil || !gotG.IsZero() || !reflect.DeepEqual(gotH, hs) {
		t.Errorf("AgentSettings after the move = %+v, %+v, %v", gotG, gotH, err)
	}

	// The zero value clears.
	if err := f.s.SetHostAgentSettings(f.ctx, h.ID, server.AgentSettings{}, audit("host.agent_settings_clear", "host/"+h.ID)); err != nil {
		t.Fatalf("clear host settings: %v", err)
	}
	if err := f.s.SetGroupAgentSettings(f.ctx, "web", server.AgentSettings{}, audit("group.agent_settings", "group/web")); err != nil {
		t.Fatalf("clear group settings: %v", err)
	}
	if _, gotH, _ := f.s.AgentSettings(f.ctx, h.ID); !gotH.IsZero() {
		t.Errorf("host settings after clearing = %+v", gotH)
	}
	if got := f.getGroup("web").AgentSettings; !got.IsZero() {
		t.Errorf("group settings after clearing = %+v", got)
	}

	// Refused: invalid settings, unknown group or host; none of them is audited.
	bad := server.AgentSettings{WatchUnits: []string{"nginx"}}
	wantErr(t, "SetGroupAgentSettings invalid", f.s.SetGroupAgentSettings(f.ctx, "web", bad, audit("x", "x")), server.ErrInvalid)
	wantErr(t, "SetHostAgentSettings invalid", f.s.SetHostAgentSettings(f.ctx, h.ID, bad, audit("x", "x")), server.ErrInvalid)
	wantErr(t, "SetGroupAgentSettings unknown", f.s.SetGroupAgentSettings(f.ctx, "nope", gs, audit("x", "x")), server.ErrNotFound)
	wantErr(t, "SetHostAgentSettings unknown", f.s.SetHostAgentSettings(f.ctx, "h-unknown", hs, audit("x", "x")), server.ErrNotFound)
	_, _, err = f.s.AgentSettings(f.ctx, "h-unknown")
	wantErr(t, "AgentSettings unknown", err, server.ErrNotFound)

	entries, err := f.s.ListAudit(f.ctx, 0, 0)
	if err != nil {
		t.Fatalf("ListAudit: %v", err)
	}
	n := 0
	for _, e := range entries {
		switch e.Action {
		case "group.agent_settings", "host.agent_settings", "host.agent_settings_clear":
			n++
		case "x":
			t.Errorf("a refused change was audited: %+v", e)
		}
	}
	if n != 4 {
		t.Errorf("%d agent settings changes audited, want 4", n)
	}
}
