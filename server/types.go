package server

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/vigilhq/vigil/wire"
)

// DefaultGroup is the group every server has; enrollment tokens without a group enroll into it.
const DefaultGroup = "default"

// Roles of API tokens and users, from most to least privileged.
const (
	RoleAdmin    = "admin"    // everything, including users and tokens
	RoleOperator = "operator" // fleet: groups, pins, enrollment, rules, silences
	RoleRelease  = "release"  // release repository: stage, sign, publish, promote
	RoleViewer   = "viewer"   // read only
)

// ValidRole reports whether r is one of the roles above.
func ValidRole(r string) bool {
	switch r {
	case RoleAdmin, RoleOperator, RoleRelease, RoleViewer:
		return true
	}
	return false
}

// Host is an enrolled machine.
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
	// Latest is the most recent report, kept for the dashboard and alerting.
	Latest *wire.Report `json:"latest,omitempty"`
	// LastUpdate is the most recent update event the host's updater reported.
	LastUpdate *UpdateEvent `json:"last_update,omitempty"`
	// Status is StatusUp, StatusLate, StatusSilent or StatusUnreachable, filled by the Service's
	// ListHosts and GetHost (HostStatus); stores leave it empty.
	Status string `json:"status"`
	// Dropped is what the host's agent said it dropped from its full spool over the last
	// DroppedWindow, filled by the Service's GetHost (Store.ReportsDropped); stores and ListHosts
	// leave it zero.
	Dropped DroppedReports `json:"-"`
}

// Group is a set of hosts sharing a version pin and alerting settings.
type Group struct {
	Name string `json:"name"`
	// Grace is how long past its interval a host may be silent before it is late. Zero means the
	// default of three report intervals.
	Grace time.Duration `json:"-"`
	// AlertEmails are recipients added to the server's default ones for this group's alerts.
	AlertEmails []string  `json:"alert_emails,omitempty"`
	Pin         Pin       `json:"pin"`
	CreatedAt   time.Time `json:"created_at"`
	// AgentSettings are the data-only settings sent to the group's agents.
	AgentSettings AgentSettings `json:"-"`
	// Hosts is the number of hosts in the group, filled by listings.
	Hosts int `json:"hosts"`
}

// Pin is the agent version a group should run: an exact version, a release channel, or neither
// (hosts stay where they are).
type Pin struct {
	Version string `json:"version,omitempty"`
	Channel string `json:"channel,omitempty"`
}

