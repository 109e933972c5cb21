package server

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/vigilhq/vigil/wire"
)

// Limits on agent settings. A group's and a host's lists together stay well within what an agent
// accepts (wire.MaxWatchEntries per list).
const (
	MaxSettingsProcesses = 64  // watched processes per group or host
	MaxSettingsUnits     = 64  // watched systemd units per group or host
	maxProcessNameLen    = 15  // a comm name: TASK_COMM_LEN - 1
	maxExePathLen        = 255 // an executable path
)

// AgentSettings are the data-only agent settings an operator sets for a group, and a host may add
// to: watched processes, watched systemd units, the report interval. The zero value sets nothing.
// The agent runs nothing it is told: these only choose what it observes and how often.
type AgentSettings struct {
	// Interval is the report interval; zero leaves it to the agent (or, for a host, to its group).
	// Whole seconds within wire.MinIntervalSeconds..wire.MaxIntervalSeconds.
	Interval time.Duration
	// WatchProcesses are processes to watch, by comm name or by absolute executable path.
	WatchProcesses []wire.ProcessWatch
	// WatchUnits are systemd units to watch, such as "nginx.service".
	WatchUnits []string
}

// IsZero reports whether s sets nothing.
func (s AgentSettings) IsZero() bool {
	return s.Interval == 0 && len(s.WatchProcesses) == 0 && len(s.WatchUnits) == 0
}

// Validate checks settings an operator gives: bounded counts, no duplicates, process names as the
// kernel keeps them, absolute clean executable paths, systemd unit names, an interval within the
// agent's bounds. Errors wrap ErrInvalid.
func (s AgentSettings) Validate() error {
	if s.Interval != 0 {
		if s.Interval%time.Second != 0 || s.Interval < wire.MinIntervalSeconds*time.Second || s.Interval > wire.MaxIntervalSeconds*time.Second {
			return fmt.Errorf("%w: interval %s: whole seconds within %ds..%ds", ErrInvalid, s.Interval, wire.MinIntervalSeconds, wire.MaxIntervalSeconds)
		}
	}
	if len(s.WatchProcesses) > MaxSettingsProcesses {
		return fmt.Errorf("%w: %d watched processes, at most %d", ErrInvalid, len(s.WatchProcesses), MaxSettingsProcesses)
	}
	if len(s.WatchUnits) > MaxSettingsUnits {
		return fmt.Errorf("%w: %d watched units, at most %d", ErrInvalid, len(s.WatchUnits), MaxSettingsUnits)
	}
	for i, w := range s.WatchProcesses {
		switch {
		case (w.Name == "") == (w.Exe == ""):
			return fmt.Errorf("%w: watched process %d: exactly one of name and exe", ErrInvalid, i)
		case w.Name != "" && (len(w.Name) > maxProcessNameLen || strings.ContainsFunc(w.Name, badNameRune)):
			return fmt.Errorf("%w: process name %q: at most %d printable characters without '/' (the kernel's comm; use an exe path for longer names)", ErrInvalid, w.Name, maxProcessNameLen)
		case w.Exe != "" && (!strings.HasPrefix(w.Exe, "/") || len(w.Exe) > maxExePathLen || strings.ContainsFunc(w.Exe, badPathRune) || path.Clean(w.Exe) != w.Exe):
			return fmt.Errorf("%w: exe %q: an absolute, clean path of at most %d printable characters", ErrInvalid, w.Exe, maxExePathLen)
		}
		if slices.Contains(s.WatchProcesses[:i], w) {
			return fmt.Errorf("%w: process %s listed twice", ErrInvalid, watchString(w))
		}
	}
	for i, u := range s.WatchUnits {
		if !wire.ValidUnitName(u) {
			return fmt.Errorf("%w: %q is not a systemd unit name such as nginx.service", ErrInvalid, u)
		}
		if slices.Contains(s.WatchUnits[:i], u) {
			return fmt.Errorf("%w: unit %s listed twice", ErrInvalid, u)
		}
	}
	return nil
}

func badNameRune(r rune) bool { return r < ' ' || r == 0x7f || r == '/' || r > 0x7e }
func badPathRune(r rune) bool { return r < ' ' || r == 0x7f }

func watchString(w wire.ProcessWatch) string {
	if w.Exe != "" {
		return "exe " + w.Exe
	}
	return "name " + w.Name
}

// EffectiveAgentSettings overlays a host's settings on its group's: the host's interval replaces
// the group's when set, and the host's watch entries are added to the group's.
func EffectiveAgentSettings(group, host AgentSettings) AgentSettings {
	e := AgentSettings{Interval: group.Interval, WatchProcesses: slices.Clone(group.WatchProcesses), WatchUnits: slices.Clone(group.WatchUnits)}
	if host.Interval != 0 {
		e.Interval = host.Interval
	}
	for _, w := range host.WatchProcesses {
		if !slices.Contains(e.WatchProcesses, w) {
			e.WatchProcesses = append(e.WatchProcesses, w)
		}
	}
	for _, u := range host.WatchUnits {
		if !slices.Contains(e.WatchUnits, u) {
			e.WatchUnits = append(e.WatchUnits, u)
		}
	}
	return e
}

// Wire returns the settings as the agent receives them in each report's answer.
func (s AgentSettings) Wire() *wire.AgentConfig {
	return &wire.AgentConfig{IntervalSeconds: int(s.Interval / time.Second), WatchProcesses: s.WatchProcesses, WatchUnits: s.WatchUnits}
}

// String describes the settings for the audit log.
func (s AgentSettings) String() string {
	procs := make([]string, len(s.WatchProcesses))
	for i, w := range s.WatchProcesses {
		procs[i] = watchString(w)
	}
	return fmt.Sprintf("interval=%s processes=[%s] units=[%s]", s.Interval, strings.Join(procs, ","), strings.Join(s.WatchUnits, ","))
}
