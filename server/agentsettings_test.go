package server

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/vigilhq/vigil/wire"
)

func TestAgentSettingsValidate(t *testing.T) {
	many := func(n int, f func(i int) string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = f(i)
		}
		return out
	}
	procs := make([]wire.ProcessWatch, MaxSettingsProcesses+1)
	for i := range procs {
		procs[i] = wire.ProcessWatch{Name: fmt.Sprintf("p%d", i)}
	}
	tests := []struct {
		name string
		s    AgentSettings
		ok   bool
	}{
		{"zero", AgentSettings{}, true},
		{"full", AgentSettings{Interval: time.Minute, WatchProcesses: []wire.ProcessWatch{{Name: "nginx"}, {Exe: "/usr/sbin/sshd"}},
			WatchUnits: []string{"nginx.service", "getty@tty1.service", "backup.timer"}}, true},
		{"most units", AgentSettings{WatchUnits: many(MaxSettingsUnits, func(i int) string { return fmt.Sprintf("u%d.service", i) })}, true},
		{"too many units", AgentSettings{WatchUnits: many(MaxSettingsUnits+1, func(i int) string { return fmt.Sprintf("u%d.service", i) })}, false},
		{"too many processes", AgentSettings{WatchProcesses: procs}, false},
		{"unit without type", AgentSettings{WatchUnits: []string{"nginx"}}, false},
		{"unit type typo", AgentSettings{WatchUnits: []string{"nginx.servce"}}, false},
		{"unit with slash", AgentSettings{WatchUnits: []string{"../x.service"}}, false},
		{"unit with space", AgentSettings{WatchUnits: []string{"my unit.service"}}, false},
		{"unit twice", AgentSettings{WatchUnits: []string{"a.service", "a.service"}}, false},
		{"process twice", AgentSettings{WatchProcesses: []wire.ProcessWatch{{Name: "a"}, {Name: "a"}}}, false},
		{"process name too long for comm", AgentSettings{WatchProcesses: []wire.ProcessWatch{{Name: "a-very-long-process-name"}}}, false},
		{"process name with slash", AgentSettings{WatchProcesses: []wire.ProcessWatch{{Name: "bin/sh"}}}, false},
		{"process both", AgentSettings{WatchProcesses: []wire.ProcessWatch{{Name: "a", Exe: "/a"}}}, false},
		{"process neither", AgentSettings{WatchProcesses: []wire.ProcessWatch{{}}}, false},
		{"relative exe", AgentSettings{WatchProcesses: []wire.ProcessWatch{{Exe: "usr/bin/a"}}}, false},
		{"unclean exe", AgentSettings{WatchProcesses: []wire.ProcessWatch{{Exe: "/usr/../bin/a"}}}, false},
		{"exe with newline", AgentSettings{WatchProcesses: []wire.ProcessWatch{{Exe: "/usr/bin/a\n"}}}, false},
		{"interval too short", AgentSettings{Interval: 500 * time.Millisecond}, false},
		{"interval too long", AgentSettings{Interval: 2 * time.Hour}, false},
		{"interval fraction", AgentSettings{Interval: 1500 * time.Millisecond}, false},
		{"interval negative", AgentSettings{Interval: -time.Second}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.s.Validate()
			if tt.ok && err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if !tt.ok && !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate = %v, want ErrInvalid", err)
			}
			if err == nil {
				if werr := tt.s.Wire().Validate(); werr != nil {
					t.Fatalf("valid settings fail the agent's check: %v", werr)
				}
			}
		})
	}
}

func TestEffectiveAgentSettings(t *testing.T) {
	group := AgentSettings{Interval: time.Minute, WatchProcesses: []wire.ProcessWatch{{Name: "nginx"}}, WatchUnits: []string{"nginx.service"}}
	host := AgentSettings{Interval: 20 * time.Second, WatchProcesses: []wire.ProcessWatch{{Name: "nginx"}, {Exe: "/usr/bin/redis-server"}}}
	got := EffectiveAgentSettings(group, host)
	want := AgentSettings{Interval: 20 * time.Second, WatchProcesses: []wire.ProcessWatch{{Name: "nginx"}, {Exe: "/usr/bin/redis-server"}},
		WatchUnits: []string{"nginx.service"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("effective = %+v, want %+v", got, want)
	}
	if got := EffectiveAgentSettings(group, AgentSettings{}); got.Interval != time.Minute {
		t.Errorf("without a host interval: %s, want the group's", got.Interval)
	}
	if len(group.WatchProcesses) != 1 {
		t.Errorf("EffectiveAgentSettings changed the group's list: %v", group.WatchProcesses)
	}
}
