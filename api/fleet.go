package api

import (
	"time"

	"github.com/vigilhq/vigil/wire"
)

// DefaultGroup is the group every server has; enrollment tokens without a group enroll into it.
const DefaultGroup = "default"

// Roles of API tokens, from most to least privileged.
const (
	RoleAdmin    = "admin"    // everything, including tokens and the repository's root
	RoleOperator = "operator" // fleet: groups, pins, enrollment, rules, silences
	RoleRelease  = "release"  // release repository: stage, sign, publish, promote
	RoleViewer   = "viewer"   // read only
)

// Host is an enrolled machine: GET /api/v1/hosts and /api/v1/hosts/{id}.
type Host struct {
	ID         string    `json:"id"`
	Hostname   string    `json:"hostname"`
	MachineID  string    `json:"machine_id,omitempty"`
	OS         string    `json:"os,omitempty"`
	Arch       string    `json:"arch,omitempty"`
	Group      string    `json:"group"`
	EnrolledAt time.Time `json:"enrolled_at"`
	Revoked    bool      `json:"revoked,omitempty"`

	AgentVersion   string `json:"agent_version,omitempty"`
	UpdaterVersion string `json:"updater_version,omitempty"`
	// IntervalSeconds is the report interval the agent last said it uses.
	IntervalSeconds int `json:"interval_seconds"`
	// LastSeen is the server time of the last committed report (zero if none yet).
	LastSeen time.Time `json:"last_seen,omitzero"`
	// AckedSeq is the highest seq acknowledged to the host.
	AckedSeq uint64 `json:"acked_seq"`
	// BootTime is the boot time the host last reported.
	BootTime time.Time `json:"boot_time,omitzero"`
	// Latest is the most recent report.
	Latest *wire.Report `json:"latest,omitempty"`
	// LastUpdate is the most recent update event the host's updater reported.
	LastUpdate *UpdateEvent `json:"last_update,omitempty"`
	// Status is how recently the host reported, against its interval and its group's grace:
	// HostUp, HostLate, HostSilent or HostUnreachable (docs/operating.md defines them).
	Status string `json:"status"`
	// ReportsDropped is what the host's agent said it dropped from its full spool (or lost on a
	// full disk) over the last day: the sum of its stored reports' spool_dropped. Only in
	// GET /api/v1/hosts/{id}, not in the list.
	ReportsDropped *ReportsDropped `json:"reports_dropped,omitempty"`
}

// ReportsDropped sums the spool_dropped counts (wire.Report.SpoolDropped) of a host's reports
// with a time at or after Since.
type ReportsDropped struct {
	Since time.Time `json:"since"`
	Count uint64    `json:"count"`
	// Last is the time of the newest report that carried a count; absent when Count is 0.
	Last time.Time `json:"last,omitzero"`
}

// Host statuses (Host.Status).
const (
	HostUp          = "up"          // reported within the last two intervals
	HostLate        = "late"        // missed a report, not yet past interval + grace
	HostSilent      = "silent"      // no report for more than interval + grace
	HostUnreachable = "unreachable" // enrolled, but no report ever arrived by its deadline
)

// UpdateEvent is an update phase a host's updater reported: GET /api/v1/hosts/{id}/updates.
type UpdateEvent struct {
	HostID string `json:"host_id"`
	wire.UpdateEvent
	ReceivedAt time.Time `json:"received_at"`
}

// ClearQuarantineResponse is the answer to POST /api/v1/hosts/{id}/clear-quarantine: the host's
// new quarantine generation. Its updater forgets its quarantined versions when it next asks for
// its desired version.
type ClearQuarantineResponse struct {
	HostID               string `json:"host_id"`
	QuarantineGeneration uint64 `json:"quarantine_generation"`
}

// MoveHostRequest is the body of PUT /api/v1/hosts/{id}/group.
type MoveHostRequest struct {
	Group string `json:"group"`
}

// Group is a set of hosts sharing a version pin and alerting settings.
type Group struct {
	Name string `json:"name"`
	// Grace is how long past its interval a host may be silent before it is late; zero (absent)
	// means the default of three report intervals.
	Grace Duration `json:"grace,omitempty"`
	// AlertEmails are recipients added to the server's default ones for this group's alerts.
	AlertEmails []string  `json:"alert_emails,omitempty"`
	Pin         Pin       `json:"pin"`
	CreatedAt   time.Time `json:"created_at,omitzero"`
	// Hosts is the number of hosts in the group.
	Hosts int `json:"hosts"`
	// AgentSettings are the data-only settings the group's agents get.
	AgentSettings AgentSettings `json:"agent_settings,omitzero"`
}

// AgentSettings are data-only agent settings: the body and answer of
// /api/v1/groups/{name}/agent-settings and the body of PUT /api/v1/hosts/{id}/agent-settings. A PUT
// replaces all of them; absent fields are cleared. The agent runs nothing it is told: these only
// choose what it watches and how often it reports, and its local configuration wins (it keeps its
// own watch entries and its own interval).
type AgentSettings struct {
	// Interval is the report interval ("30s"): whole seconds, 1s..1h; zero (absent) leaves it to
	// the agent, or for a host to its group.
	Interval Duration `json:"interval,omitempty"`
	// WatchProcesses are processes to watch, each by name (comm, at most 15 characters) or by
	// absolute executable path; at most 64.
	WatchProcesses []wire.ProcessWatch `json:"watch_processes,omitempty"`
	// WatchUnits are systemd units to watch ("nginx.service"); at most 64.
	WatchUnits []string `json:"watch_units,omitempty"`
}

