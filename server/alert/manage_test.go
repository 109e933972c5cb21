package alert_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/alert"
)

// TestListLimit: a limit above the maximum gives the maximum, not the (smaller) default.
func TestListLimit(t *testing.T) {
	st := openSQLite(t)
	for i := range 1005 {
		queue(t, st, fmt.Sprintf("n%04d", i), t0)
	}
	m := alert.NewManager(st, func() time.Time { return t0 })
	viewer := server.Principal{Name: "v", Role: server.RoleViewer}
	for _, tt := range []struct{ ask, want int }{{0, 100}, {-1, 100}, {150, 150}, {1000, 1000}, {5000, 1000}} {
		ns, err := m.ListNotifications(t.Context(), viewer, tt.ask, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(ns) != tt.want {
			t.Errorf("limit %d: %d notifications, want %d", tt.ask, len(ns), tt.want)
		}
	}
}

// TestManagerRoles: viewers and release engineers read alerting but change nothing; operators
// and admins change rules and silences.
func TestManagerRoles(t *testing.T) {
	st := openSQLite(t)
	m := alert.NewManager(st, func() time.Time { return t0 })
	rule := alert.Rule{Kind: alert.KindCPU, Threshold: 95}
	sil := alert.Silence{Group: "default", EndsAt: t0.Add(time.Hour)}
	for _, role := range []string{server.RoleViewer, server.RoleRelease, ""} {
		p := server.Principal{Name: "p", Role: role}
		if _, err := m.CreateRule(t.Context(), p, rule); !isForbidden(err) {
			t.Errorf("%q created a rule: %v", role, err)
		}
		if _, err := m.CreateSilence(t.Context(), p, sil); !isForbidden(err) {
			t.Errorf("%q created a silence: %v", role, err)
		}
		if err := m.DeleteRule(t.Context(), p, "default-cpu"); !isForbidden(err) {
			t.Errorf("%q deleted a rule: %v", role, err)
		}
	}
	if _, err := m.ListRules(t.Context(), server.Principal{Name: "x", Role: "nobody"}); !isForbidden(err) {
		t.Errorf("an unknown role read the rules: %v", err)
	}
	for _, role := range []string{server.RoleOperator, server.RoleAdmin} {
		p := server.Principal{Name: "p", Role: role}
		if _, err := m.CreateRule(t.Context(), p, rule); err != nil {
			t.Errorf("%s: create rule: %v", role, err)
		}
		if _, err := m.CreateSilence(t.Context(), p, sil); err != nil {
			t.Errorf("%s: create silence: %v", role, err)
		}
	}
}

func isForbidden(err error) bool { return errors.Is(err, server.ErrForbidden) }

// TestManagerRefusesTypos: a rule or a silence naming a host, group or rule that does not exist
// is refused with ErrInvalid and a message naming what was not found; nothing is stored.
func TestManagerRefusesTypos(t *testing.T) {
	st := openSQLite(t)
	ctx := t.Context()
	tok := server.EnrollmentToken{ID: "tok-1", Group: server.DefaultGroup, MaxUses: 1, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour), Hash: "hash-1"}
	if err := st.CreateEnrollmentToken(ctx, tok, server.AuditEntry{Action: "token.create"}); err != nil {
		t.Fatal(err)
	}
	host, err := st.Enroll(ctx, tok.Hash, t0, server.Host{ID: "h-web1", Hostname: "web-1", IntervalSeconds: 10}, "cred-1")
	if err != nil {
		t.Fatal(err)
	}
	m := alert.NewManager(st, func() time.Time { return t0 })
	op := server.Principal{Name: "op", Role: server.RoleOperator}
	rulesBefore, _ := m.ListRules(ctx, op)
	for _, tt := range []struct {
		name string
		rule alert.Rule
		want string
	}{
		{"unknown host", alert.Rule{Kind: alert.KindCPU, Threshold: 90, HostID: "h-web2"}, `no host with ID "h-web2"`},
		{"unknown group", alert.Rule{Kind: alert.KindCPU, Threshold: 90, Group: "wbe"}, `no group "wbe" (groups: default)`},
	} {
		_, err := m.CreateRule(ctx, op, tt.rule)
		if !errors.Is(err, server.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("rule for %s: %v; want ErrInvalid saying %q", tt.name, err, tt.want)
		}
	}
	if rs, _ := m.ListRules(ctx, op); len(rs) != len(rulesBefore) {
		t.Errorf("refused rules were stored: %d rules, had %d", len(rs), len(rulesBefore))
	}
	end := t0.Add(time.Hour)
	for _, tt := range []struct {
		name string
		sil  alert.Silence
		want string
	}{
		{"unknown host", alert.Silence{HostID: "h-web2", EndsAt: end}, `no host with ID "h-web2"`},
		{"unknown group", alert.Silence{Group: "wbe", EndsAt: end}, `no group "wbe"`},
		{"unknown rule", alert.Silence{RuleID: "default-cpuu", EndsAt: end}, `no rule with ID "default-cpuu"`},
	} {
		_, err := m.CreateSilence(ctx, op, tt.sil)
		if !errors.Is(err, server.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("silence for %s: %v; want ErrInvalid saying %q", tt.name, err, tt.want)
		}
	}
	if ss, _ := m.ListSilences(ctx, op, true); len(ss) != 0 {
		t.Errorf("refused silences were stored: %+v", ss)
	}
	// What exists is accepted, a revoked host too (its silence or rule is harmless).
	if _, err := m.CreateRule(ctx, op, alert.Rule{Kind: alert.KindCPU, Threshold: 90, HostID: host.ID, Group: server.DefaultGroup}); err != nil {
		t.Errorf("rule for an existing host and group: %v", err)
	}
	if _, err := m.CreateSilence(ctx, op, alert.Silence{HostID: host.ID, RuleID: "default-cpu", EndsAt: end}); err != nil {
		t.Errorf("silence for an existing host and rule: %v", err)
	}
}
