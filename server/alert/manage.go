package alert

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/wire"
)

// Manager is the operator surface of alerting: rules, alerts, maintenance silences and the
// notification listing, with role checks, validation and audit entries. It reads and writes the
// store only, so any replica serves it; the leader's Engine picks changes up at its next scan.
// Manager is safe for concurrent use.
type Manager struct {
	store Store
	now   func() time.Time
}

// NewManager returns a Manager; now defaults to time.Now.
func NewManager(store Store, now func() time.Time) *Manager {
	if now == nil {
		now = time.Now
	}
	return &Manager{store: store, now: now}
}

// Limits on operator input.
const (
	maxRuleFor       = 24 * time.Hour
	maxSilenceLength = 366 * 24 * time.Hour
	maxTextLen       = 256
	maxCommentLen    = 1024
	maxListLimit     = 1000
	defaultListLimit = 100
)

func require(p server.Principal, role string) error {
	if !server.Allowed(p, role) {
		return fmt.Errorf("%w: needs role %s, token has %s", server.ErrForbidden, role, p.Role)
	}
	return nil
}

func (m *Manager) audit(p server.Principal, action, target, detail string) server.AuditEntry {
	return server.AuditFor(p, m.now(), action, target, detail)
}

func newID(prefix string) string {
	b := make([]byte, 8)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// listLimit is the page size for a requested limit: the default when none was asked for, at
// most maxListLimit.
func listLimit(n int) int {
	if n <= 0 {
		return defaultListLimit
	}
	return min(n, maxListLimit)
}

// ListRules lists the rules.
func (m *Manager) ListRules(ctx context.Context, p server.Principal) ([]Rule, error) {
	if err := require(p, server.RoleViewer); err != nil {
		return nil, err
	}
	return m.store.ListRules(ctx)
}

// ValidateRule checks a rule an operator submits.
func ValidateRule(r Rule) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: rule: %s", server.ErrInvalid, fmt.Sprintf(format, args...))
	}
	if !ValidKind(r.Kind) {
		return bad("kind %q (silence, cpu, memory, disk, load, process, unit, check, anomaly)", r.Kind)
	}
	if len(r.Name) > maxTextLen || len(r.Match) > maxTextLen || len(r.HostID) > maxTextLen {
		return bad("name, match and host_id are at most %d characters", maxTextLen)
	}
	if r.Group != "" && !server.ValidName(r.Group) {
		return bad("group name %q", r.Group)
	}
	if r.For < 0 || time.Duration(r.For) > maxRuleFor {
		return bad("for %s not within 0..%s", time.Duration(r.For), maxRuleFor)
	}
	switch r.Kind {
	case KindCPU, KindMemory, KindDisk:
		if r.Threshold <= 0 || r.Threshold >= 100 {
			return bad("%s threshold %g%% not within 0..100 (exclusive)", r.Kind, r.Threshold)
		}
	case KindLoad:
		if r.Threshold <= 0 || r.Threshold > 1000 {
			return bad("load threshold %g per core not within 0..1000", r.Threshold)
		}
	default:
		if r.Threshold != 0 {
			return bad("%s rules take no threshold", r.Kind)
		}
	}
	if r.Match != "" && r.Kind != KindDisk && r.Kind != KindProcess && r.Kind != KindUnit && r.Kind != KindCheck && r.Kind != KindAnomaly {
		return bad("match applies to disk, process, unit, check and anomaly rules only")
	}
	if r.Kind == KindAnomaly && r.Match != "" && !wire.ValidMetricName(r.Match) {
		return bad("match %q is not a metric name such as cpu.busy_pct, memory.used_pct or load.per_core", r.Match)
	}
	if r.Kind == KindCheck && r.Match != "" && !wire.ValidCheckName(r.Match) {
		return bad("match %q is not a check name (1..%d of a-z A-Z 0-9 . _ -, as in the agent's checks: list)", r.Match, wire.MaxCheckNameLen)
	}
	if r.Kind == KindSilence && r.For != 0 {
		return bad("silence rules take no for duration: the group's grace is theirs")
	}
	return nil
}

