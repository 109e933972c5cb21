package api

import "time"

// Rollout states. Running, paused and halted rollouts are active: a group has at most one.
const (
	RolloutRunning   = "running"
	RolloutPaused    = "paused"
	RolloutHalted    = "halted"
	RolloutAborted   = "aborted"
	RolloutCompleted = "completed"
)

// RolloutPolicy is a group's rollout policy: the body and answer of
// /api/v1/groups/{name}/rollout-policy. Zero (absent) fields mean the defaults: 1 canary, waves of
// 25 % of the group, a soak of 10m, a failure threshold of 10 % and a health deadline of 15m.
type RolloutPolicy struct {
	// Canaries is how many hosts take the new version first (0..1000).
	Canaries int `json:"canaries,omitempty"`
	// WavePercent is the share of the group each later wave adds (1..100).
	WavePercent int `json:"wave_percent,omitempty"`
	// Soak is how long a stage's hosts must stay healthy before the next stage.
	Soak Duration `json:"soak,omitempty"`
	// FailureThreshold is the failed share of a stage, in percent, above which it halts (0..100).
	FailureThreshold int `json:"failure_threshold,omitempty"`
	// HealthDeadline is how long after its switch a host has to commit before it counts as failed.
	HealthDeadline Duration `json:"health_deadline,omitempty"`
}

// Rollout is a staged change of a group's pin: GET /api/v1/rollouts and /api/v1/rollouts/{id}.
type Rollout struct {
	ID    string `json:"id"`
	Group string `json:"group"`
	// From is the previous pin (hosts not yet admitted get it); To the new one.
	From Pin `json:"from"`
	To   Pin `json:"to"`
	// ToVersion is the version hosts must commit: To's version, or what its channel pointed to.
	ToVersion string        `json:"to_version"`
	Policy    RolloutPolicy `json:"policy"`
	State     string        `json:"state"`
	// Stage is 0 for the canaries, then 1, 2, … for the waves.
	Stage int `json:"stage"`
	// All is set once the rollout admits every host of the group, joiners too.
	All          bool             `json:"all,omitempty"`
	StageStarted time.Time        `json:"stage_started"`
	Settled      time.Time        `json:"settled,omitzero"`
	Progress     RolloutProgress  `json:"progress"`
	Failures     []RolloutFailure `json:"failures,omitempty"`
	Reason       string           `json:"reason,omitempty"`
	CreatedBy    string           `json:"created_by"`
	CreatedAt    time.Time        `json:"created_at"`
	UpdatedAt    time.Time        `json:"updated_at"`
	FinishedAt   time.Time        `json:"finished_at,omitzero"`
	Version      int64            `json:"version"`
}

// RolloutProgress counts a rollout's hosts at the driver's last step.
type RolloutProgress struct {
	GroupHosts int `json:"group_hosts"`
	Admitted   int `json:"admitted"`
	StageHosts int `json:"stage_hosts"`
	Healthy    int `json:"healthy"`
	Failed     int `json:"failed"`
	Pending    int `json:"pending"`
	Offline    int `json:"offline"`
}

// RolloutFailure is a failed host of the stage that halted a rollout, with its update log.
type RolloutFailure struct {
	HostID   string   `json:"host_id"`
	Hostname string   `json:"hostname"`
	Reason   string   `json:"reason"`
	Log      []string `json:"log,omitempty"`
}
