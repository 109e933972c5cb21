package storesql

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/wire"
)

// HostColumns are the columns ScanHost reads from hosts.
const HostColumns = `id, hostname, machine_id, os, arch, group_name, enrolled_at, revoked, agent_version,
	updater_version, interval_seconds, last_seen, acked_seq, boot_time`

// HostFullColumns are the columns ScanHostFull reads: HostColumns, the latest report and the last
// update event.
const HostFullColumns = HostColumns + `, latest, last_update`

// ScanHost reads HostColumns: a host without Latest or LastUpdate.
func ScanHost(row Scanner) (server.Host, error) {
	var h server.Host
	err := row.Scan(hostDest(&h)...)
	return h, err
}

// ScanHostFull reads HostFullColumns, decoding the JSON of the latest report and last update; a
// NULL leaves them nil.
func ScanHostFull(row Scanner) (server.Host, error) {
	var (
		h                  server.Host
		latest, lastUpdate []byte
	)
	if err := row.Scan(append(hostDest(&h), &latest, &lastUpdate)...); err != nil {
		return server.Host{}, err
	}
	if latest != nil {
		h.Latest = new(wire.Report)
		if err := json.Unmarshal(latest, h.Latest); err != nil {
			return server.Host{}, fmt.Errorf("decode latest report of host %s: %w", h.ID, err)
		}
	}
	if lastUpdate != nil {
		h.LastUpdate = new(server.UpdateEvent)
		if err := json.Unmarshal(lastUpdate, h.LastUpdate); err != nil {
			return server.Host{}, fmt.Errorf("decode last update of host %s: %w", h.ID, err)
		}
	}
	return h, nil
}

func hostDest(h *server.Host) []any {
	return []any{&h.ID, &h.Hostname, &h.MachineID, &h.OS, &h.Arch, &h.Group, TimeInto(&h.EnrolledAt), &h.Revoked,
		&h.AgentVersion, &h.UpdaterVersion, &h.IntervalSeconds, TimeInto(&h.LastSeen), uint64Into(&h.AckedSeq),
		TimeInto(&h.BootTime)}
}

// EnrollingHost validates a host about to be enrolled and returns it as Enroll stores and returns
// it: only the fields enrollment sets, EnrolledAt defaulting to now and normalised. The store fills
// in Group from the token.
func EnrollingHost(h server.Host, now time.Time, credentialHash string) (server.Host, error) {
	if h.ID == "" || credentialHash == "" {
		return server.Host{}, fmt.Errorf("enroll: %w: host id and credential are required", server.ErrInvalid)
	}
	return server.Host{
		ID: h.ID, Hostname: h.Hostname, MachineID: h.MachineID, OS: h.OS, Arch: h.Arch,
		EnrolledAt: NormalOr(h.EnrolledAt, now), AgentVersion: h.AgentVersion, UpdaterVersion: h.UpdaterVersion,
		IntervalSeconds: h.IntervalSeconds,
	}, nil
}

// GroupQuery selects the columns ScanGroup reads, with the group's host count; callers append a
// WHERE or ORDER BY on g.
const GroupQuery = `SELECT g.name, g.grace_ns, g.alert_emails, g.pin_version, g.pin_channel, g.created_at,
	g.agent_settings, (SELECT count(*) FROM hosts h WHERE h.group_name = g.name) FROM groups g`

// ScanGroup reads a row of GroupQuery. An empty list of alert emails comes back nil.
func ScanGroup(row Scanner) (server.Group, error) {
	var (
		g        server.Group
		grace    int64
		emails   []byte
		settings string
	)
	if err := row.Scan(&g.Name, &grace, &emails, &g.Pin.Version, &g.Pin.Channel, TimeInto(&g.CreatedAt), &settings, &g.Hosts); err != nil {
		return server.Group{}, err
	}
	var err error
	if g.AgentSettings, err = DecodeAgentSettings(settings); err != nil {
		return server.Group{}, fmt.Errorf("group %s: %w", g.Name, err)
	}
	g.Grace = time.Duration(grace)
	if err := json.Unmarshal(emails, &g.AlertEmails); err != nil {
		return server.Group{}, fmt.Errorf("decode alert emails of group %s: %w", g.Name, err)
	}
	if len(g.AlertEmails) == 0 {
		g.AlertEmails = nil
	}
	return g, nil
}

// NewGroup validates a group about to be created and defaults CreatedAt to now. It returns the
// group as stored and the JSON of its alert emails.
func NewGroup(g server.Group, now time.Time) (server.Group, []byte, error) {
	if g.Name == "" {
		return server.Group{}, nil, fmt.Errorf("create group: %w: name is required", server.ErrInvalid)
	}
	g.CreatedAt = NormalOr(g.CreatedAt, now)
	emails, err := EncodeEmails(g.AlertEmails)
	if err != nil {
		return server.Group{}, nil, fmt.Errorf("create group %s: %w", g.Name, err)
	}
	return g, emails, nil
}