// CreateRule validates and stores a new rule; its ID is made here.
func (m *Manager) CreateRule(ctx context.Context, p server.Principal, r Rule) (Rule, error) {
	if err := require(p, server.RoleOperator); err != nil {
		return Rule{}, err
	}
	if err := ValidateRule(r); err != nil {
		return Rule{}, err
	}
	if err := m.checkTargets(ctx, r.HostID, r.Group, ""); err != nil {
		return Rule{}, fmt.Errorf("rule: %w", err)
	}
	r.ID = newID("r-")
	if r.Name == "" {
		r.Name = defaultRuleName(r)
	}
	r.CreatedAt, r.CreatedBy = m.now().UTC().Truncate(time.Microsecond), p.Name
	detail := fmt.Sprintf("kind=%s threshold=%g for=%s group=%s host=%s match=%s", r.Kind, r.Threshold, time.Duration(r.For), r.Group, r.HostID, r.Match)
	if err := m.store.CreateRule(ctx, r, m.audit(p, "rule.create", "rule/"+r.ID, detail)); err != nil {
		return Rule{}, fmt.Errorf("create rule: %w", err)
	}
	return r, nil
}

func defaultRuleName(r Rule) string {
	var what string
	switch r.Kind {
	case KindSilence:
		what = "Host silent"
	case KindCPU:
		what = fmt.Sprintf("CPU busy above %g%%", r.Threshold)
	case KindMemory:
		what = fmt.Sprintf("Memory available below %g%%", r.Threshold)
	case KindDisk:
		what = fmt.Sprintf("Disk used above %g%%", r.Threshold)
	case KindLoad:
		what = fmt.Sprintf("Load per core above %g", r.Threshold)
	case KindProcess:
		what = "Watched process gone or restarting"
	case KindUnit:
		what = "Systemd unit failed"
	case KindCheck:
		what = "Health check failing"
	case KindAnomaly:
		what = "Unusual for this host at this hour"
	}
	if r.Match != "" {
		what += " (" + r.Match + ")"
	}
	if r.For > 0 {
		what += " for " + shortDur(time.Duration(r.For))
	}
	return what
}

// DeleteRule deletes a rule; its open alerts resolve at the engine's next scan.
func (m *Manager) DeleteRule(ctx context.Context, p server.Principal, id string) error {
	if err := require(p, server.RoleOperator); err != nil {
		return err
	}
	return m.store.DeleteRule(ctx, id, m.audit(p, "rule.delete", "rule/"+id, ""))
}

// ListAlerts lists alerts newest first.
func (m *Manager) ListAlerts(ctx context.Context, p server.Principal, f AlertFilter) ([]Alert, error) {
	if err := require(p, server.RoleViewer); err != nil {
		return nil, err
	}
	f.Limit = listLimit(f.Limit)
	return m.store.ListAlerts(ctx, f)
}

// GetAlert returns one alert with its history.
func (m *Manager) GetAlert(ctx context.Context, p server.Principal, id int64) (Alert, error) {
	if err := require(p, server.RoleViewer); err != nil {
		return Alert{}, err
	}
	return m.store.GetAlert(ctx, id)
}

// AckAlert acknowledges an open alert for the operator behind p: it stays open and still emails
// when it resolves, but sends no more reminders. ErrNotFound for no such alert; ErrConflict
// (ErrAlertResolved, ErrAlreadyAcked) for a resolved or already acknowledged one.
func (m *Manager) AckAlert(ctx context.Context, p server.Principal, id int64) (Alert, error) {
	if err := require(p, server.RoleOperator); err != nil {
		return Alert{}, err
	}
	at := m.now().UTC().Truncate(time.Microsecond)
	a := m.audit(p, "alert.ack", fmt.Sprintf("alert/%d", id), "")
	if err := m.store.AckAlert(ctx, id, Ack{By: a.Actor, At: at}, a); err != nil {
		return Alert{}, fmt.Errorf("acknowledge alert %d: %w", id, err)
	}
	return m.store.GetAlert(ctx, id)
}

// ListSilences lists maintenance silences; with all false only those not yet over.
func (m *Manager) ListSilences(ctx context.Context, p server.Principal, all bool) ([]Silence, error) {
	if err := require(p, server.RoleViewer); err != nil {
		return nil, err
	}
	since := m.now()
	if all {
		since = time.Time{}
	}
	return m.store.ListSilences(ctx, since)
}

