package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/apiclient"
	"github.com/vigilhq/vigil/wire"
)

// TestAgentSettingsAPI: settings set on a group and a host arrive, overlaid, in the answer to the
// host's next report; bad input (a typo in a field, too many entries, a bad unit name) is refused
// and nothing changes; clearing sends an empty config.
func TestAgentSettingsAPI(t *testing.T) {
	s := startServer(t, "")
	ctx := context.Background()
	host := s.enroll(t, "web-1")
	ackOf := func(seq uint64) wire.Ack {
		t.Helper()
		status, body := s.post(t, "/api/v1/reports", host.Credential, wire.ReportBatch{Reports: []wire.Report{report(seq, 1)}}, false)
		if status != http.StatusOK {
			t.Fatalf("report: %d %s", status, body)
		}
		var ack wire.Ack
		if err := json.Unmarshal(body, &ack); err != nil {
			t.Fatal(err)
		}
		return ack
	}
	if ack := ackOf(1); ack.Config == nil || ack.Config.IntervalSeconds != 0 || ack.Config.WatchProcesses != nil {
		t.Fatalf("config without settings = %+v, want {}", ack.Config)
	}

	gs := api.AgentSettings{Interval: api.Duration(30 * time.Second),
		WatchProcesses: []wire.ProcessWatch{{Name: "nginx"}}, WatchUnits: []string{"nginx.service"}}
	if _, err := s.admin.SetGroupAgentSettings(ctx, api.DefaultGroup, gs); err != nil {
		t.Fatalf("SetGroupAgentSettings: %v", err)
	}
	hs, err := s.admin.SetHostAgentSettings(ctx, host.HostID, api.AgentSettings{WatchProcesses: []wire.ProcessWatch{{Exe: "/usr/bin/redis-server"}}})
	if err != nil {
		t.Fatalf("SetHostAgentSettings: %v", err)
	}
	wantProcs := []wire.ProcessWatch{{Name: "nginx"}, {Exe: "/usr/bin/redis-server"}}
	if !slices.Equal(hs.Effective.WatchProcesses, wantProcs) || hs.Effective.Interval != gs.Interval {
		t.Errorf("effective settings %+v", hs.Effective)
	}
	ack := ackOf(2)
	if c := ack.Config; c == nil || c.IntervalSeconds != 30 || !slices.Equal(c.WatchProcesses, wantProcs) || !slices.Equal(c.WatchUnits, gs.WatchUnits) {
		t.Fatalf("config after the change = %+v", ack.Config)
	}
	g, err := s.admin.GetGroup(ctx, api.DefaultGroup)
	if err != nil || !slices.Equal(g.AgentSettings.WatchUnits, gs.WatchUnits) {
		t.Errorf("GetGroup agent settings = %+v, %v", g.AgentSettings, err)
	}

	// Refused, with the settings unchanged.
	many := make([]string, 65)
	for i := range many {
		many[i] = strings.Repeat("u", i+1) + ".service"
	}
	for name, body := range map[string]string{
		"unknown field":       `{"watch_proceses": [{"name": "nginx"}]}`,
		"unknown item field":  `{"watch_processes": [{"nmae": "nginx"}]}`,
		"bad unit name":       `{"watch_units": ["nginx"]}`,
		"too many units":      `{"watch_units": ["` + strings.Join(many, `","`) + `"]}`,
		"interval not a time": `{"interval": "30"}`,
		"interval too long":   `{"interval": "2h"}`,
	} {
		err := s.admin.Do(ctx, http.MethodPut, "/api/v1/groups/default/agent-settings", json.RawMessage(body), nil)
		if !errors.Is(err, apiclient.ErrInvalid) && !apiclient.IsCode(err, api.CodeInvalid) {
			t.Errorf("%s: err = %v, want invalid", name, err)
		}
	}
	if got, _ := s.admin.GroupAgentSettings(ctx, api.DefaultGroup); !slices.Equal(got.WatchUnits, gs.WatchUnits) {
		t.Errorf("settings after refused changes = %+v", got)
	}

	// Clearing both: the next answer carries an empty config, so the agent drops the server's entries.
	if _, err := s.admin.ClearHostAgentSettings(ctx, host.HostID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.admin.SetGroupAgentSettings(ctx, api.DefaultGroup, api.AgentSettings{}); err != nil {
		t.Fatal(err)
	}
	if ack := ackOf(3); ack.Config == nil || ack.Config.IntervalSeconds != 0 || len(ack.Config.WatchProcesses)+len(ack.Config.WatchUnits) != 0 {
		t.Fatalf("config after clearing = %+v", ack.Config)
	}
	audit, err := s.admin.ListAudit(ctx, 20)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range audit {
		if strings.Contains(e.Action, "agent_settings") {
			actions = append(actions, e.Action)
		}
	}
	if want := []string{"group.agent_settings", "host.agent_settings_clear", "host.agent_settings", "group.agent_settings"}; !slices.Equal(actions, want) {
		t.Errorf("audited %v, want %v", actions, want)
	}
}