// EncodeEmails is the JSON array stored for a group's alert emails; none is [].
func EncodeEmails(emails []string) ([]byte, error) {
	if len(emails) == 0 {
		return []byte("[]"), nil
	}
	return json.Marshal(emails)
}

// CheckDeleteGroup refuses to delete the default group.
func CheckDeleteGroup(name string) error {
	if name == server.DefaultGroup {
		return fmt.Errorf("delete group %s: %w: the default group cannot be deleted", name, server.ErrInvalid)
	}
	return nil
}

// EnrollmentTokenColumns are the columns ScanEnrollmentToken reads.
const EnrollmentTokenColumns = `id, hash, group_name, expires_at, max_uses, uses, created_at, created_by, revoked`

// ScanEnrollmentToken reads EnrollmentTokenColumns; a NULL expires_at is a zero ExpiresAt.
func ScanEnrollmentToken(row Scanner) (server.EnrollmentToken, error) {
	var t server.EnrollmentToken
	err := row.Scan(&t.ID, &t.Hash, &t.Group, TimeInto(&t.ExpiresAt), &t.MaxUses, &t.Uses, TimeInto(&t.CreatedAt), &t.CreatedBy, &t.Revoked)
	return t, err
}

// APITokenColumns are the columns ScanAPIToken reads.
const APITokenColumns = `id, name, role, hash, created_at, revoked, owner`

// ScanAPIToken reads APITokenColumns.
func ScanAPIToken(row Scanner) (server.APIToken, error) {
	var t server.APIToken
	err := row.Scan(&t.ID, &t.Name, &t.Role, &t.Hash, TimeInto(&t.CreatedAt), &t.Revoked, &t.Owner)
	return t, err
}

// AuditColumns are the columns ScanAudit reads.
const AuditColumns = `id, time, actor, action, target, detail, actor_user, actor_token, address, state_before, state_after`

// ScanAudit reads AuditColumns.
func ScanAudit(row Scanner) (server.AuditEntry, error) {
	var a server.AuditEntry
	err := row.Scan(&a.ID, TimeInto(&a.Time), &a.Actor, &a.Action, &a.Target, &a.Detail, &a.User, &a.TokenID, &a.Address, &a.Before, &a.After)
	return a, err
}

// NewAudit returns a as stored: Time defaulting to now, normalised.
func NewAudit(a server.AuditEntry, now time.Time) server.AuditEntry {
	a.Time = NormalOr(a.Time, now)
	return a
}

// UserColumns are the columns ScanUser reads.
const UserColumns = `id, name, role, password_hash, password_changed_at, created_at`

// ScanUser reads UserColumns.
func ScanUser(row Scanner) (server.User, error) {
	var u server.User
	err := row.Scan(&u.ID, &u.Name, &u.Role, &u.PasswordHash, TimeInto(&u.PasswordChangedAt), TimeInto(&u.CreatedAt))
	return u, err
}

// SessionColumns are the columns ScanSession reads.
const SessionColumns = `id_hash, user_id, created_at, last_seen, address`

// ScanSession reads SessionColumns.
func ScanSession(row Scanner) (server.Session, error) {
	var s server.Session
	err := row.Scan(&s.IDHash, &s.UserID, TimeInto(&s.CreatedAt), TimeInto(&s.LastSeen), &s.Address)
	return s, err
}

// AuditWhere renders f as a WHERE clause (without the keyword) and its arguments, with
// placeholders $1, $2, … Times go through timeArg.
func AuditWhere(f server.AuditFilter, timeArg func(time.Time) any) (string, []any) {
	var conds []string
	var args []any
	// add appends cond, whose "#" marks are replaced in order by placeholders for vals.
	add := func(cond string, vals ...any) {
		var b strings.Builder
		for _, v := range vals {
			i := strings.IndexByte(cond, '#')
			args = append(args, v)
			b.WriteString(cond[:i])
			b.WriteString("$" + strconv.Itoa(len(args)))
			cond = cond[i+1:]
		}
		b.WriteString(cond)
		conds = append(conds, b.String())
	}
	if f.Actor != "" {
		add("(actor_user = # OR actor_token = # OR actor = #)", f.Actor, f.Actor, f.Actor)
	}
	switch {
	case strings.HasSuffix(f.Action, "."):
		add("substr(action, 1, #) = #", len(f.Action), f.Action)
	case f.Action != "":
		add("action = #", f.Action)
	}
	switch {
	case strings.HasSuffix(f.Target, "/"):
		add("substr(target, 1, #) = #", len(f.Target), f.Target)
	case f.Target != "":
		add("target = #", f.Target)
	}
	if !f.Since.IsZero() {
		add("time >= #", timeArg(Normal(f.Since)))
	}
	if !f.Until.IsZero() {
		add("time < #", timeArg(Normal(f.Until)))
	}
	if f.Before > 0 {
		add("id < #", f.Before)
	}
	if len(conds) == 0 {
		return "TRUE", args
	}
	return strings.Join(conds, " AND "), args
}

