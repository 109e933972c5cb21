package alert_test

import (
	"errors"
	"fmt"
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
