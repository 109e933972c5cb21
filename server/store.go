package server

import (
	"context"
	"time"

	"github.com/vigilhq/vigil/wire"
)

// Store is the persistence the Service needs. sqlitestore and pgstore implement it, and
// server/storetest holds the conformance suite both must pass.
//
// All methods are safe for concurrent use. Methods that change fleet state take the AuditEntry that
// describes the change and must commit it in the same transaction as the change. Not-found
// conditions wrap ErrNotFound, unique violations ErrConflict.
type Store interface {
	// CreateEnrollmentToken stores a new token (by hash). The group must exist (ErrNotFound).
	CreateEnrollmentToken(ctx context.Context, t EnrollmentToken, audit AuditEntry) error
	// ListEnrollmentTokens lists tokens, newest first.
	ListEnrollmentTokens(ctx context.Context) ([]EnrollmentToken, error)
	// RevokeEnrollmentToken marks a token revoked. Idempotent.
	RevokeEnrollmentToken(ctx context.Context, id string, audit AuditEntry) error
	// Enroll atomically consumes one use of the token whose hash is tokenHash, if it is not revoked,
	// not expired at now and not used up (else ErrTokenInvalid), and inserts h, with its Group taken
	// from the token, authenticated by credentialHash. It returns the stored host. A token that
	// is unknown, revoked, expired or used up is refused after a read, without a write
	// transaction, so a flood of bad tokens does not queue behind (or in front of) ingestion.
	Enroll(ctx context.Context, tokenHash string, now time.Time, h Host, credentialHash string) (Host, error)

	// HostByCredential finds the host a credential belongs to, without Latest or LastUpdate. A
	// revoked host is returned with Revoked set; the caller refuses it.
	HostByCredential(ctx context.Context, credentialHash string) (Host, error)
	// GetHost returns one host with Latest and LastUpdate.
	GetHost(ctx context.Context, id string) (Host, error)
	// ListHosts returns hosts ordered by hostname, with Latest and LastUpdate. An empty group lists all.
	ListHosts(ctx context.Context, group string) ([]Host, error)
	// RevokeHost revokes a host's credential. Idempotent.
	RevokeHost(ctx context.Context, id string, audit AuditEntry) error
	// DeleteHost deletes a host with its samples, outages, update events and agent settings, and
	// with it its credential (ErrNotFound if missing). Alerts, their history and the audit log
	// keep what they recorded about it.
	DeleteHost(ctx context.Context, id string, audit AuditEntry) error
	// MoveHost puts a host into another existing group.
	MoveHost(ctx context.Context, id, group string, audit AuditEntry) error

	// CommitReports stores the reports of every batch in one transaction and returns, for each
	// batch in order, the host's acknowledged seq afterwards. Reports with a seq at or below the
	// host's acknowledged seq are duplicates and are skipped; the rest are stored, never twice for
	// one (host, seq). The acknowledged seq becomes the highest seq of the batch (see the ordering
	// contract on wire.ReportBatch). The host's LastSeen becomes the batch's Received time, and its
	// latest state, versions, interval and boot time follow its newest report. Outages carried by
	// the reports are stored for the host. Nothing is acknowledged unless everything committed.
	CommitReports(ctx context.Context, batches []HostReports) ([]uint64, error)
	// ListSamples returns a host's stored reports with from <= time < to, oldest first, at most limit.
	ListSamples(ctx context.Context, hostID string, from, to time.Time, limit int) ([]Sample, error)
	// ReportsDropped sums the counts of reports dropped from a full spool (wire.Report.SpoolDropped)
	// that a host's stored reports with time >= since carried, with the time of the newest report
	// that carried one. It reads each of the host's stored reports in the range (a single pass,
	// no decoding of reports without the field): callers keep the range short.
	ReportsDropped(ctx context.Context, hostID string, since time.Time) (DroppedReports, error)
	// DeleteSamplesBefore deletes samples (and outages that ended) older than t and returns how many
	// samples went.
	DeleteSamplesBefore(ctx context.Context, t time.Time) (int64, error)
	// ListMetrics returns a host's chart figures with from <= time < to, oldest first: one point per
	// stored report when res is 0, else the rollup buckets of resolution res (RollupMinute or
	// RollupHour; anything else is ErrInvalid) that start in the range. At most limit points (no
	// limit when limit <= 0).
	ListMetrics(ctx context.Context, hostID string, res time.Duration, from, to time.Time, limit int) ([]MetricPoint, error)
	// DeleteRollupsBefore deletes rollup buckets of resolution res that start before t and returns
	// how many went.
	DeleteRollupsBefore(ctx context.Context, res time.Duration, t time.Time) (int64, error)
	// ListOutages returns the connectivity outages a host reported that end at or after since,
	// oldest first.
	ListOutages(ctx context.Context, hostID string, since time.Time) ([]wire.Outage, error)

	// CreateGroup creates a group (ErrConflict if it exists).
	CreateGroup(ctx context.Context, g Group, audit AuditEntry) error
	// GetGroup returns one group with its host count.
	GetGroup(ctx context.Context, name string) (Group, error)
	// ListGroups returns all groups ordered by name, with host counts.
	ListGroups(ctx context.Context) ([]Group, error)
	// UpdateGroup sets a group's Grace and AlertEmails.
	UpdateGroup(ctx context.Context, g Group, audit AuditEntry) error
	// SetPin sets a group's pin.
	SetPin(ctx context.Context, name string, p Pin, audit AuditEntry) error
	// SetGroupAgentSettings replaces a group's agent settings (ErrNotFound without the group).
	SetGroupAgentSettings(ctx context.Context, group string, s AgentSettings, audit AuditEntry) error
	// SetHostAgentSettings replaces a host's own agent settings; the zero value removes them
	// (ErrNotFound without the host).
	SetHostAgentSettings(ctx context.Context, hostID string, s AgentSettings, audit AuditEntry) error
	// AgentSettings returns the agent settings of a host's group and the host's own, in one read:
	// ingest calls it for every batch (ErrNotFound without the host).
	AgentSettings(ctx context.Context, hostID string) (group, host AgentSettings, err error)
	// DeleteGroup deletes an empty group; ErrGroupNotEmpty while hosts are in it. The default group
	// cannot be deleted (ErrInvalid).
	DeleteGroup(ctx context.Context, name string, audit AuditEntry) error

	// AddUpdateEvent stores an update event and makes it the host's LastUpdate. An event whose ID
	// the host sent before is a repost: nothing changes and the answer is nil.
	AddUpdateEvent(ctx context.Context, e UpdateEvent) error
	// ClearQuarantine raises the host's quarantine generation by one, with its audit entry
	// (ErrNotFound without the host).
	ClearQuarantine(ctx context.Context, hostID string, audit AuditEntry) error
	// QuarantineGeneration returns the host's quarantine generation, 0 until the first clear
	// (ErrNotFound without the host).
	QuarantineGeneration(ctx context.Context, hostID string) (uint64, error)
	// ListUpdateEvents returns a host's update events, newest first, at most limit.
	ListUpdateEvents(ctx context.Context, hostID string, limit int) ([]UpdateEvent, error)

	// CreateAPIToken stores a new API token (by hash).
	CreateAPIToken(ctx context.Context, t APIToken, audit AuditEntry) error
	// APITokenByHash finds a token by the hash of its secret.
	APITokenByHash(ctx context.Context, hash string) (APIToken, error)
	// ListAPITokens lists tokens, oldest first.
	ListAPITokens(ctx context.Context) ([]APIToken, error)
	// RevokeAPIToken revokes a token. Idempotent.
	RevokeAPIToken(ctx context.Context, id string, audit AuditEntry) error

	// ListAudit returns audit entries newest first: at most limit, with ID < before when before > 0.
	ListAudit(ctx context.Context, limit int, before int64) ([]AuditEntry, error)
	// AppendAudit records a change made outside the store (such as the release repository's).
	AppendAudit(ctx context.Context, a AuditEntry) error

	// SearchAudit returns the audit entries f selects, newest first.
	SearchAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, error)

	// CreateUser stores a user (ErrConflict if the name is taken).
	CreateUser(ctx context.Context, u User, audit AuditEntry) error
	// UserByName and UserByID find a user (ErrNotFound).
	UserByName(ctx context.Context, name string) (User, error)
	UserByID(ctx context.Context, id string) (User, error)
	// ListUsers lists users ordered by name.
	ListUsers(ctx context.Context) ([]User, error)
	// SetUserRole changes a user's role (ErrNotFound without the user). It refuses, atomically with
	// concurrent changes, to leave no admin user (ErrLastAdmin).
	SetUserRole(ctx context.Context, id, role string, audit AuditEntry) error
	// SetUserPassword replaces a user's password hash and deletes all of the user's sessions in the
	// same transaction (ErrNotFound without the user).
	SetUserPassword(ctx context.Context, id, hash string, changedAt time.Time, audit AuditEntry) error
	// DeleteUser deletes a user and its sessions and revokes the API tokens it owns, in one
	// transaction (ErrNotFound without the user). It refuses, atomically with concurrent changes,
	// to delete the last admin (ErrLastAdmin).
	DeleteUser(ctx context.Context, id string, audit AuditEntry) error

	// CreateSession stores a session (ErrNotFound without the user).
	CreateSession(ctx context.Context, s Session) error
	// SessionByHash finds a session by the hash of its ID (ErrNotFound).
	SessionByHash(ctx context.Context, idHash string) (Session, error)
	// TouchSession sets a session's LastSeen. A missing session is not an error.
	TouchSession(ctx context.Context, idHash string, lastSeen time.Time) error
	// DeleteSession deletes one session. Idempotent.
	DeleteSession(ctx context.Context, idHash string) error
	// DeleteStaleSessions deletes sessions last seen before idleBefore or created before
	// createdBefore and returns how many went.
	DeleteStaleSessions(ctx context.Context, idleBefore, createdBefore time.Time) (int64, error)

	// Ping checks the store is reachable (for /readyz).
	Ping(ctx context.Context) error
	// Close releases the store.
	Close() error
}

// Sample is one stored report of a host.
// DroppedReports is what a host said it dropped from its full spool over a time range
// (Store.ReportsDropped).
type DroppedReports struct {
	// Since is the start of the range.
	Since time.Time
	// Count is the sum of the reports' spool_dropped counts.
	Count uint64
	// Last is the time of the newest report with a count, zero if none.
	Last time.Time
}

type Sample struct {
	HostID string
	Seq    uint64
	Time   time.Time
	Report wire.Report
}
