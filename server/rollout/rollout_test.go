package rollout

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/wire"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func hostIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("h-%03d", i)
	}
	return ids
}

// view judges every host of r's current stage with the outcome fn gives it.
func view(r Rollout, ids []string, fn func(id string) Outcome) View {
	v := View{HostIDs: ids}
	for _, id := range ids {
		if r.InStage(id) {
			v.Stage = append(v.Stage, HostOutcome{HostID: id, Outcome: fn(id)})
		}
	}
	return v
}

func admitted(r Rollout, ids []string) []string {
	var out []string
	for _, id := range ids {
		if r.Admits(id) {
			out = append(out, id)
		}
	}
	return out
}

func allHealthy(string) Outcome { return Healthy }

func TestCanaryThenWavesThenComplete(t *testing.T) {
	ids := hostIDs(20)
	r := Start("r1", "web", server.Pin{Version: "1.0.0"}, server.Pin{Version: "1.1.0"}, "1.1.0", Policy{Soak: time.Minute}, ids, "op", t0)
	if got := admitted(r, ids); len(got) != 1 {
		t.Fatalf("canaries admitted %v, want 1 host", got)
	}
	now := t0
	// The canary is still updating: nothing moves.
	r2, ev := Step(r, view(r, ids, func(string) Outcome { return Pending }), now)
	if ev != Counted || r2.Stage != 0 || r2.Progress.Pending != 1 {
		t.Fatalf("pending canary: event %v stage %d progress %+v", ev, r2.Stage, r2.Progress)
	}
	r = r2
	// Healthy: the soak starts, and nothing advances before it ends.
	r, ev = Step(r, view(r, ids, allHealthy), now)
	if ev != Settled || !r.Settled.Equal(now) {
		t.Fatalf("healthy canary: event %v settled %v", ev, r.Settled)
	}
	now = now.Add(59 * time.Second)
	if r2, ev := Step(r, view(r, ids, allHealthy), now); ev != NoChange || r2.Stage != 0 {
		t.Fatalf("before the soak ended: event %v stage %d", ev, r2.Stage)
	}
	// Waves of 25 % of 20 = 5 hosts each: 1 → 6 → 11 → 16 → 20 (all).
	want := []int{6, 11, 16}
	prev := admitted(r, ids)
	for i, n := range want {
		now = now.Add(time.Minute)
		r, ev = Step(r, view(r, ids, allHealthy), now)
		if ev != Advanced || r.Stage != i+1 {
			t.Fatalf("wave %d: event %v stage %d", i+1, ev, r.Stage)
		}
		got := admitted(r, ids)
		if len(got) != n || r.Progress.Admitted != n {
			t.Fatalf("wave %d admits %d hosts (progress %d), want %d", i+1, len(got), r.Progress.Admitted, n)
		}
		for _, id := range prev {
			if !r.Admits(id) {
				t.Fatalf("wave %d no longer admits %s, admitted before", i+1, id)
			}
		}
		prev = got
		r, ev = Step(r, view(r, ids, allHealthy), now)
		if ev != Settled || r.Progress.StageHosts != n-stageStart(want, i) {
			t.Fatalf("wave %d: event %v progress %+v", i+1, ev, r.Progress)
		}
	}
	now = now.Add(time.Minute)
	r, ev = Step(r, view(r, ids, allHealthy), now)
	if ev != Advanced || !r.All || len(admitted(r, ids)) != 20 {
		t.Fatalf("last wave: event %v all %v", ev, r.All)
	}
	r, ev = Step(r, view(r, ids, allHealthy), now)
	if ev != Completed || r.State != StateCompleted || !r.FinishedAt.Equal(now) {
		t.Fatalf("completion: event %v state %s", ev, r.State)
	}
	if _, ev := Step(r, view(r, ids, allHealthy), now.Add(time.Hour)); ev != NoChange {
		t.Fatalf("a completed rollout stepped: %v", ev)
	}
}

// stageStart is how many hosts the stages before wave i+1 admitted.
func stageStart(want []int, i int) int {
	if i == 0 {
		return 1
	}
	return want[i-1]
}

func TestFailedCanaryHalts(t *testing.T) {
	ids := hostIDs(10)
	r := Start("r2", "web", server.Pin{Version: "1.0.0"}, server.Pin{Version: "2.0.0"}, "2.0.0", Policy{}, ids, "op", t0)
	v := view(r, ids, func(string) Outcome { return Failed })
	v.Stage[0].Reason, v.Stage[0].Log = "rolled back: no READY", []string{"trial failed"}
	r, ev := Step(r, v, t0)
	if ev != Halted || r.State != StateHalted {
		t.Fatalf("event %v state %s, want halted", ev, r.State)
	}
	if len(r.Failures) != 1 || r.Failures[0].Reason != "rolled back: no READY" || len(r.Failures[0].Log) != 1 {
		t.Fatalf("failures %+v", r.Failures)
	}
	if !strings.Contains(r.Reason, "1 of 1 hosts of the canaries failed") {
		t.Fatalf("reason %q", r.Reason)
	}
	if len(admitted(r, ids)) != 1 {
		t.Fatal("a halted rollout admitted more hosts")
	}
	if _, ev := Step(r, view(r, ids, allHealthy), t0.Add(time.Hour)); ev != NoChange {
		t.Fatalf("a halted rollout stepped: %v", ev)
	}
}

