package web

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/rollout"
	"github.com/vigilhq/vigil/server/sqlitestore"
)

// racingPolicies is the SQLite store with a hook run just before RolloutPolicies reads, that is
// after the groups page listed the groups, and a count of single-group policy reads.
type racingPolicies struct {
	*sqlitestore.Store
	before func()
	single int
}

func (s *racingPolicies) RolloutPolicies(ctx context.Context) (map[string]rollout.Policy, error) {
	s.before()
	return s.Store.RolloutPolicies(ctx)
}

func (s *racingPolicies) RolloutPolicy(ctx context.Context, group string) (rollout.Policy, error) {
	s.single++
	return s.Store.RolloutPolicy(ctx, group)
}

// TestGroupRowsGroupDeletedMeanwhile: a group deleted between the groups page's reads is left
// out of the rows instead of failing the whole refresh, and the other groups keep their policy,
// read in one store call (no per-group policy read).
func TestGroupRowsGroupDeletedMeanwhile(t *testing.T) {
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "vigil.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc, err := server.New(server.Config{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	admin := server.Principal{Name: "test", Role: server.RoleAdmin}
	for _, g := range []string{"web", "gone"} {
		if err := st.CreateGroup(ctx, server.Group{Name: g, CreatedAt: time.Now()}, server.AuditEntry{Time: time.Now(), Action: "group.create", Target: "group/" + g}); err != nil {
			t.Fatal(err)
		}
	}
	want := rollout.Policy{Canaries: 3, WavePercent: 40, Soak: time.Minute, FailureThreshold: 5, HealthDeadline: time.Minute}
	if err := st.SetRolloutPolicy(ctx, "web", want, server.AuditEntry{Time: time.Now(), Action: "group.rollout_policy", Target: "group/web"}); err != nil {
		t.Fatal(err)
	}
	rs := &racingPolicies{Store: st}
	rs.before = func() {
		if err := st.DeleteGroup(ctx, "gone", server.AuditEntry{Time: time.Now(), Action: "group.delete", Target: "group/gone"}); err != nil {
			t.Errorf("delete group: %v", err)
		}
	}
	m, err := rollout.NewManager(rollout.Config{Store: rs, Fleet: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Config{Service: svc, Rollouts: m, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := h.groupRows(httptest.NewRequest("GET", "/groups/rows", nil), admin)
	if err != nil {
		t.Fatalf("groupRows with a group deleted meanwhile: %v", err)
	}
	got := map[string]rollout.Policy{}
	for _, r := range rows {
		got[r.Name] = r.Policy
	}
	if _, ok := got["gone"]; ok {
		t.Error("the deleted group is still a row")
	}
	if p, ok := got["web"]; !ok || p != want {
		t.Errorf("web row policy = %+v (present %v), want %+v", p, ok, want)
	}
	if _, ok := got[server.DefaultGroup]; !ok {
		t.Errorf("no row for the default group: %+v", rows)
	}
	if rs.single != 0 {
		t.Errorf("%d single-group policy reads, want none", rs.single)
	}
}
