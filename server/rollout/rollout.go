package rollout

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/vigilhq/vigil/server"
)

// States of a rollout. Running, Paused and Halted are active: the group has at most one active
// rollout, and its hosts' desired version follows it. Aborted and Completed are final.
const (
	StateRunning   = "running"
	StatePaused    = "paused"
	StateHalted    = "halted"
	StateAborted   = "aborted"
	StateCompleted = "completed"
)

// Active reports whether state is one of the active states.
func Active(state string) bool {
	return state == StateRunning || state == StatePaused || state == StateHalted
}

// Policy defaults and bounds.
const (
	DefaultCanaries         = 1
	DefaultWavePercent      = 25
	DefaultSoak             = 10 * time.Minute
	DefaultFailureThreshold = 10
	// DefaultHealthDeadline is how long a host may take from switching to the new version
	// (its trial) to reporting a commit before it counts as failed ("silent after the switch").
	// The updater's health gate takes its --grace (60s by default) plus a restart.
	DefaultHealthDeadline = 15 * time.Minute

	MaxCanaries = 1000
	MaxSoak     = 7 * 24 * time.Hour
)

// Policy is a group's rollout policy. The zero value of each field means its default.
type Policy struct {
	// Canaries is how many hosts take the new version first. Default 1.
	Canaries int `json:"canaries,omitempty"`
	// WavePercent is the share of the group each wave after the canaries adds (1..100).
	// Default 25.
	WavePercent int `json:"wave_percent,omitempty"`
	// Soak is how long a stage's hosts must stay healthy before the next stage starts. Default 10m.
	Soak time.Duration `json:"soak,omitempty"`
	// FailureThreshold is the share of a stage's hosts, in percent (0..100), that may fail
	// before the rollout halts: it halts when failed/hosts exceeds it. Default 10; one failed
	// canary out of one always halts.
	FailureThreshold int `json:"failure_threshold,omitempty"`
	// HealthDeadline is how long after its switch a host has to report a commit before it
	// counts as failed. Default 15m.
	HealthDeadline time.Duration `json:"health_deadline,omitempty"`
}

// ErrInvalidPolicy is wrapped (with server.ErrInvalid) by Validate.
var ErrInvalidPolicy = errors.New("invalid rollout policy")

// Validate checks the ranges of the fields that are set.
func (p Policy) Validate() error {
	switch {
	case p.Canaries < 0 || p.Canaries > MaxCanaries:
		return fmt.Errorf("%w: %w: canaries %d not within 0..%d (0 means the default, %d)", server.ErrInvalid, ErrInvalidPolicy, p.Canaries, MaxCanaries, DefaultCanaries)
	case p.WavePercent < 0 || p.WavePercent > 100:
		return fmt.Errorf("%w: %w: wave percent %d not within 1..100", server.ErrInvalid, ErrInvalidPolicy, p.WavePercent)
	case p.Soak < 0 || p.Soak > MaxSoak:
		return fmt.Errorf("%w: %w: soak %s not within 0..%s", server.ErrInvalid, ErrInvalidPolicy, p.Soak, MaxSoak)
	case p.FailureThreshold < 0 || p.FailureThreshold > 100:
		return fmt.Errorf("%w: %w: failure threshold %d%% not within 0..100", server.ErrInvalid, ErrInvalidPolicy, p.FailureThreshold)
	case p.HealthDeadline < 0 || p.HealthDeadline > MaxSoak:
		return fmt.Errorf("%w: %w: health deadline %s not within 0..%s", server.ErrInvalid, ErrInvalidPolicy, p.HealthDeadline, MaxSoak)
	}
	return nil
}