// UpdateEventColumns are the columns ScanUpdateEvent reads.
const UpdateEventColumns = `event_id, binary_name, from_version, to_version, phase, result, reason, time, received_at`

// ScanUpdateEvent returns a scanner of UpdateEventColumns for events of hostID.
func ScanUpdateEvent(hostID string) func(Scanner) (server.UpdateEvent, error) {
	return func(row Scanner) (server.UpdateEvent, error) {
		e := server.UpdateEvent{HostID: hostID}
		var id *string // NULL for an event posted without an ID
		err := row.Scan(&id, &e.Binary, &e.FromVersion, &e.ToVersion, &e.Phase, &e.Result, &e.Reason, TimeInto(&e.Time), TimeInto(&e.ReceivedAt))
		if id != nil {
			e.ID = *id
		}
		return e, err
	}
}

// NewUpdateEvent returns e as stored (ReceivedAt defaulting to now, times normalised) and the
// JSON kept as the host's last update.
func NewUpdateEvent(e server.UpdateEvent, now time.Time) (server.UpdateEvent, []byte, error) {
	e.Time, e.ReceivedAt = Normal(e.Time), NormalOr(e.ReceivedAt, now)
	last, err := json.Marshal(e)
	if err != nil {
		return server.UpdateEvent{}, nil, fmt.Errorf("add update event of host %s: %w", e.HostID, err)
	}
	return e, last, nil
}

// SampleColumns are the columns ScanSample reads from samples.
const SampleColumns = `seq, time, report`

// ScanSample returns a scanner of SampleColumns for samples of hostID.
func ScanSample(hostID string) func(Scanner) (server.Sample, error) {
	return func(row Scanner) (server.Sample, error) {
		var (
			smp    = server.Sample{HostID: hostID}
			report []byte
		)
		if err := row.Scan(uint64Into(&smp.Seq), TimeInto(&smp.Time), &report); err != nil {
			return server.Sample{}, err
		}
		if err := json.Unmarshal(report, &smp.Report); err != nil {
			return server.Sample{}, fmt.Errorf("decode sample %d of host %s: %w", smp.Seq, hostID, err)
		}
		return smp, nil
	}
}

// OutageColumns are the columns ScanOutage reads from outages.
const OutageColumns = `start_time, end_time, class, detail`

// ScanOutage reads OutageColumns.
func ScanOutage(row Scanner) (wire.Outage, error) {
	var o wire.Outage
	err := row.Scan(TimeInto(&o.Start), TimeInto(&o.End), &o.Class, &o.Detail)
	return o, err
}

// AgentSettingsQuery selects the agent settings of a host's group and the host's own, for
// ScanAgentSettings; the caller binds the host ID.
const AgentSettingsQuery = `SELECT g.agent_settings, h.agent_settings FROM hosts h JOIN groups g ON g.name = h.group_name
	WHERE h.id = `

// agentSettingsJSON is how a column of agent settings is stored; an empty column is the zero value.
type agentSettingsJSON struct {
	IntervalSeconds int                 `json:"interval_seconds,omitempty"`
	WatchProcesses  []wire.ProcessWatch `json:"watch_processes,omitempty"`
	WatchUnits      []string            `json:"watch_units,omitempty"`
}

// EncodeAgentSettings validates settings and returns them as stored: "" for the zero value, else JSON.
func EncodeAgentSettings(s server.AgentSettings) (string, error) {
	if err := s.Validate(); err != nil {
		return "", err
	}
	if s.IsZero() {
		return "", nil
	}
	b, err := json.Marshal(agentSettingsJSON{IntervalSeconds: int(s.Interval / time.Second), WatchProcesses: s.WatchProcesses, WatchUnits: s.WatchUnits})
	return string(b), err
}

// DecodeAgentSettings reads a column EncodeAgentSettings wrote.
func DecodeAgentSettings(col string) (server.AgentSettings, error) {
	if col == "" {
		return server.AgentSettings{}, nil
	}
	var j agentSettingsJSON
	if err := json.Unmarshal([]byte(col), &j); err != nil {
		return server.AgentSettings{}, fmt.Errorf("decode agent settings: %w", err)
	}
	return server.AgentSettings{Interval: time.Duration(j.IntervalSeconds) * time.Second, WatchProcesses: j.WatchProcesses, WatchUnits: j.WatchUnits}, nil
}

// ScanAgentSettings reads a row of AgentSettingsQuery.
func ScanAgentSettings(row Scanner) (group, host server.AgentSettings, err error) {
	var g, h string
	if err := row.Scan(&g, &h); err != nil {
		return server.AgentSettings{}, server.AgentSettings{}, err
	}
	if group, err = DecodeAgentSettings(g); err != nil {
		return group, host, err
	}
	host, err = DecodeAgentSettings(h)
	return group, host, err
}

// NullString is s for a query argument, or NULL when s is empty (an update event without an ID).
func NullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}