func TestFailureThreshold(t *testing.T) {
	ids := hostIDs(40)
	// 4 canaries; one fails: 25 % > 20 % halts; 25 % ≤ 30 % does not.
	for _, tc := range []struct {
		threshold int
		halts     bool
	}{{20, true}, {25, false}, {30, false}} {
		r := Start("r3", "web", server.Pin{}, server.Pin{Version: "2.0.0"}, "2.0.0", Policy{Canaries: 4, FailureThreshold: tc.threshold}, ids, "op", t0)
		first := true
		_, ev := Step(r, view(r, ids, func(string) Outcome {
			if first {
				first = false
				return Failed
			}
			return Healthy
		}), t0)
		if (ev == Halted) != tc.halts {
			t.Errorf("threshold %d%%: event %v, halts want %v", tc.threshold, ev, tc.halts)
		}
	}
}

func TestOfflineHostsDoNotBlockOrCount(t *testing.T) {
	ids := hostIDs(8)
	r := Start("r4", "web", server.Pin{}, server.Pin{Version: "2.0.0"}, "2.0.0", Policy{Canaries: 2, Soak: time.Minute}, ids, "op", t0)
	i := 0
	r, ev := Step(r, view(r, ids, func(string) Outcome {
		i++
		if i == 1 {
			return Offline
		}
		return Healthy
	}), t0)
	if ev != Settled || r.Progress.Offline != 1 || r.Progress.Healthy != 1 {
		t.Fatalf("event %v progress %+v", ev, r.Progress)
	}
}

func TestJoinerGetsItsWave(t *testing.T) {
	ids := hostIDs(12)
	r := Start("r5", "web", server.Pin{}, server.Pin{Version: "2.0.0"}, "2.0.0", Policy{Soak: time.Minute, WavePercent: 50}, ids, "op", t0)
	r, _ = Step(r, view(r, ids, allHealthy), t0)
	r, _ = Step(r, view(r, ids, allHealthy), t0.Add(time.Minute))
	if r.Stage != 1 {
		t.Fatalf("stage %d", r.Stage)
	}
	// Hosts join: each is admitted exactly when its rank is below the cutoff, and a joiner in
	// the current stage holds the stage until it settles.
	joined := append(ids[:len(ids):len(ids)], hostIDs(60)[12:]...)
	in, out := 0, 0
	for _, id := range joined[12:] {
		if r.Admits(id) != (Rank(r.ID, id) < r.Cutoff) {
			t.Fatalf("%s: Admits disagrees with its rank", id)
		}
		if r.Admits(id) {
			in++
		} else {
			out++
		}
	}
	if in == 0 || out == 0 {
		t.Fatalf("48 joiners: %d admitted, %d not; want some of each", in, out)
	}
	r2, ev := Step(r, view(r, joined, func(id string) Outcome {
		if id >= "h-012" {
			return Pending
		}
		return Healthy
	}), t0.Add(time.Minute))
	if ev != Counted || r2.Progress.Pending == 0 || !r2.Settled.IsZero() {
		t.Fatalf("joiners pending: event %v progress %+v", ev, r2.Progress)
	}
}

func TestEveryWaveMakesProgress(t *testing.T) {
	// 5 % of 3 hosts rounds to 1: every wave still admits one more.
	ids := hostIDs(3)
	r := Start("r6", "web", server.Pin{}, server.Pin{Version: "2.0.0"}, "2.0.0", Policy{WavePercent: 5, Soak: time.Second}, ids, "op", t0)
	now := t0
	for range 10 {
		r, _ = Step(r, view(r, ids, allHealthy), now)
		now = now.Add(time.Second)
		r, _ = Step(r, view(r, ids, allHealthy), now)
		if r.State == StateCompleted {
			return
		}
	}
	t.Fatalf("not completed after 10 stages: %+v", r)
}

func TestEmptyGroupCompletes(t *testing.T) {
	r := Start("r7", "web", server.Pin{}, server.Pin{Version: "2.0.0"}, "2.0.0", Policy{}, nil, "op", t0)
	if r, ev := Step(r, View{}, t0); ev != Completed || r.State != StateCompleted {
		t.Fatalf("event %v state %s", ev, r.State)
	}
}