// HostAgentSettings is the answer of GET /api/v1/hosts/{id}/agent-settings: the host's group's
// settings, its own (added to the group's; its interval replaces the group's) and the effective
// settings its agent gets with the answer to each report.
type HostAgentSettings struct {
	Group     AgentSettings `json:"group"`
	Host      AgentSettings `json:"host"`
	Effective AgentSettings `json:"effective"`
}

// Pin is the agent version a group should run: an exact version, a release channel, or neither
// (hosts stay where they are). It is the body and answer of /api/v1/groups/{name}/pin.
type Pin struct {
	Version string `json:"version,omitempty"`
	Channel string `json:"channel,omitempty"`
	// Force, in a PUT only, pins a version the release repository has not published (yet);
	// without it such a pin is refused as a likely typo. Answers never set it.
	Force bool `json:"force,omitempty"`
}

// CreateGroupRequest is the body of POST /api/v1/groups.
type CreateGroupRequest struct {
	Name string `json:"name"`
	// Grace is a duration string such as "90s".
	Grace       string   `json:"grace,omitempty"`
	AlertEmails []string `json:"alert_emails,omitempty"`
}

// GroupSettings is the body of PATCH /api/v1/groups/{name}; nil fields are left as they are.
type GroupSettings struct {
	Grace       *string   `json:"grace,omitempty"`
	AlertEmails *[]string `json:"alert_emails,omitempty"`
}

// EnrollmentToken lets hosts enroll into a group. Listings never carry the secret.
type EnrollmentToken struct {
	ID        string    `json:"id"`
	Group     string    `json:"group"`
	ExpiresAt time.Time `json:"expires_at"`
	MaxUses   int       `json:"max_uses"`
	Uses      int       `json:"uses"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
	Revoked   bool      `json:"revoked,omitempty"`
}

// CreateEnrollmentTokenRequest is the body of POST /api/v1/enrollment-tokens.
type CreateEnrollmentTokenRequest struct {
	Group string `json:"group,omitempty"`
	// TTL is a duration string such as "24h"; default 24h.
	TTL     string `json:"ttl,omitempty"`
	MaxUses int    `json:"max_uses,omitempty"`
}

// CreateEnrollmentTokenResponse carries the token secret, shown once, beside the token.
type CreateEnrollmentTokenResponse struct {
	Token string `json:"token"`
	EnrollmentToken
}

// APIToken authenticates an operator or a script. Listings never carry the secret.
type APIToken struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
	Revoked   bool      `json:"revoked,omitempty"`
	// OwnerID and Owner name the user the token acts for (empty for a token made before users
	// existed). A token never has more power than its owner's current role.
	OwnerID string `json:"owner_id,omitempty"`
	Owner   string `json:"owner,omitempty"`
}

// CreateTokenRequest is the body of POST /api/v1/tokens.
type CreateTokenRequest struct {
	Name string `json:"name"`
	Role string `json:"role"`
	// Owner makes the token for another user (admin only); empty: for the caller's own user. The
	// role may not be above the owner's.
	Owner string `json:"owner,omitempty"`
}

// CreateTokenResponse carries the API token secret, shown once, beside the token.
type CreateTokenResponse struct {
	Token string `json:"token"`
	APIToken
}

// AuditEntry records one change: who did what to which object, and when.
type AuditEntry struct {
	ID     int64     `json:"id"`
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Target string    `json:"target"`
	Detail string    `json:"detail,omitempty"`
	// User is the person behind the change (signed in, or owning the token); TokenID the API
	// token used, if any.
	User    string `json:"user,omitempty"`
	TokenID string `json:"token_id,omitempty"`
	// Address is the client address the change came from.
	Address string `json:"address,omitempty"`
	// Before and After describe the object's state around the change, where known.
	Before string `json:"before,omitempty"`
	After  string `json:"after,omitempty"`
}

// User is a person who signs in to the dashboard and owns API tokens (GET /api/v1/users).
type User struct {
	ID                string    `json:"id"`
	Name              string    `json:"name"`
	Role              string    `json:"role"`
	PasswordChangedAt time.Time `json:"password_changed_at"`
	CreatedAt         time.Time `json:"created_at"`
}

// CreateUserRequest is the body of POST /api/v1/users.
type CreateUserRequest struct {
	Name     string `json:"name"`
	Role     string `json:"role"`
	Password string `json:"password"`
}

// SetUserRoleRequest is the body of PUT /api/v1/users/{name}/role.
type SetUserRoleRequest struct {
	Role string `json:"role"`
}

// SetPasswordRequest is the body of PUT /api/v1/users/{name}/password. An admin may leave
// CurrentPassword empty; a user setting their own password must give it.
type SetPasswordRequest struct {
	CurrentPassword string `json:"current_password,omitempty"`
	Password        string `json:"password"`
}

// AuditQuery filters GET /api/v1/audit (query parameters of the same names; times RFC 3339).
type AuditQuery struct {
	Actor  string    // user name, token ID or actor text
	Action string    // exact, or a prefix ending in "." ("user.")
	Target string    // exact, or a prefix ending in "/" ("group/")
	Since  time.Time // inclusive
	Until  time.Time // exclusive
	Limit  int       // at most 1000; default 100
	Before int64     // page: entries with a smaller ID
}
