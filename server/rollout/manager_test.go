package rollout_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/rollout"
	"github.com/vigilhq/vigil/server/sqlitestore"
	"github.com/vigilhq/vigil/wire"
)

// channels is a ChannelResolver whose channel map the test sets.
type channels struct {
	mu sync.Mutex
	m  map[string]string
}

func (c *channels) ChannelVersion(_ context.Context, ch string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[ch]
	if !ok {
		return "", rollout.ErrNoChannel
	}
	return v, nil
}

func (c *channels) set(ch, v string) {
	c.mu.Lock()
	c.m[ch] = v
	c.mu.Unlock()
}

type env struct {
	t     *testing.T
	st    *sqlitestore.Store
	m     *rollout.Manager
	ch    *channels
	now   time.Time
	hosts []server.Host
}

var admin = server.Principal{Name: "test", Role: server.RoleAdmin}

func newEnv(t *testing.T, group string, n int) *env {
	t.Helper()
	ctx := t.Context()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "vigil.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{t: t, st: st, ch: &channels{m: map[string]string{}}, now: time.Now().UTC()}
	e.m, err = rollout.NewManager(rollout.Config{Store: st, Fleet: st, Channels: e.ch, Now: func() time.Time { return e.now },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Interval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	a := server.AuditEntry{Time: e.now, Actor: "test", Action: "x", Target: "y"}
	if err := st.CreateGroup(ctx, server.Group{Name: group, CreatedAt: e.now}, a); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		tok := server.EnrollmentToken{ID: fmt.Sprintf("et-%d", i), Group: group, ExpiresAt: e.now.Add(time.Hour), MaxUses: 1, CreatedAt: e.now, Hash: fmt.Sprintf("hash-%d", i)}
		if err := st.CreateEnrollmentToken(ctx, tok, a); err != nil {
			t.Fatal(err)
		}
		h, err := st.Enroll(ctx, tok.Hash, e.now, server.Host{ID: fmt.Sprintf("h%02d", i), Hostname: fmt.Sprintf("host-%02d", i), EnrolledAt: e.now}, fmt.Sprintf("cred-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		e.hosts = append(e.hosts, h)
		e.report(h.ID, "1.0.0")
	}
	return e
}

var seqs sync.Map

func (e *env) report(hostID, version string) {
	e.t.Helper()
	v, _ := seqs.LoadOrStore(e.t.Name()+hostID, new(uint64))
	seq := v.(*uint64)
	*seq++
	if _, err := e.st.CommitReports(e.t.Context(), []server.HostReports{{HostID: hostID, Received: e.now,
		Reports: []wire.Report{{Seq: *seq, Time: e.now, AgentVersion: version, IntervalSeconds: 10}}}}); err != nil {
		e.t.Fatal(err)
	}
}

// commit records that hostID's updater committed version.
func (e *env) commit(hostID, from, to string) {
	e.t.Helper()
	if err := e.st.AddUpdateEvent(e.t.Context(), server.UpdateEvent{HostID: hostID, ReceivedAt: e.now,
		UpdateEvent: wire.UpdateEvent{FromVersion: from, ToVersion: to, Phase: wire.PhaseCommit, Result: wire.ResultOK, Time: e.now}}); err != nil {
		e.t.Fatal(err)
	}
	e.report(hostID, to)
}

func (e *env) desired(h server.Host) wire.UpdateDesired {
	e.t.Helper()
	g, err := e.st.GetGroup(e.t.Context(), h.Group)
	if err != nil {
		e.t.Fatal(err)
	}
	d, err := e.m.Desired(e.t.Context(), h, g)
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

func (e *env) pin(group string, p server.Pin) error {
	g, err := e.st.GetGroup(e.t.Context(), group)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.m.StagePin(e.t.Context(), g, p, server.AuditEntry{Time: e.now, Actor: "test", Action: "group.pin", Target: "group/" + group})
}

func (e *env) active(group string) *rollout.Rollout {
	e.t.Helper()
	rs, err := e.st.ListRollouts(e.t.Context(), rollout.Filter{Group: group, ActiveOnly: true})
	if err != nil {
		e.t.Fatal(err)
	}
	if len(rs) == 0 {
		return nil
	}
	return &rs[0]
}

// runToEnd plays the fleet's updaters and the driver until the group's rollout completes.
func (e *env) runToEnd(group string) rollout.Rollout {
	e.t.Helper()
	for range 50 {
		r := e.active(group)
		if r == nil {
			rs, _ := e.st.ListRollouts(e.t.Context(), rollout.Filter{Group: group, Limit: 1})
			return rs[0]
		}
		for _, h := range e.hosts {
			d := e.desired(h)
			cur, _ := e.st.GetHost(e.t.Context(), h.ID)
			want := d.Version
			if d.Channel != "" {
				want, _ = e.ch.ChannelVersion(e.t.Context(), d.Channel)
			}
			if want != "" && want != cur.AgentVersion {
				e.commit(h.ID, cur.AgentVersion, want)
			}
		}
		if err := e.m.Tick(e.t.Context()); err != nil {
			e.t.Fatal(err)
		}
		e.now = e.now.Add(rollout.DefaultSoak)
	}
	e.t.Fatal("the rollout did not end")
	return rollout.Rollout{}
}

// TestChannelMoveStartsRollout: a group pinned to a channel gets a rollout when the channel
// moves; until the driver starts it, hosts are held on the version of the last completed
// rollout, never handed the new build unstaged.
func TestChannelMoveStartsRollout(t *testing.T) {
	e := newEnv(t, "web", 6)
	ctx := t.Context()
	e.ch.set("stable", "1.1.0")
	if err := e.pin("web", server.Pin{Channel: "stable"}); err != nil {
		t.Fatal(err)
	}
	r := e.runToEnd("web")
	if r.State != rollout.StateCompleted || r.ToVersion != "1.1.0" || r.To.Channel != "stable" {
		t.Fatalf("first rollout %+v", r)
	}
	// Settled: everyone is told the channel.
	if d := e.desired(e.hosts[0]); d != (wire.UpdateDesired{Channel: "stable"}) {
		t.Fatalf("after completion: %+v", d)
	}
	// The channel moves: before the driver notices, hosts are held on 1.1.0.
	e.ch.set("stable", "1.2.0")
	e.now = e.now.Add(time.Minute) // past the channel cache
	for _, h := range e.hosts {
		if d := e.desired(h); d != (wire.UpdateDesired{Version: "1.1.0"}) {
			t.Fatalf("channel moved, no rollout yet, %s: %+v", h.ID, d)
		}
	}
	if err := e.m.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	a := e.active("web")
	if a == nil || a.ToVersion != "1.2.0" || a.From != (server.Pin{Version: "1.1.0"}) || a.CreatedBy != "vigil (rollout driver)" {
		t.Fatalf("rollout after the channel moved: %+v", a)
	}
	admitted := 0
	for _, h := range e.hosts {
		d := e.desired(h)
		switch d {
		case wire.UpdateDesired{Version: "1.2.0", RolloutID: a.ID}:
			admitted++
		case wire.UpdateDesired{Version: "1.1.0", RolloutID: a.ID}:
		default:
			t.Fatalf("%s: %+v", h.ID, d)
		}
	}
	if admitted != 1 {
		t.Fatalf("%d hosts admitted, want the canary", admitted)
	}
	// The channel moves again mid-rollout: admitted hosts stay on the rollout's version.
	e.ch.set("stable", "1.3.0")
	for _, h := range e.hosts {
		if d := e.desired(h); d.Version == "1.3.0" || d.Channel != "" {
			t.Fatalf("channel moved mid-rollout, %s: %+v", h.ID, d)
		}
	}
	e.ch.set("stable", "1.2.0")
	if r := e.runToEnd("web"); r.State != rollout.StateCompleted || r.ID != a.ID {
		t.Fatalf("second rollout %+v", r)
	}
	// Nothing moved: no further rollout.
	if err := e.m.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if a := e.active("web"); a != nil {
		t.Fatalf("a rollout without a channel move: %+v", a)
	}
	// A channel no published version is on is refused.
	if err := e.pin("web", server.Pin{Channel: "nightly"}); !errors.Is(err, server.ErrInvalid) {
		t.Fatalf("pin to an empty channel: %v, want ErrInvalid", err)
	}
}

// TestDriverOnlyOnLeader: the driver steps nothing while it does not lead, and carries on as soon
// as it does.
func TestDriverOnlyOnLeader(t *testing.T) {
	e := newEnv(t, "db", 4)
	if err := e.pin("db", server.Pin{Version: "2.0.0"}); err != nil {
		t.Fatal(err)
	}
	r := e.active("db")
	for _, h := range e.hosts {
		if r.Admits(h.ID) {
			e.commit(h.ID, "1.0.0", "2.0.0")
		}
	}
	asked := make(chan bool)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.m.Run(ctx, func() bool {
			select {
			case v := <-asked:
				return v
			case <-ctx.Done():
				return false
			}
		})
	}()
	for range 5 { // five ticks as a follower
		asked <- false
	}
	if got := e.active("db"); got.Version != r.Version {
		t.Fatalf("a follower's driver stored a step: version %d → %d", r.Version, got.Version)
	}
	asked <- true // one tick as leader: the canary settles
	asked <- false
	cancel()
	<-done
	if got := e.active("db"); got.Version == r.Version || got.Settled.IsZero() {
		t.Fatalf("the leader's tick did not step: %+v", got)
	}
}

// TestOperatorActionsNeedOperator: viewers and release engineers read, only operators and admins act.
func TestOperatorActionsNeedOperator(t *testing.T) {
	e := newEnv(t, "app", 3)
	if err := e.pin("app", server.Pin{Version: "2.0.0"}); err != nil {
		t.Fatal(err)
	}
	r := e.active("app")
	for _, role := range []string{server.RoleViewer, server.RoleRelease} {
		p := server.Principal{Name: role, Role: role}
		if _, err := e.m.Get(t.Context(), p, r.ID); err != nil {
			t.Errorf("%s get: %v", role, err)
		}
		for _, act := range []string{rollout.ActionPause, rollout.ActionAbort} {
			if _, err := e.m.Act(t.Context(), p, r.ID, act); !errors.Is(err, server.ErrForbidden) {
				t.Errorf("%s %s: %v, want ErrForbidden", role, act, err)
			}
		}
		if err := e.m.SetPolicy(t.Context(), p, "app", rollout.Policy{Canaries: 2}); !errors.Is(err, server.ErrForbidden) {
			t.Errorf("%s set policy: %v, want ErrForbidden", role, err)
		}
	}
	op := server.Principal{Name: "op", Role: server.RoleOperator}
	if _, err := e.m.Act(t.Context(), op, r.ID, rollout.ActionPause); err != nil {
		t.Fatalf("operator pause: %v", err)
	}
	if _, err := e.m.Act(t.Context(), admin, r.ID, rollout.ActionAbort); err != nil {
		t.Fatalf("admin abort: %v", err)
	}
}