func TestApply(t *testing.T) {
	r := Start("r8", "web", server.Pin{Version: "1.0.0"}, server.Pin{Version: "2.0.0"}, "2.0.0", Policy{Soak: time.Minute}, hostIDs(4), "op", t0)
	r, _ = Step(r, view(r, hostIDs(4), allHealthy), t0)
	p, err := Apply(r, ActionPause, "alice", t0)
	if err != nil || p.State != StatePaused {
		t.Fatalf("pause: %v %s", err, p.State)
	}
	if _, ev := Step(p, view(p, hostIDs(4), allHealthy), t0.Add(time.Hour)); ev != NoChange {
		t.Fatalf("a paused rollout stepped: %v", ev)
	}
	if _, err := Apply(p, ActionPause, "alice", t0); !errors.Is(err, server.ErrConflict) || !errors.Is(err, ErrState) {
		t.Fatalf("pause twice: %v", err)
	}
	res, err := Apply(p, ActionResume, "alice", t0.Add(time.Hour))
	if err != nil || res.State != StateRunning || !res.Settled.Equal(t0.Add(time.Hour)) {
		t.Fatalf("resume: %v %s settled %v (the soak restarts)", err, res.State, res.Settled)
	}
	a, err := Apply(res, ActionAbort, "bob", t0.Add(2*time.Hour))
	if err != nil || a.State != StateAborted || a.FinishedAt.IsZero() || !strings.Contains(a.Reason, "bob") {
		t.Fatalf("abort: %v %+v", err, a)
	}
	if _, err := Apply(a, ActionResume, "bob", t0); !errors.Is(err, ErrState) {
		t.Fatalf("resume an aborted rollout: %v", err)
	}
	h := r
	h.State = StateHalted
	// A halted rollout can only be aborted: resume and pause are refused with ErrHalted (an
	// ErrState, a conflict) and a message that says to abort.
	for _, action := range []string{ActionResume, ActionPause} {
		got, err := Apply(h, action, "bob", t0)
		if !errors.Is(err, ErrHalted) || !errors.Is(err, ErrState) || !errors.Is(err, server.ErrConflict) ||
			!strings.Contains(err.Error(), "abort it") || got.State != StateHalted {
			t.Fatalf("%s a halted rollout: %v, state %s", action, err, got.State)
		}
	}
	if _, err := Apply(r, ActionResume, "bob", t0); errors.Is(err, ErrHalted) || !errors.Is(err, ErrState) {
		t.Fatalf("resume a running rollout: %v (ErrHalted is for halted ones only)", err)
	}
	if a, err := Apply(h, ActionAbort, "bob", t0); err != nil || a.State != StateAborted {
		t.Fatalf("abort a halted rollout: %v %s", err, a.State)
	}
	if _, err := Apply(r, "restart", "bob", t0); !errors.Is(err, server.ErrInvalid) {
		t.Fatalf("unknown action: %v", err)
	}
}

func TestRankIsStable(t *testing.T) {
	again := Rank
	if Rank("r1", "h1") != again("r1", "h1") || Rank("r1", "h1") == Rank("r2", "h1") || Rank("r1", "h1") == Rank("r1", "h2") {
		t.Fatal("Rank is not a function of (rollout, host)")
	}
	// The pair is separated: ("ab","c") and ("a","bc") differ.
	if Rank("ab", "c") == Rank("a", "bc") {
		t.Fatal("Rank does not separate the rollout ID from the host ID")
	}
}

func TestPolicyValidate(t *testing.T) {
	for _, p := range []Policy{{Canaries: -1}, {WavePercent: 101}, {Soak: -time.Second}, {FailureThreshold: 101}, {Canaries: MaxCanaries + 1}} {
		if err := p.Validate(); !errors.Is(err, server.ErrInvalid) {
			t.Errorf("%+v: %v, want ErrInvalid", p, err)
		}
	}
	if err := (Policy{Canaries: 3, WavePercent: 100, Soak: time.Hour, FailureThreshold: 100}).Validate(); err != nil {
		t.Fatal(err)
	}
	d := Policy{}.WithDefaults()
	if d.Canaries != DefaultCanaries || d.WavePercent != DefaultWavePercent || d.Soak != DefaultSoak || d.FailureThreshold != DefaultFailureThreshold {
		t.Fatalf("defaults %+v", d)
	}
}

