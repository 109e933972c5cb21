package rollout

import (
	"fmt"
	"slices"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/wire"
)

// maxLogLines bounds the update log lines kept for a failed host.
const maxLogLines = 10

// Judge decides how host h of r's current stage stands at now, from the host and its update
// events, newest first. Only the agent's events received since the rollout began count:
//
//   - a commit of ToVersion (the updater's health gate passed): healthy;
//   - a rollback from ToVersion, a failed trial, a failed verify or install of ToVersion, or
//     any refusal of it (quarantined, below the signed floor): failed, with the reason of
//     the host's own earlier failure when a refusal (a quarantine) follows one;
//   - a trial of ToVersion with no commit within the health deadline (the host went silent
//     after the switch): failed;
//   - no decisive event, but the host already runs ToVersion: healthy;
//   - no decisive event and the host silent for the health deadline: offline;
//   - a host that reports but whose updater started nothing toward ToVersion within the
//     health deadline of its admission (the stage's start, or its enrollment if later): failed;
//   - otherwise pending (a download that failed is retried by the updater).
func Judge(r *Rollout, h server.Host, events []server.UpdateEvent, now time.Time) HostOutcome {
	out := HostOutcome{HostID: h.ID, Hostname: h.Hostname}
	target := r.ToVersion
	var relevant []server.UpdateEvent
	for _, e := range events {
		if e.ReceivedAt.Before(r.CreatedAt) || (e.Binary != "" && e.Binary != "vigil-agent") {
			continue
		}
		relevant = append(relevant, e)
	}
	for i, e := range relevant {
		if isCommit(e, target) {
			out.Outcome = Healthy
			return out
		}
		if reason, ok := failureOf(e, target); ok {
			if e.Result == wire.ResultRefused {
				// The updater refuses a version it quarantined after this host's own failure
				// of it; the refusal is that failure's consequence, and whether the driver
				// saw it yet is timing. Name the failure.
				for _, older := range relevant[i+1:] {
					if isCommit(older, target) {
						break
					}
					if cause, ok := failureOf(older, target); ok && older.Result != wire.ResultRefused {
						reason = cause
						break
					}
				}
			}
			return failed(out, reason, relevant)
		}
		switch {
		case e.Phase == wire.PhaseTrial && e.Result == wire.ResultStarted && e.ToVersion == target:
			if now.Sub(e.ReceivedAt) > r.Policy.HealthDeadline {
				return failed(out, fmt.Sprintf("no commit within %s of switching to %s (silent after the switch)", r.Policy.HealthDeadline, target), relevant)
			}
			out.Outcome = Pending
			return out
		}
	}
	admitted := r.StageStarted
	if h.EnrolledAt.After(admitted) {
		admitted = h.EnrolledAt // a joiner was admitted when it enrolled
	}
	switch {
	case h.AgentVersion == target && target != "":
		out.Outcome = Healthy
	case h.LastSeen.IsZero() || now.Sub(h.LastSeen) > r.Policy.HealthDeadline:
		out.Outcome = Offline
	case !slices.ContainsFunc(relevant, func(e server.UpdateEvent) bool { return e.ToVersion == target }) &&
		now.Sub(admitted) > r.Policy.HealthDeadline:
		// The agent reports but its updater has not even started toward the version.
		return failed(out, fmt.Sprintf("reporting, but no update to %s started within %s of being admitted (is vigil-updater running?)", target, r.Policy.HealthDeadline), relevant)
	default:
		out.Outcome = Pending
	}
	return out
}

// isCommit reports whether e is the commit of target: its health gate passed.
func isCommit(e server.UpdateEvent, target string) bool {
	return e.Phase == wire.PhaseCommit && e.Result == wire.ResultOK && e.ToVersion == target
}

// failureOf returns why e is a failure of target: a rollback from it, any refusal of it, or a
// failed trial, verify or install of it.
func failureOf(e server.UpdateEvent, target string) (string, bool) {
	switch {
	case e.Phase == wire.PhaseRollback && e.FromVersion == target:
		return "rolled back: " + e.Reason, true
	case e.ToVersion == target && e.Result == wire.ResultRefused:
		return e.Phase + " refused: " + e.Reason, true
	case e.ToVersion == target && e.Result == wire.ResultFailed &&
		(e.Phase == wire.PhaseTrial || e.Phase == wire.PhaseVerify || e.Phase == wire.PhaseInstall):
		return e.Phase + " failed: " + e.Reason, true
	}
	return "", false
}

func failed(out HostOutcome, reason string, events []server.UpdateEvent) HostOutcome {
	out.Outcome = Failed
	out.Reason = reason
	// The newest maxLogLines events, oldest first.
	for i := min(len(events), maxLogLines) - 1; i >= 0; i-- {
		out.Log = append(out.Log, LogLine(events[i]))
	}
	return out
}

// LogLine renders an update event as one line of an update log.
func LogLine(e server.UpdateEvent) string {
	s := fmt.Sprintf("%s %s %s %s -> %s", e.ReceivedAt.UTC().Format(time.RFC3339), e.Phase, e.Result, orDash(e.FromVersion), orDash(e.ToVersion))
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
