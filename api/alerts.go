package api

import "time"

// Rule kinds.
const (
	KindSilence = "silence" // the host stopped reporting (its group's grace is the delay)
	KindCPU     = "cpu"     // CPU busy % above Threshold
	KindMemory  = "memory"  // available memory % below Threshold
	KindDisk    = "disk"    // a mount's used % above Threshold (Match: a mount path)
	KindLoad    = "load"    // 1-minute load average per core above Threshold
	KindProcess = "process" // a watched process gone or restarted (Match: its name)
	KindUnit    = "unit"    // a systemd unit failed (Match: its name)
	KindCheck   = "check"   // a health check of the agent's configuration failed (Match: its name)
	KindAnomaly = "anomaly" // a metric unusual for the host at this hour (Match: the metric, such as cpu.busy_pct)
)

// Alert states.
const (
	StatePending  = "pending"
	StateFiring   = "firing"
	StateResolved = "resolved"
)

// Reasons a silent host was silent, given once its silence alert resolved.
const (
	ReasonNetwork = "network" // the agent reported a connectivity outage covering the silence
	ReasonReboot  = "reboot"  // the host's boot time changed
	ReasonUnknown = "unknown"
)

// Notification statuses.
const (
	NotifyQueued   = "queued"   // waiting for its first attempt (or for SMTP to be configured)
	NotifyRetrying = "retrying" // an attempt failed; next_attempt says when the next one is
	NotifySent     = "sent"     // the SMTP server accepted it
	NotifySkipped  = "skipped"  // dropped on purpose: no recipients, or too old to be useful
)

// Rule says what to alert on and for which hosts; it is also the body of POST /api/v1/rules
// (the server assigns ID, CreatedAt and CreatedBy). Group and HostID empty match every host; set,
// they must both match.
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
	// Match narrows disk, process, unit and check rules to one mount path, process, unit or check name.
	Match     string    `json:"match,omitempty"`
	CreatedAt time.Time `json:"created_at,omitzero"`
	CreatedBy string    `json:"created_by,omitempty"`
}

// Alert is one instance of a rule's condition on one host (or, for a group silence, one group).
type Alert struct {
	ID int64 `json:"id"`
	// Key identifies the condition (rule, host, subject); at most one alert per Key is open.
	Key      string `json:"key"`
	RuleID   string `json:"rule_id"`
	RuleName string `json:"rule_name"`
	Kind     string `json:"kind"`
	HostID   string `json:"host_id,omitempty"`
	Hostname string `json:"hostname,omitempty"`
	Group    string `json:"group"`
	// Subject is the mount, process, unit or check the alert is about; empty for host-wide conditions.
	Subject string  `json:"subject,omitempty"`
	State   string  `json:"state"`
	Summary string  `json:"summary"`
	Value   float64 `json:"value,omitempty"`

	StartedAt       time.Time `json:"started_at"`
	FiredAt         time.Time `json:"fired_at,omitzero"`
	ResolvedAt      time.Time `json:"resolved_at,omitzero"`
	NotifiedAt      time.Time `json:"notified_at,omitzero"`
	Reminders       int       `json:"reminders,omitempty"`
	RecoveringSince time.Time `json:"recovering_since,omitzero"`
	Suppressed      bool      `json:"suppressed,omitempty"`
	// AckedAt and AckedBy say when and by whom an operator acknowledged the alert
	// (POST /api/v1/alerts/{id}/ack); an acknowledged alert sends no reminders.
	AckedAt time.Time `json:"acked_at,omitzero"`
	AckedBy string    `json:"acked_by,omitempty"`

	// LastSeen and BootTime are, for silence alerts, the host's last report before it went quiet
	// and the boot time it had then; BackAt is when it reported again.
	LastSeen time.Time `json:"last_seen,omitzero"`
	BootTime time.Time `json:"boot_time,omitzero"`
	BackAt   time.Time `json:"back_at,omitzero"`
	// Reason is, once a silence resolved, why the host was silent (Reason* constants).
	Reason string `json:"reason,omitempty"`
	// CoveredBy is the Key of the group alert whose email covers this host's silence.
	CoveredBy string `json:"covered_by,omitempty"`
	// Hosts lists, for a group silence alert, the host IDs it covers; Details how each recovered.
	Hosts   []string `json:"hosts,omitempty"`
	Details []string `json:"details,omitempty"`

	Version   int64     `json:"version"`
	UpdatedAt time.Time `json:"updated_at"`
	// History is filled by GET /api/v1/alerts/{id}.
	History []AlertEvent `json:"history,omitempty"`
}

// AlertEvent is one entry of an alert's history.
type AlertEvent struct {
	AlertID int64     `json:"alert_id"`
	Time    time.Time `json:"time"`
	// State is the alert's state after the event.
	State   string `json:"state"`
	Message string `json:"message"`
}

// Silence is a maintenance window: alerts matching it send no email between StartsAt and EndsAt.
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

// CreateSilenceRequest is the body of POST /api/v1/silences. EndsAt or Duration says when it
// ends; StartsAt defaults to now.
type CreateSilenceRequest struct {
	HostID   string    `json:"host_id,omitempty"`
	Group    string    `json:"group,omitempty"`
	RuleID   string    `json:"rule_id,omitempty"`
	StartsAt time.Time `json:"starts_at,omitzero"`
	EndsAt   time.Time `json:"ends_at,omitzero"`
	// Duration is a duration string such as "2h", from StartsAt.
	Duration string `json:"duration,omitempty"`
	Comment  string `json:"comment,omitempty"`
}

// Notification is one alert email in the outbox.
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
	// Status is one of the Notify* constants.
	Status    string `json:"status"`
	LastError string `json:"last_error,omitempty"`
}
