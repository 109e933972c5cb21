package storetest

import (
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/alert"
	"github.com/vigilhq/vigil/server/rollout"
)

// runRollout runs the rollout.Store part of the suite; Run calls it. Both stores implement
// rollout.Store, so a store that does not fails.
func runRollout(t *testing.T, newStore func(t *testing.T) server.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, f *fixture, s rollout.Store, as alert.Store)
	}{
		{"RolloutStart", testRolloutStart},
		{"RolloutSave", testRolloutSave},
		{"RolloutSaveConcurrent", testRolloutSaveConcurrent},
		{"RolloutList", testRolloutList},
		{"RolloutPolicy", testRolloutPolicy},
		{"RolloutPolicies", testRolloutPolicies},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := newStore(t)
			rs, ok := st.(rollout.Store)
			if !ok {
				t.Fatalf("%T does not implement rollout.Store", st)
			}
			as, ok := st.(alert.Store)
			if !ok {
				t.Fatalf("%T does not implement alert.Store", st)
			}
			tt.fn(t, &fixture{t: t, s: st, ctx: t.Context()}, rs, as)
		})
	}
}

func newRollout(group string, at time.Time) rollout.Rollout {
	r := rollout.Start(randomID("ro-"), group, server.Pin{Version: "1.0.0"}, server.Pin{Version: "1.1.0"}, "1.1.0",
		rollout.Policy{Canaries: 2}, []string{"a", "b", "c"}, "token:test", at)
	return r
}

// testRolloutStart: starting stores the rollout and the group's new pin with an audit entry in one
// transaction; a second active rollout in the group is ErrConflict and changes nothing; an unknown
// group is ErrNotFound; every field round-trips, times in UTC microseconds.
func testRolloutStart(t *testing.T, f *fixture, s rollout.Store, _ alert.Store) {
	f.group("web")
	r := newRollout("web", t0)
	want := r
	if err := s.StartRollout(f.ctx, &r, audit("rollout.start", "group/web")); err != nil {
		t.Fatalf("StartRollout: %v", err)
	}
	if r.Version != 1 {
		t.Errorf("Version after start = %d, want 1", r.Version)
	}
	f.wantAudit("rollout.start", "group/web")
	if g := f.getGroup("web"); g.Pin != want.To {
		t.Errorf("group pin = %+v, want %+v", g.Pin, want.To)
	}
	got, err := s.GetRollout(f.ctx, r.ID)
	if err != nil {
		t.Fatalf("GetRollout: %v", err)
	}
	want.Version = 1
	want.CreatedAt, want.UpdatedAt, want.StageStarted = us(t0), us(t0), us(t0)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("GetRollout =\n%+v\nwant\n%+v", got, want)
	}
	if got.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt in %v, want UTC", got.CreatedAt.Location())
	}

	before := f.lastAudit()
	second := newRollout("web", t0.Add(time.Minute))
	second.To = server.Pin{Version: "9.9.9"}
	if err := s.StartRollout(f.ctx, &second, audit("rollout.start", "group/web")); !errors.Is(err, server.ErrConflict) {
		t.Fatalf("second active rollout: %v, want ErrConflict", err)
	}
	f.noNewAudit(before, "a refused second rollout")
	if g := f.getGroup("web"); g.Pin != want.To {
		t.Errorf("a refused rollout changed the pin to %+v", g.Pin)
	}
	if _, err := s.GetRollout(f.ctx, second.ID); !errors.Is(err, server.ErrNotFound) {
		t.Errorf("GetRollout of the refused rollout: %v, want ErrNotFound", err)
	}
	nope := newRollout("nope", t0)
	if err := s.StartRollout(f.ctx, &nope, audit("rollout.start", "group/nope")); !errors.Is(err, server.ErrNotFound) {
		t.Errorf("StartRollout in an unknown group: %v, want ErrNotFound", err)
	}
	if _, err := s.GetRollout(f.ctx, "ro-missing"); !errors.Is(err, server.ErrNotFound) {
		t.Errorf("GetRollout(missing): %v, want ErrNotFound", err)
	}

	// Once the first ends, another may start.
	r.State = rollout.StateCompleted
	if err := s.SaveRollout(f.ctx, &r, nil, nil, nil); err != nil {
		t.Fatalf("SaveRollout: %v", err)
	}
	if err := s.StartRollout(f.ctx, &second, audit("rollout.start", "group/web")); err != nil {
		t.Fatalf("StartRollout after the first completed: %v", err)
	}
}