// EnrollmentToken lets a host enroll into a group. The secret is shown once at creation.
type EnrollmentToken struct {
	ID        string    `json:"id"`
	Group     string    `json:"group"`
	ExpiresAt time.Time `json:"expires_at"`
	MaxUses   int       `json:"max_uses"`
	Uses      int       `json:"uses"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
	Revoked   bool      `json:"revoked,omitempty"`
	// Hash is the SHA-256 of the secret; never serialized.
	Hash string `json:"-"`
}

// APIToken authenticates an operator or a script.
type APIToken struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
	Revoked   bool      `json:"revoked,omitempty"`
	Hash      string    `json:"-"`
	// Owner is the ID of the user the token acts for; empty for tokens made before users existed
	// (and the bootstrap token of such a server). A token never has more power than its owner.
	Owner string `json:"owner_id,omitempty"`
	// OwnerName is the owner's name, filled in by listings (not stored).
	OwnerName string `json:"owner,omitempty"`
}

// Principal is who is making an operator request: a user signed in to the dashboard or an API
// token (with the user who owns it, if any).
type Principal struct {
	TokenID string
	Name    string
	Role    string
	// UserID and User name the person behind the request: the signed-in user, or the token's owner.
	UserID string
	User   string
	// Address is the client's address as the HTTP edge saw it, for the audit log.
	Address string
}

// AuditEntry records one change: who did what to which object, the state before and after, when,
// and from which address.
type AuditEntry struct {
	ID     int64     `json:"id"`
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Target string    `json:"target"`
	Detail string    `json:"detail,omitempty"`
	// User and TokenID say who acted: the user (signed in, or owning the token) and the token.
	User    string `json:"user,omitempty"`
	TokenID string `json:"token_id,omitempty"`
	// Address is the client address of the request that made the change.
	Address string `json:"address,omitempty"`
	// Before and After describe the changed object's state around the change, where known.
	Before string `json:"before,omitempty"`
	After  string `json:"after,omitempty"`
}

// AuditFilter selects audit entries. Zero fields match everything.
type AuditFilter struct {
	// Actor matches the entry's user name, token ID or actor text exactly.
	Actor string
	// Action matches exactly, or as a prefix when it ends in "." (e.g. "user.").
	Action string
	// Target matches exactly, or as a prefix when it ends in "/" (e.g. "group/").
	Target string
	// Since and Until bound the time: Since <= time < Until.
	Since, Until time.Time
	// Before pages: only entries with ID < Before when > 0.
	Before int64
	// Limit caps the entries; <= 0 means no limit.
	Limit int
}

// User is a person who signs in to the dashboard and owns API tokens.
type User struct {
	ID                string    `json:"id"`
	Name              string    `json:"name"`
	Role              string    `json:"role"`
	PasswordHash      string    `json:"-"`
	PasswordChangedAt time.Time `json:"password_changed_at"`
	CreatedAt         time.Time `json:"created_at"`
}

// Session is a dashboard sign-in, stored by the SHA-256 of its random ID (the cookie value).
type Session struct {
	IDHash    string
	UserID    string
	CreatedAt time.Time
	LastSeen  time.Time
	Address   string
}

// UpdateEvent is an update phase reported by a host's updater.
type UpdateEvent struct {
	HostID string `json:"host_id"`
	wire.UpdateEvent
	ReceivedAt time.Time `json:"received_at"`
}

// HostReports is the unit of group commit: the validated reports of one request from one host.
type HostReports struct {
	HostID  string
	Reports []wire.Report
	// Raw, when set, holds each report's JSON as the host sent it (wire.UnmarshalReportBatchRaw):
	// Raw[i] decodes to exactly Reports[i], so a store keeps it instead of encoding the report
	// again. Nil (or a nil entry): the store encodes Reports[i].
	Raw [][]byte
	// Received is the server time the request arrived.
	Received time.Time
}

// groupJSON is Group on the wire, with Grace as a duration string ("3m0s").
type groupJSON struct {
	Name        string    `json:"name"`
	Grace       string    `json:"grace,omitempty"`
	AlertEmails []string  `json:"alert_emails,omitempty"`
	Pin         Pin       `json:"pin"`
	CreatedAt   time.Time `json:"created_at,omitzero"`
	Hosts       int       `json:"hosts"`
	// AgentSettings is left out when it sets nothing.
	AgentSettings *agentSettingsJSON `json:"agent_settings,omitempty"`
}

// agentSettingsJSON is AgentSettings on the wire, with Interval as a duration string.
type agentSettingsJSON struct {
	Interval       string              `json:"interval,omitempty"`
	WatchProcesses []wire.ProcessWatch `json:"watch_processes,omitempty"`
	WatchUnits     []string            `json:"watch_units,omitempty"`
}

// MarshalJSON renders Grace as a duration string.
func (g Group) MarshalJSON() ([]byte, error) {
	j := groupJSON{Name: g.Name, AlertEmails: g.AlertEmails, Pin: g.Pin, CreatedAt: g.CreatedAt, Hosts: g.Hosts}
	if g.Grace != 0 {
		j.Grace = g.Grace.String()
	}
	if as := g.AgentSettings; as.Interval != 0 || as.WatchProcesses != nil || as.WatchUnits != nil {
		j.AgentSettings = &agentSettingsJSON{WatchProcesses: as.WatchProcesses, WatchUnits: as.WatchUnits}
		if as.Interval != 0 {
			j.AgentSettings.Interval = as.Interval.String()
		}
	}
	return json.Marshal(j)
}

// UnmarshalJSON parses Grace from a duration string.
func (g *Group) UnmarshalJSON(b []byte) error {
	var j groupJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*g = Group{Name: j.Name, AlertEmails: j.AlertEmails, Pin: j.Pin, CreatedAt: j.CreatedAt, Hosts: j.Hosts}
	if j.Grace != "" {
		d, err := time.ParseDuration(j.Grace)
		if err != nil {
			return fmt.Errorf("grace: %w", err)
		}
		g.Grace = d
	}
	if as := j.AgentSettings; as != nil {
		g.AgentSettings = AgentSettings{WatchProcesses: as.WatchProcesses, WatchUnits: as.WatchUnits}
		if as.Interval != "" {
			d, err := time.ParseDuration(as.Interval)
			if err != nil {
				return fmt.Errorf("agent_settings.interval: %w", err)
			}
			g.AgentSettings.Interval = d
		}
	}
	return nil
}
