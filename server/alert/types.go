package alert

import (
	"time"

	"github.com/vigilhq/vigil/api"
)

// Rule kinds.
const (
	// KindSilence alerts when a host stops reporting: late once it missed a report by a whole
	// interval (pending), silent once now > last report + interval + grace (firing).
	KindSilence = "silence"
	// KindCPU alerts when CPU busy % is above Threshold.
	KindCPU = "cpu"
	// KindMemory alerts when available memory % is below Threshold.
	KindMemory = "memory"
	// KindDisk alerts when a mount's used % is above Threshold (Match: a mount path; empty: any).
	KindDisk = "disk"
	// KindLoad alerts when the 1-minute load average per core is above Threshold.
	KindLoad = "load"
	// KindProcess alerts when a watched process is gone or restarted (Match: its name; empty: any).
	KindProcess = "process"
	// KindUnit alerts when a systemd unit failed (Match: its name; empty: any).
	KindUnit = "unit"
	// KindCheck alerts when a health check of the host's agent configuration fails (Match: its
	// name; empty: any). It resolves when the check passes again or is no longer reported.
	KindCheck = "check"
	// KindAnomaly alerts when the agent flags a metric as unusual for the host at this hour of the
	// day (Match: the metric, such as cpu.busy_pct; empty: any). Agents send hints only when their
	// anomaly hints are on.
	KindAnomaly = "anomaly"
)

// ValidKind reports whether k is one of the rule kinds.
func ValidKind(k string) bool {
	switch k {
	case KindSilence, KindCPU, KindMemory, KindDisk, KindLoad, KindProcess, KindUnit, KindCheck, KindAnomaly:
		return true
	}
	return false
}

// Alert states.
const (
	StatePending  = "pending"
	StateFiring   = "firing"
	StateResolved = "resolved"
)

// Duration is a time.Duration that is a string such as "5m0s" in JSON: the operator-API contract's
// type, so rules read and written through the API and stored by the stores share one codec.
type Duration = api.Duration

// Rule says what to alert on and for which hosts. Scope: Group and HostID empty match every
// host; set, they must both match.
type Rule struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Kind string `json:"kind"`
	// Threshold is the limit of metric kinds (percent for cpu, memory and disk; load per core).
	Threshold float64 `json:"threshold,omitempty"`
	// For is how long a metric condition must hold before the alert fires (pending until then).
	For    Duration `json:"for,omitempty"`
	Group  string   `json:"group,omitempty"`
	HostID string   `json:"host_id,omitempty"`
	// Match narrows disk, process, unit and check rules to one mount path, process, unit or check
	// name.
	Match     string    `json:"match,omitempty"`
	CreatedAt time.Time `json:"created_at,omitzero"`
	CreatedBy string    `json:"created_by,omitempty"`
}

// Matches reports whether the rule's scope covers a host.
func (r Rule) Matches(hostID, group string) bool {
	return (r.Group == "" || r.Group == group) && (r.HostID == "" || r.HostID == hostID)
}

// Alert is one instance of a rule's condition on one host (or, for a group silence, one group),
// from the moment it was seen until it resolved.
type Alert struct {
	ID int64 `json:"id"`
	// Key identifies the condition: rule, host and subject. At most one alert per Key is open
	// (pending or firing) at a time.
	Key      string `json:"key"`
	RuleID   string `json:"rule_id"`
	RuleName string `json:"rule_name"`
	Kind     string `json:"kind"`
	HostID   string `json:"host_id,omitempty"`
	Hostname string `json:"hostname,omitempty"`
	Group    string `json:"group"`
	// Subject is the mount, process, unit or check the alert is about; empty for host-wide
	// conditions.
	Subject string  `json:"subject,omitempty"`
	State   string  `json:"state"`
	Summary string  `json:"summary"`
	Value   float64 `json:"value,omitempty"`

	// StartedAt is when the condition was first seen; FiredAt when the alert fired.
	StartedAt  time.Time `json:"started_at"`
	FiredAt    time.Time `json:"fired_at,omitzero"`
	ResolvedAt time.Time `json:"resolved_at,omitzero"`
	// NotifiedAt is when the last firing or reminder email was queued; zero if none was (a
	// maintenance silence or a group email covered it).
	NotifiedAt time.Time `json:"notified_at,omitzero"`
	// Reminders counts reminder emails queued while firing.
	Reminders int `json:"reminders,omitempty"`
	// RecoveringSince is when a firing alert's condition cleared (or its host came back); the
	// alert resolves once it stays clear for the flap damping time.
	RecoveringSince time.Time `json:"recovering_since,omitzero"`
	// Suppressed is set while a maintenance silence held back this alert's email.
	Suppressed bool `json:"suppressed,omitempty"`
	// AckedAt and AckedBy say when and by whom an operator acknowledged the alert (zero: not
	// acknowledged). An acknowledged alert sends no reminders. Stores keep them in columns of
	// their own (Store.AckAlert) that win over the saved JSON's copies, so a save by the engine,
	// which may not know of the acknowledgement yet, cannot undo it.
	AckedAt time.Time `json:"acked_at,omitzero"`
	AckedBy string    `json:"acked_by,omitempty"`

	// LastSeen and BootTime are, for silence alerts, the host's last report before it went quiet
	// and the boot time it had then; BackAt is when it reported again.
	LastSeen time.Time `json:"last_seen,omitzero"`
	BootTime time.Time `json:"boot_time,omitzero"`
	BackAt   time.Time `json:"back_at,omitzero"`
	// Reason is, once a silence resolved, why the host was silent: network, reboot or unknown.
	Reason string `json:"reason,omitempty"`
	// CoveredBy is the Key of the group alert whose email covers this host's silence.
	CoveredBy string `json:"covered_by,omitempty"`
	// Hosts lists, for a group silence alert, the host IDs it covers; Details how each of them
	// recovered.
	Hosts   []string `json:"hosts,omitempty"`
	Details []string `json:"details,omitempty"`

	// Version increases with every stored change (optimistic concurrency).
	Version   int64     `json:"version"`
	UpdatedAt time.Time `json:"updated_at"`
	// History is filled by Manager.GetAlert.
	History []AlertEvent `json:"history,omitempty"`
}