// testRolloutSave: a save with the current version applies the change, the pin, the
// notifications and the audit entry together; a stale version is ErrConflict and writes nothing;
// a notification key already in the outbox is not queued twice.
func testRolloutSave(t *testing.T, f *fixture, s rollout.Store, as alert.Store) {
	f.group("web")
	r := newRollout("web", t0)
	if err := s.StartRollout(f.ctx, &r, audit("rollout.start", "group/web")); err != nil {
		t.Fatalf("StartRollout: %v", err)
	}
	stale := r
	r.State = rollout.StateHalted
	r.Failures = []rollout.Failure{{HostID: "h1", Hostname: "alpha", Reason: "rolled back", Log: []string{"trial failed", "rollback ok"}}}
	r.Reason = "1 of 2 failed"
	n := note("rollout/"+r.ID+"/halted", t0)
	if err := s.SaveRollout(f.ctx, &r, nil, []alert.Notification{n}, nil); err != nil {
		t.Fatalf("SaveRollout: %v", err)
	}
	if r.Version != 2 {
		t.Errorf("Version = %d, want 2", r.Version)
	}
	got, err := s.GetRollout(f.ctx, r.ID)
	if err != nil || got.State != rollout.StateHalted || !reflect.DeepEqual(got.Failures, r.Failures) || got.Version != 2 {
		t.Errorf("GetRollout = %+v, %v", got, err)
	}
	// The same notification again (a driver that retries after a lost answer) is not queued twice.
	again := r
	if err := s.SaveRollout(f.ctx, &again, nil, []alert.Notification{n}, nil); err != nil {
		t.Fatalf("SaveRollout again: %v", err)
	}
	ns, err := as.ListNotifications(f.ctx, 0, 0)
	if err != nil || len(ns) != 1 || ns[0].Key != n.Key {
		t.Fatalf("outbox = %+v, %v; want the one notification", ns, err)
	}

	// Stale: nothing written.
	before := f.lastAudit()
	stale.State = rollout.StateAborted
	a := audit("rollout.abort", "rollout/"+r.ID)
	if err := s.SaveRollout(f.ctx, &stale, &r.From, []alert.Notification{note("other", t0)}, &a); !errors.Is(err, server.ErrConflict) {
		t.Fatalf("stale save: %v, want ErrConflict", err)
	}
	f.noNewAudit(before, "a stale save")
	if g := f.getGroup("web"); g.Pin != r.To {
		t.Errorf("a stale save changed the pin to %+v", g.Pin)
	}
	if ns, _ := as.ListNotifications(f.ctx, 0, 0); len(ns) != 1 {
		t.Errorf("a stale save queued a notification: %d in the outbox", len(ns))
	}

	// Abort: state, pin back and audit together.
	again.State = rollout.StateAborted
	if err := s.SaveRollout(f.ctx, &again, &again.From, nil, &a); err != nil {
		t.Fatalf("abort save: %v", err)
	}
	f.wantAudit("rollout.abort", "rollout/"+r.ID)
	if g := f.getGroup("web"); g.Pin != again.From {
		t.Errorf("pin after abort = %+v, want %+v", g.Pin, again.From)
	}
	missing := newRollout("web", t0)
	missing.Version = 1
	if err := s.SaveRollout(f.ctx, &missing, nil, nil, nil); !errors.Is(err, server.ErrNotFound) {
		t.Errorf("SaveRollout of an unknown rollout: %v, want ErrNotFound", err)
	}
}

// testRolloutSaveConcurrent: of concurrent saves from one version, exactly one wins.
func testRolloutSaveConcurrent(t *testing.T, f *fixture, s rollout.Store, _ alert.Store) {
	f.group("web")
	r := newRollout("web", t0)
	if err := s.StartRollout(f.ctx, &r, audit("rollout.start", "group/web")); err != nil {
		t.Fatalf("StartRollout: %v", err)
	}
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			c := r
			c.Stage = i + 1
			errs[i] = s.SaveRollout(f.ctx, &c, nil, nil, nil)
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, server.ErrConflict):
			t.Errorf("concurrent save: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d concurrent saves won, want 1", won)
	}
}

// testRolloutList: newest first, by group, active only, limited.
func testRolloutList(t *testing.T, f *fixture, s rollout.Store, _ alert.Store) {
	f.group("web")
	f.group("db")
	var ids []string
	for i := range 3 {
		r := newRollout("web", t0.Add(time.Duration(i)*time.Minute))
		if err := s.StartRollout(f.ctx, &r, audit("rollout.start", "group/web")); err != nil {
			t.Fatalf("StartRollout %d: %v", i, err)
		}
		if i < 2 {
			r.State = rollout.StateCompleted
			if err := s.SaveRollout(f.ctx, &r, nil, nil, nil); err != nil {
				t.Fatal(err)
			}
		}
		ids = append([]string{r.ID}, ids...)
	}
	db := newRollout("db", t0.Add(time.Hour))
	if err := s.StartRollout(f.ctx, &db, audit("rollout.start", "group/db")); err != nil {
		t.Fatal(err)
	}
	list := func(fl rollout.Filter) []string {
		t.Helper()
		rs, err := s.ListRollouts(f.ctx, fl)
		if err != nil {
			t.Fatalf("ListRollouts(%+v): %v", fl, err)
		}
		var out []string
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return out
	}
	if got := list(rollout.Filter{Group: "web"}); !reflect.DeepEqual(got, ids) {
		t.Errorf("web rollouts = %v, want %v (newest first)", got, ids)
	}
	if got := list(rollout.Filter{}); len(got) != 4 || got[0] != db.ID {
		t.Errorf("all rollouts = %v, want 4 with %s first", got, db.ID)
	}
	if got := list(rollout.Filter{ActiveOnly: true}); len(got) != 2 || got[0] != db.ID || got[1] != ids[0] {
		t.Errorf("active rollouts = %v, want [%s %s]", got, db.ID, ids[0])
	}
	if got := list(rollout.Filter{Group: "web", ActiveOnly: true}); !reflect.DeepEqual(got, ids[:1]) {
		t.Errorf("active web rollouts = %v, want %v", got, ids[:1])
	}
	if got := list(rollout.Filter{Group: "web", Limit: 2}); !reflect.DeepEqual(got, ids[:2]) {
		t.Errorf("limit 2 = %v, want %v", got, ids[:2])
	}
	if got := list(rollout.Filter{Group: "nope"}); len(got) != 0 {
		t.Errorf("unknown group's rollouts = %v", got)
	}
}