// WithDefaults fills the unset fields with their defaults.
func (p Policy) WithDefaults() Policy {
	if p.Canaries == 0 {
		p.Canaries = DefaultCanaries
	}
	if p.WavePercent == 0 {
		p.WavePercent = DefaultWavePercent
	}
	if p.Soak == 0 {
		p.Soak = DefaultSoak
	}
	if p.FailureThreshold == 0 {
		p.FailureThreshold = DefaultFailureThreshold
	}
	if p.HealthDeadline == 0 {
		p.HealthDeadline = DefaultHealthDeadline
	}
	return p
}

// Rollout is one staged change of a group's pin.
type Rollout struct {
	ID    string `json:"id"`
	Group string `json:"group"`
	// From is the pin before the rollout: hosts not yet admitted are answered with it.
	From server.Pin `json:"from"`
	// To is the new pin, answered to admitted hosts; the group's stored pin is To while the
	// rollout runs.
	To server.Pin `json:"to"`
	// ToVersion is the version a host must report committed to count as healthy: To.Version,
	// or what To.Channel pointed to at the start.
	ToVersion string `json:"to_version"`
	// Policy is the group's policy at the start, with defaults filled in.
	Policy Policy `json:"policy"`
	State  string `json:"state"`
	// Stage is 0 for the canaries, then 1, 2, … for the waves.
	Stage int `json:"stage"`
	// Cutoff admits the hosts whose rank is below it; All admits every host, joiners too.
	Cutoff uint64 `json:"cutoff"`
	All    bool   `json:"all,omitempty"`
	// PrevCutoff is the cutoff of the previous stage: the current stage's hosts have ranks in
	// [PrevCutoff, Cutoff).
	PrevCutoff uint64 `json:"prev_cutoff"`
	// StageStarted is when the current stage began; Settled when all its hosts settled (the
	// soak starts), zero while some are pending.
	StageStarted time.Time `json:"stage_started"`
	Settled      time.Time `json:"settled,omitzero"`
	// Progress is the count of the last evaluation.
	Progress Progress `json:"progress"`
	// Failures are the failed hosts of the stage that halted the rollout.
	Failures []Failure `json:"failures,omitempty"`
	// Reason says why the rollout halted or ended.
	Reason string `json:"reason,omitempty"`

	CreatedBy  string    `json:"created_by"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	// Version counts stored changes; SaveRollout refuses a stale one.
	Version int64 `json:"version"`
}

// Progress counts hosts at the last evaluation.
type Progress struct {
	// GroupHosts is the group's size; Admitted how many of them the cutoff admits.
	GroupHosts int `json:"group_hosts"`
	Admitted   int `json:"admitted"`
	// Of the current stage's hosts: healthy on ToVersion, failed, still updating, and offline
	// (silent without having started; left out of the failure share).
	StageHosts int `json:"stage_hosts"`
	Healthy    int `json:"healthy"`
	Failed     int `json:"failed"`
	Pending    int `json:"pending"`
	Offline    int `json:"offline"`
}

// Failure is one failed host with the update events that show why.
type Failure struct {
	HostID   string   `json:"host_id"`
	Hostname string   `json:"hostname"`
	Reason   string   `json:"reason"`
	Log      []string `json:"log,omitempty"`
}

// Rank is a host's place in a rollout's order: the first 64 bits of SHA-256 of the rollout ID
// and the host ID. It is the same on every replica and after every restart.
func Rank(rolloutID, hostID string) uint64 {
	sum := sha256.Sum256([]byte(rolloutID + "\x00" + hostID))
	return binary.BigEndian.Uint64(sum[:8])
}

// Admits reports whether r's cutoff admits the host: it should run To.
func (r *Rollout) Admits(hostID string) bool {
	return r.All || Rank(r.ID, hostID) < r.Cutoff
}

// InStage reports whether the host is one of the current stage's.
func (r *Rollout) InStage(hostID string) bool {
	rank := Rank(r.ID, hostID)
	return rank >= r.PrevCutoff && (r.All || rank < r.Cutoff)
}

// stageTarget is how many hosts of n stage k should have admitted, at least one more than
// admitted already (so every wave makes progress) and at most n.
func stageTarget(p Policy, k, n, admitted int) int {
	t := p.Canaries
	if k > 0 {
		t += (k*p.WavePercent*n + 99) / 100
	}
	return min(n, max(t, admitted+1))
}

// cutoffFor returns the cutoff that admits the first target of ranks (sorted), or all when the
// target is every host.
func cutoffFor(ranks []uint64, target int) (cutoff uint64, all bool) {
	if target >= len(ranks) {
		return 0, true
	}
	if target <= 0 {
		return 0, false
	}
	// Admit ranks[0..target-1]: the cutoff is just above the last admitted.
	return ranks[target-1] + 1, false
}

// Start returns a new running rollout at stage 0 (the canaries) over the group whose hosts
// have the given IDs.
func Start(id, group string, from, to server.Pin, toVersion string, p Policy, hostIDs []string, by string, now time.Time) Rollout {
	r := Rollout{
		ID: id, Group: group, From: from, To: to, ToVersion: toVersion, Policy: p.WithDefaults(),
		State: StateRunning, StageStarted: now, CreatedBy: by, CreatedAt: now, UpdatedAt: now,
	}
	ranks := r.ranks(hostIDs)
	r.Cutoff, r.All = cutoffFor(ranks, stageTarget(r.Policy, 0, len(ranks), 0))
	r.Progress = Progress{GroupHosts: len(ranks), Admitted: r.admitted(ranks)}
	return r
}

func (r *Rollout) ranks(hostIDs []string) []uint64 {
	ranks := make([]uint64, len(hostIDs))
	for i, h := range hostIDs {
		ranks[i] = Rank(r.ID, h)
	}
	slices.Sort(ranks)
	return ranks
}

func (r *Rollout) admitted(ranks []uint64) int {
	if r.All {
		return len(ranks)
	}
	n, _ := slices.BinarySearch(ranks, r.Cutoff)
	return n
}

// Outcome is how one host of the current stage stands.
type Outcome int

// Outcomes of a stage host.
const (
	Pending Outcome = iota
	Healthy
	Failed
	Offline
)

// HostOutcome is the judged outcome of one stage host, with the reason and log of a failure.
type HostOutcome struct {
	HostID   string
	Hostname string
	Outcome  Outcome
	Reason   string
	Log      []string
}

// View is what the driver observed for a Step: every host of the group now (IDs), and the
// outcome of each host of the current stage.
type View struct {
	HostIDs []string
	Stage   []HostOutcome
}

// Event says what a Step did.
type Event int

// Events of Step.
const (
	NoChange Event = iota
	// Counted: only the progress counts changed.
	Counted
	// Settled: every stage host settled; the soak began.
	Settled
	// Advanced: the next stage began.
	Advanced
	// Halted: the failure share passed the threshold.
	Halted
	// Completed: the last stage passed.
	Completed
)

// Step advances a running rollout by what v shows at now. Other states are returned unchanged.
// The stage halts as soon as its failed share passes the threshold; it settles when no host is
// pending; it advances after the soak (the last stage, which admits all, completes without one).
func Step(r Rollout, v View, now time.Time) (Rollout, Event) {
	if r.State != StateRunning {
		return r, NoChange
	}
	ranks := r.ranks(v.HostIDs)
	prog := Progress{GroupHosts: len(ranks), Admitted: r.admitted(ranks), StageHosts: len(v.Stage)}
	var failures []Failure
	for _, h := range v.Stage {
		switch h.Outcome {
		case Healthy:
			prog.Healthy++
		case Failed:
			prog.Failed++
			failures = append(failures, Failure{HostID: h.HostID, Hostname: h.Hostname, Reason: h.Reason, Log: h.Log})
		case Offline:
			prog.Offline++
		default:
			prog.Pending++
		}
	}
	ev := NoChange
	if prog != r.Progress {
		ev = Counted
	}
	r.Progress = prog
	counted := prog.StageHosts - prog.Offline
	if prog.Failed > 0 && prog.Failed*100 > r.Policy.FailureThreshold*counted {
		r.State = StateHalted
		r.Failures = failures
		r.Reason = fmt.Sprintf("%d of %d hosts of %s failed (threshold %d%%)", prog.Failed, counted, StageName(r.Stage), r.Policy.FailureThreshold)
		r.UpdatedAt = now
		return r, Halted
	}
	if prog.Pending > 0 {
		if !r.Settled.IsZero() {
			r.Settled = time.Time{} // a joiner in this stage: wait for it too
			ev = Counted
		}
		return r, ev
	}
	if r.All {
		r.State = StateCompleted
		r.FinishedAt = now
		r.UpdatedAt = now
		r.Reason = fmt.Sprintf("all hosts admitted; %d healthy, %d failed, %d offline in the last stage", prog.Healthy, prog.Failed, prog.Offline)
		return r, Completed
	}
	if r.Settled.IsZero() {
		r.Settled = now
		r.UpdatedAt = now
		return r, Settled
	}
	if now.Sub(r.Settled) < r.Policy.Soak {
		return r, ev
	}
	r.Stage++
	r.PrevCutoff = r.Cutoff
	r.Cutoff, r.All = cutoffFor(ranks, stageTarget(r.Policy, r.Stage, len(ranks), prog.Admitted))
	r.StageStarted = now
	r.Settled = time.Time{}
	r.Progress.Admitted = r.admitted(ranks)
	r.UpdatedAt = now
	return r, Advanced
}

// StageName names a stage: "the canaries" or "wave N".
func StageName(stage int) string {
	if stage == 0 {
		return "the canaries"
	}
	return fmt.Sprintf("wave %d", stage)
}

// Operator actions.
const (
	ActionPause  = "pause"
	ActionResume = "resume"
	ActionAbort  = "abort"
)

// ErrState is returned for an action the rollout's state does not allow; it wraps
// server.ErrConflict.
var ErrState = fmt.Errorf("%w: not allowed in the rollout's state", server.ErrConflict)

// ErrHalted is returned for a pause or resume of a halted rollout; it wraps ErrState. A halted
// rollout can only be aborted: resumed, the failures that halted it would halt it again, and
// pausing it changes nothing.
var ErrHalted = fmt.Errorf("%w: a halted rollout can only be aborted; abort it (the group returns to its previous pin), fix the build, then pin the fixed version to start a new rollout", ErrState)

// Apply performs an operator action on r at now: pause a running rollout, resume a paused
// one, abort an active one (a halted one can only be aborted: ErrHalted). The caller sets the group's pin back to From on abort.
func Apply(r Rollout, action, by string, now time.Time) (Rollout, error) {
	switch {
	case action == ActionPause && r.State == StateRunning:
		r.State = StatePaused
		r.Reason = "paused by " + by
	case action == ActionResume && r.State == StatePaused:
		r.State = StateRunning
		r.Reason = ""
		// The soak restarts: hosts must stay healthy for a whole soak after a pause.
		if !r.Settled.IsZero() {
			r.Settled = now
		}
	case action == ActionAbort && Active(r.State):
		r.State = StateAborted
		r.Reason = "aborted by " + by + "; the group is back on its previous pin"
		r.FinishedAt = now
	case action != ActionPause && action != ActionResume && action != ActionAbort:
		return r, fmt.Errorf("%w: unknown action %q (pause, resume or abort)", server.ErrInvalid, action)
	case r.State == StateHalted:
		return r, fmt.Errorf("cannot %s a rollout that is halted: %w", action, ErrHalted)
	default:
		return r, fmt.Errorf("cannot %s a rollout that is %s: %w", action, r.State, ErrState)
	}
	r.UpdatedAt = now
	return r, nil
}