// Ack is an operator's acknowledgement of an alert.
type Ack struct {
	By string
	At time.Time
}

// Open reports whether the alert is pending or firing.
func (a *Alert) Open() bool { return a.State == StatePending || a.State == StateFiring }

// AlertEvent is one entry of an alert's history.
type AlertEvent struct {
	AlertID int64     `json:"alert_id"`
	Time    time.Time `json:"time"`
	// State is the alert's state after the event.
	State   string `json:"state"`
	Message string `json:"message"`
}

// Reasons a silent host was silent, given in recovery emails.
const (
	ReasonNetwork = "network" // the agent reported a connectivity outage covering the silence
	ReasonReboot  = "reboot"  // the host's boot time changed
	ReasonUnknown = "unknown"
)

// Silence is a maintenance window: alerts matching it send no email between StartsAt and EndsAt.
// Its HostID, Group and RuleID that are set must all match; at least one is set.
type Silence struct {
	ID        string    `json:"id"`
	HostID    string    `json:"host_id,omitempty"`
	Group     string    `json:"group,omitempty"`
	RuleID    string    `json:"rule_id,omitempty"`
	StartsAt  time.Time `json:"starts_at"`
	EndsAt    time.Time `json:"ends_at"`
	Comment   string    `json:"comment,omitempty"`
	CreatedAt time.Time `json:"created_at,omitzero"`
	CreatedBy string    `json:"created_by,omitempty"`
}

// Active reports whether the silence covers time t.
func (s Silence) Active(t time.Time) bool { return !t.Before(s.StartsAt) && t.Before(s.EndsAt) }

// Covers reports whether the silence matches an alert.
func (s Silence) Covers(a *Alert) bool {
	if s.HostID == "" && s.Group == "" && s.RuleID == "" {
		return false
	}
	return (s.HostID == "" || s.HostID == a.HostID) && (s.Group == "" || s.Group == a.Group) &&
		(s.RuleID == "" || s.RuleID == a.RuleID)
}

// Notification statuses, as listed.
const (
	NotifyQueued   = "queued"   // waiting for its first attempt (or for SMTP to be configured)
	NotifyRetrying = "retrying" // an attempt failed; next_attempt says when the next one is
	NotifySent     = "sent"     // the SMTP server accepted it
	NotifySkipped  = "skipped"  // dropped on purpose: no recipients, or too old to be useful
)

// Notification is one email in the outbox.
type Notification struct {
	ID int64 `json:"id"`
	// Key is the idempotency key: unique in the outbox, and the source of MessageID.
	Key      string `json:"key"`
	AlertKey string `json:"alert_key"`
	HostID   string `json:"host_id,omitempty"`
	Group    string `json:"group,omitempty"`
	// Event is firing, reminder, resolved, group_firing or group_resolved.
	Event     string   `json:"event"`
	To        []string `json:"to"`
	Subject   string   `json:"subject"`
	Text      string   `json:"text"`
	HTML      string   `json:"html,omitempty"`
	MessageID string   `json:"message_id"`

	CreatedAt   time.Time `json:"created_at"`
	NextAttempt time.Time `json:"next_attempt"`
	Attempts    int       `json:"attempts"`
	SentAt      time.Time `json:"sent_at,omitzero"`
	// Outcome is "", sent or skipped; Status derives from it and Attempts.
	Outcome   string `json:"-"`
	Status    string `json:"status"`
	LastError string `json:"last_error,omitempty"`
}

// SetStatus derives Status from the stored fields.
func (n *Notification) SetStatus() {
	switch {
	case n.Outcome != "":
		n.Status = n.Outcome
	case n.Attempts > 0:
		n.Status = NotifyRetrying
	default:
		n.Status = NotifyQueued
	}
}

// HostState is the part of a host the engine evaluates.
type HostState struct {
	ID              string
	Hostname        string
	Group           string
	Revoked         bool
	IntervalSeconds int
	// LastSeen is the server time of the host's last committed report (zero: never reported).
	LastSeen time.Time
	BootTime time.Time
	AckedSeq uint64
	// FiguresHash identifies the rule figures of the latest report (Figures), which change with
	// it only when something the rules read changed; 0: no figures written yet (a host whose last
	// report predates them).
	FiguresHash int64
}

// NormalizeTimes makes a's times what stores keep: UTC, truncated to microseconds. Stores call
// it on the alert they save, so memory and store agree.
func (a *Alert) NormalizeTimes() {
	for _, t := range []*time.Time{&a.StartedAt, &a.FiredAt, &a.ResolvedAt, &a.NotifiedAt, &a.RecoveringSince,
		&a.LastSeen, &a.BootTime, &a.BackAt, &a.UpdatedAt} {
		if !t.IsZero() {
			*t = t.UTC().Truncate(time.Microsecond)
		}
	}
}