// testRolloutPolicy: the zero policy until set; set round-trips with an audit entry; out of range
// is ErrInvalid; unknown groups are ErrNotFound.
func testRolloutPolicy(t *testing.T, f *fixture, s rollout.Store, _ alert.Store) {
	f.group("web")
	p, err := s.RolloutPolicy(f.ctx, "web")
	if err != nil || p != (rollout.Policy{}) {
		t.Fatalf("new group's policy = %+v, %v; want zero", p, err)
	}
	want := rollout.Policy{Canaries: 3, WavePercent: 20, Soak: 90 * time.Second, FailureThreshold: 5, HealthDeadline: 5 * time.Minute}
	if err := s.SetRolloutPolicy(f.ctx, "web", want, audit("group.rollout_policy", "group/web")); err != nil {
		t.Fatalf("SetRolloutPolicy: %v", err)
	}
	f.wantAudit("group.rollout_policy", "group/web")
	if p, err := s.RolloutPolicy(f.ctx, "web"); err != nil || p != want {
		t.Errorf("policy = %+v, %v; want %+v", p, err, want)
	}
	before := f.lastAudit()
	if err := s.SetRolloutPolicy(f.ctx, "web", rollout.Policy{WavePercent: 200}, audit("group.rollout_policy", "group/web")); !errors.Is(err, server.ErrInvalid) {
		t.Errorf("wave 200%%: %v, want ErrInvalid", err)
	}
	f.noNewAudit(before, "an invalid policy")
	if err := s.SetRolloutPolicy(f.ctx, "web", rollout.Policy{}, audit("group.rollout_policy", "group/web")); err != nil {
		t.Fatalf("reset policy: %v", err)
	}
	if p, _ := s.RolloutPolicy(f.ctx, "web"); p != (rollout.Policy{}) {
		t.Errorf("policy after reset = %+v", p)
	}
	if _, err := s.RolloutPolicy(f.ctx, "nope"); !errors.Is(err, server.ErrNotFound) {
		t.Errorf("RolloutPolicy(nope): %v, want ErrNotFound", err)
	}
	if err := s.SetRolloutPolicy(f.ctx, "nope", want, audit("group.rollout_policy", "group/nope")); !errors.Is(err, server.ErrNotFound) {
		t.Errorf("SetRolloutPolicy(nope): %v, want ErrNotFound", err)
	}
}

// testRolloutPolicies: every group's policy in one read, the zero policy where none is set, and
// a deleted group gone from it.
func testRolloutPolicies(t *testing.T, f *fixture, s rollout.Store, _ alert.Store) {
	f.group("web")
	f.group("db")
	f.group("gone")
	want := rollout.Policy{Canaries: 2, WavePercent: 50, Soak: time.Minute, FailureThreshold: 1, HealthDeadline: time.Minute}
	if err := s.SetRolloutPolicy(f.ctx, "web", want, audit("group.rollout_policy", "group/web")); err != nil {
		t.Fatal(err)
	}
	if err := f.s.DeleteGroup(f.ctx, "gone", audit("group.delete", "group/gone")); err != nil {
		t.Fatal(err)
	}
	got, err := s.RolloutPolicies(f.ctx)
	if err != nil {
		t.Fatalf("RolloutPolicies: %v", err)
	}
	if got["web"] != want {
		t.Errorf("web = %+v, want %+v", got["web"], want)
	}
	if p, ok := got["db"]; !ok || p != (rollout.Policy{}) {
		t.Errorf("db = %+v (present %v), want the zero policy", p, ok)
	}
	if _, ok := got["gone"]; ok {
		t.Error("a deleted group still has a policy")
	}
	for name := range got {
		if _, err := s.RolloutPolicy(f.ctx, name); err != nil {
			t.Errorf("RolloutPolicies lists %q, which RolloutPolicy does not know: %v", name, err)
		}
	}
}