func TestJudge(t *testing.T) {
	r := Start("r9", "web", server.Pin{Version: "1.0.0"}, server.Pin{Version: "2.0.0"}, "2.0.0", Policy{}, nil, "op", t0)
	ev := func(min int, phase, result, from, to string) server.UpdateEvent {
		return server.UpdateEvent{HostID: "h", UpdateEvent: wire.UpdateEvent{Phase: phase, Result: result, FromVersion: from, ToVersion: to, Reason: "why"},
			ReceivedAt: t0.Add(time.Duration(min) * time.Minute)}
	}
	now := t0.Add(time.Hour)
	seen := server.Host{ID: "h", AgentVersion: "1.0.0", LastSeen: now.Add(-time.Minute)}
	joined := seen // admitted a minute ago (it enrolled then)
	joined.EnrolledAt = now.Add(-time.Minute)
	for _, tc := range []struct {
		name   string
		host   server.Host
		events []server.UpdateEvent // newest first
		want   Outcome
		reason string // the failure reason's prefix, when set
	}{
		{"committed", seen, []server.UpdateEvent{ev(3, wire.PhaseCommit, wire.ResultOK, "1.0.0", "2.0.0"), ev(2, wire.PhaseTrial, wire.ResultStarted, "1.0.0", "2.0.0")}, Healthy, ""},
		{"rolled back", seen, []server.UpdateEvent{ev(3, wire.PhaseRollback, wire.ResultOK, "2.0.0", "1.0.0"), ev(3, wire.PhaseTrial, wire.ResultFailed, "1.0.0", "2.0.0")}, Failed, "rolled back: "},
		{"refused", seen, []server.UpdateEvent{ev(3, wire.PhaseCheck, wire.ResultRefused, "1.0.0", "2.0.0")}, Failed, "check refused: "},
		// The updater quarantined the build and refused it at its next poll, before the driver
		// looked: the reason is still the rollback, not the quarantine it caused.
		{"quarantined after a rollback", seen, []server.UpdateEvent{ev(4, wire.PhaseCheck, wire.ResultRefused, "1.0.0", "2.0.0"),
			ev(3, wire.PhaseRollback, wire.ResultOK, "2.0.0", "1.0.0"), ev(3, wire.PhaseTrial, wire.ResultFailed, "1.0.0", "2.0.0")}, Failed, "rolled back: "},
		{"refused after a commit", seen, []server.UpdateEvent{ev(4, wire.PhaseCheck, wire.ResultRefused, "1.0.0", "2.0.0"),
			ev(3, wire.PhaseCommit, wire.ResultOK, "1.0.0", "2.0.0"), ev(2, wire.PhaseRollback, wire.ResultOK, "2.0.0", "1.0.0")}, Failed, "check refused: "},
		{"verify failed", seen, []server.UpdateEvent{ev(3, wire.PhaseVerify, wire.ResultFailed, "1.0.0", "2.0.0")}, Failed, ""},
		{"download failed is retried", seen, []server.UpdateEvent{ev(3, wire.PhaseDownload, wire.ResultFailed, "1.0.0", "2.0.0")}, Pending, ""},
		{"trial within the deadline", seen, []server.UpdateEvent{ev(50, wire.PhaseTrial, wire.ResultStarted, "1.0.0", "2.0.0")}, Pending, ""},
		{"silent after the switch", seen, []server.UpdateEvent{ev(1, wire.PhaseTrial, wire.ResultStarted, "1.0.0", "2.0.0")}, Failed, ""},
		{"already there", server.Host{ID: "h", AgentVersion: "2.0.0", LastSeen: now}, nil, Healthy, ""},
		{"an earlier rollout's rollback", joined, []server.UpdateEvent{ev(-5, wire.PhaseRollback, wire.ResultOK, "2.0.0", "1.0.0")}, Pending, ""},
		{"updater's own events", joined, []server.UpdateEvent{{HostID: "h", ReceivedAt: t0.Add(time.Minute), UpdateEvent: wire.UpdateEvent{Binary: "vigil-updater", Phase: wire.PhaseRollback, Result: wire.ResultOK, FromVersion: "2.0.0"}}}, Pending, ""},
		{"offline", server.Host{ID: "h", AgentVersion: "1.0.0", LastSeen: now.Add(-time.Hour)}, nil, Offline, ""},
		{"updater never started", seen, nil, Failed, ""},
		{"joined recently, not started yet", server.Host{ID: "h", AgentVersion: "1.0.0", LastSeen: now, EnrolledAt: now.Add(-time.Minute)}, nil, Pending, ""},
		{"updater retrying a download", seen, []server.UpdateEvent{ev(2, wire.PhaseDownload, wire.ResultFailed, "1.0.0", "2.0.0")}, Pending, ""},
		{"never reported", server.Host{ID: "h"}, nil, Offline, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Judge(&r, tc.host, tc.events, now)
			if got.Outcome != tc.want {
				t.Fatalf("outcome %v (%s), want %v", got.Outcome, got.Reason, tc.want)
			}
			if got.Outcome == Failed && (got.Reason == "" || len(got.Log) == 0 && len(tc.events) > 0) {
				t.Fatalf("a failure without reason or log: %+v", got)
			}
			if !strings.HasPrefix(got.Reason, tc.reason) {
				t.Fatalf("reason %q, want it to start with %q", got.Reason, tc.reason)
			}
		})
	}
}