// CreateSilence validates and stores a maintenance silence; StartsAt defaults to now.
func (m *Manager) CreateSilence(ctx context.Context, p server.Principal, s Silence) (Silence, error) {
	if err := require(p, server.RoleOperator); err != nil {
		return Silence{}, err
	}
	now := m.now().UTC().Truncate(time.Microsecond)
	if s.StartsAt.IsZero() {
		s.StartsAt = now
	}
	s.StartsAt, s.EndsAt = s.StartsAt.UTC().Truncate(time.Microsecond), s.EndsAt.UTC().Truncate(time.Microsecond)
	switch {
	case s.HostID == "" && s.Group == "" && s.RuleID == "":
		return Silence{}, fmt.Errorf("%w: a silence needs a host, a group or a rule", server.ErrInvalid)
	case !s.EndsAt.After(s.StartsAt) || !s.EndsAt.After(now):
		return Silence{}, fmt.Errorf("%w: a silence must end after it starts and in the future", server.ErrInvalid)
	case s.EndsAt.Sub(s.StartsAt) > maxSilenceLength:
		return Silence{}, fmt.Errorf("%w: a silence lasts at most %s", server.ErrInvalid, maxSilenceLength)
	case len(s.HostID) > maxTextLen || len(s.RuleID) > maxTextLen || len(s.Comment) > maxCommentLen:
		return Silence{}, fmt.Errorf("%w: silence fields too long", server.ErrInvalid)
	case s.Group != "" && !server.ValidName(s.Group):
		return Silence{}, fmt.Errorf("%w: group name %q", server.ErrInvalid, s.Group)
	}
	if err := m.checkTargets(ctx, s.HostID, s.Group, s.RuleID); err != nil {
		return Silence{}, fmt.Errorf("silence: %w", err)
	}
	s.ID, s.CreatedAt, s.CreatedBy = newID("s-"), now, p.Name
	detail := fmt.Sprintf("host=%s group=%s rule=%s from=%s to=%s", s.HostID, s.Group, s.RuleID,
		s.StartsAt.Format(time.RFC3339), s.EndsAt.Format(time.RFC3339))
	if err := m.store.CreateSilence(ctx, s, m.audit(p, "silence.create", "silence/"+s.ID, detail)); err != nil {
		return Silence{}, fmt.Errorf("create silence: %w", err)
	}
	return s, nil
}

// checkTargets refuses (ErrInvalid) a host, group or rule that does not exist, so a typo in a
// rule or a silence is an error instead of a rule that never matches or a silence that holds
// nothing back. Empty arguments are not checked.
func (m *Manager) checkTargets(ctx context.Context, hostID, group, ruleID string) error {
	if hostID != "" {
		sts, err := m.store.HostStates(ctx, []string{hostID})
		if err != nil {
			return fmt.Errorf("look up host %s: %w", hostID, err)
		}
		if len(sts) == 0 {
			return fmt.Errorf("%w: there is no host with ID %q (vigilctl hosts ls lists them)", server.ErrInvalid, hostID)
		}
	}
	if group != "" {
		gs, err := m.store.ListGroups(ctx)
		if err != nil {
			return fmt.Errorf("list groups: %w", err)
		}
		names := make([]string, len(gs))
		for i, g := range gs {
			names[i] = g.Name
		}
		if !slices.Contains(names, group) {
			return fmt.Errorf("%w: there is no group %q (groups: %s)", server.ErrInvalid, group, strings.Join(names, ", "))
		}
	}
	if ruleID != "" {
		rs, err := m.store.ListRules(ctx)
		if err != nil {
			return fmt.Errorf("list rules: %w", err)
		}
		if !slices.ContainsFunc(rs, func(r Rule) bool { return r.ID == ruleID }) {
			return fmt.Errorf("%w: there is no rule with ID %q (vigilctl rules ls lists them)", server.ErrInvalid, ruleID)
		}
	}
	return nil
}

// DeleteSilence deletes a maintenance silence (ends it early).
func (m *Manager) DeleteSilence(ctx context.Context, p server.Principal, id string) error {
	if err := require(p, server.RoleOperator); err != nil {
		return err
	}
	return m.store.DeleteSilence(ctx, id, m.audit(p, "silence.delete", "silence/"+id, ""))
}

// ListNotifications lists queued and sent emails, newest first.
func (m *Manager) ListNotifications(ctx context.Context, p server.Principal, limit int, before int64) ([]Notification, error) {
	if err := require(p, server.RoleViewer); err != nil {
		return nil, err
	}
	return m.store.ListNotifications(ctx, listLimit(limit), before)
}

// shortDur renders 5m0s as 5m and 1h0m0s as 1h.
func shortDur(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
