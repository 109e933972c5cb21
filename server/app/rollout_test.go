package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/apiclient"
	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/alert/alerttest"
	"github.com/vigilhq/vigil/server/app"
	"github.com/vigilhq/vigil/server/rollout"
	"github.com/vigilhq/vigil/server/storetest"
	"github.com/vigilhq/vigil/wire"
)

// testClock is the clock of the server's Service and rollout driver in these tests: the soak
// passes when the test says so, not when the machine gets round to it.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock { return &testClock{t: time.Now().UTC()} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// simHost is a simulated host: it enrolls, reports and runs the updater's side of the protocol
// (GET /api/v1/updates/desired, POST /api/v1/updates/events) against the real server. A version
// in the fleet's bad set fails its health gate: the host reports a failed trial and a rollback,
// quarantines the version and keeps running the previous one, as vigil-updater does.
type simHost struct {
	id, cred, name string
	version        string
	seq            uint64
	quarantined    map[string]bool
}

type simFleet struct {
	t     *testing.T
	s     *testServer
	clock *testClock
	group string
	bad   map[string]bool
	hosts []*simHost
}

func newSimFleet(t *testing.T, s *testServer, clock *testClock, group string, n int) *simFleet {
	t.Helper()
	if _, err := s.admin.CreateGroup(t.Context(), api.CreateGroupRequest{Name: group}); err != nil {
		t.Fatal(err)
	}
	f := &simFleet{t: t, s: s, clock: clock, group: group, bad: map[string]bool{}}
	for i := range n {
		f.join(fmt.Sprintf("%s-%02d", group, i))
	}
	return f
}

// join enrolls a new host running 1.0.0, which reports once.
func (f *simFleet) join(name string) *simHost {
	f.t.Helper()
	tok, err := f.s.admin.CreateEnrollmentToken(f.t.Context(), api.CreateEnrollmentTokenRequest{Group: f.group, MaxUses: 1})
	if err != nil {
		f.t.Fatal(err)
	}
	status, body := f.s.post(f.t, "/api/v1/enroll", "", wire.EnrollRequest{EnrollmentToken: tok.Token, Hostname: name, OS: "linux", Arch: "amd64", AgentVersion: "1.0.0"}, false)
	if status != http.StatusCreated {
		f.t.Fatalf("enroll %s: %d %s", name, status, body)
	}
	var resp wire.EnrollResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		f.t.Fatal(err)
	}
	h := &simHost{id: resp.HostID, cred: resp.Credential, name: name, version: "1.0.0", quarantined: map[string]bool{}}
	f.hosts = append(f.hosts, h)
	f.report(h)
	return h
}

func (f *simFleet) report(h *simHost) {
	f.t.Helper()
	h.seq++
	r := wire.Report{Seq: h.seq, Time: f.clock.Now().Truncate(time.Millisecond), AgentVersion: h.version, IntervalSeconds: 10,
		CPU: &wire.CPU{Cores: 2, BusyPct: 5}}
	if status, body := f.s.post(f.t, "/api/v1/reports", h.cred, wire.ReportBatch{Reports: []wire.Report{r}}, false); status != http.StatusOK {
		f.t.Fatalf("report from %s: %d %s", h.name, status, body)
	}
}

func (f *simFleet) desired(h *simHost) wire.UpdateDesired {
	f.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.s.URL+"/api/v1/updates/desired", nil)
	req.Header.Set("Authorization", "Bearer "+h.cred)
	resp, err := f.s.client.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		f.t.Fatalf("desired for %s: %d %s", h.name, resp.StatusCode, b)
	}
	var d wire.UpdateDesired
	if err := json.Unmarshal(b, &d); err != nil {
		f.t.Fatal(err)
	}
	return d
}

func (f *simFleet) event(h *simHost, phase, result, from, to, reason string) {
	f.t.Helper()
	e := wire.UpdateEvent{FromVersion: from, ToVersion: to, Phase: phase, Result: result, Reason: reason, Time: f.clock.Now()}
	if status, body := f.s.post(f.t, "/api/v1/updates/events", h.cred, e, false); status/100 != 2 {
		f.t.Fatalf("update event from %s: %d %s", h.name, status, body)
	}
}

// poll is one updater cycle of h: ask, and update to the desired version if it is another one
// and not quarantined (channels are not used in these tests).
func (f *simFleet) poll(h *simHost) {
	f.t.Helper()
	d := f.desired(h)
	v := d.Version
	if v == "" || v == h.version || h.quarantined[v] {
		f.report(h)
		return
	}
	prev := h.version
	f.event(h, wire.PhaseTrial, wire.ResultStarted, prev, v, "")
	if f.bad[v] {
		f.event(h, wire.PhaseTrial, wire.ResultFailed, prev, v, "agent exited with status 2 before READY")
		f.event(h, wire.PhaseRollback, wire.ResultOK, v, prev, "agent exited with status 2 before READY")
		h.quarantined[v] = true
	} else {
		h.version = v
		f.event(h, wire.PhaseCommit, wire.ResultOK, prev, v, "")
	}
	f.report(h)
}

// round runs one updater cycle on every host.
func (f *simFleet) round() {
	f.t.Helper()
	for _, h := range f.hosts {
		f.poll(h)
	}
}

func (f *simFleet) on(v string) int {
	n := 0
	for _, h := range f.hosts {
		if h.version == v {
			n++
		}
	}
	return n
}

// rolloutOf returns the group's newest rollout.
func rolloutOf(t *testing.T, c *apiclient.Client, group string) api.Rollout {
	t.Helper()
	rs, err := c.ListRollouts(t.Context(), apiclient.RolloutFilter{Group: group, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) == 0 {
		t.Fatalf("group %s has no rollout", group)
	}
	return rs[0]
}

// tick runs one driver step, as the leader's driver does every interval.
func tick(t *testing.T, s *testServer) {
	t.Helper()
	if err := s.Rollouts().Tick(t.Context()); err != nil {
		t.Fatalf("rollout tick: %v", err)
	}
}

var admin = server.Principal{Name: "test", Role: server.RoleAdmin}

// startRolloutServer starts a server whose driver only steps when the test calls tick (interval
// one hour), on clock, with SMTP to smtpSrv when set.
func startRolloutServer(t *testing.T, clock *testClock, smtpSrv *alerttest.Server, dataDir, token string) (*testServer, string) {
	t.Helper()
	cfg := app.Config{DataDir: dataDir, Rollout: app.RolloutTuning{Interval: time.Hour, Now: clock.Now},
		AlertEmails: []string{"ops@example.com"}, PublicURL: "https://vigil.example.com", Alert: fastAlerts()}
	if smtpSrv != nil {
		cfg.SMTPURL, cfg.SMTPFrom = "smtp://"+smtpSrv.Addr(), "vigil@example.com"
	}
	return startWith(t, cfg, token)
}

func setPolicy(t *testing.T, s *testServer, group string, p api.RolloutPolicy) {
	t.Helper()
	if _, err := s.admin.SetRolloutPolicy(t.Context(), group, p); err != nil {
		t.Fatal(err)
	}
}

// TestRolloutCanaryThenWaves: a pin reaches one canary, then waves of half the group after each
// soak, and completes; each host's desired version follows its wave; hosts that join mid-rollout
// get the version their wave allows; the stages are audited.
func TestRolloutCanaryThenWaves(t *testing.T) {
	clock := newTestClock()
	s, _ := startRolloutServer(t, clock, nil, "", "")
	ctx := t.Context()
	f := newSimFleet(t, s, clock, "web", 8)
	setPolicy(t, s, "web", api.RolloutPolicy{Canaries: 1, WavePercent: 50, Soak: api.Duration(time.Minute)})
	if _, err := s.admin.SetPin(ctx, "web", api.Pin{Version: "1.1.0", Force: true}); err != nil {
		t.Fatal(err)
	}
	r := rolloutOf(t, s.admin, "web")
	if r.State != api.RolloutRunning || r.ToVersion != "1.1.0" || r.From.Version != "" || r.Progress.Admitted != 1 || r.Progress.GroupHosts != 8 {
		t.Fatalf("new rollout %+v", r)
	}
	// One host is told 1.1.0, the others to stay, all with the rollout's ID.
	told := 0
	for _, h := range f.hosts {
		d := f.desired(h)
		if d.RolloutID != r.ID {
			t.Fatalf("desired for %s: %+v, want rollout %s", h.name, d, r.ID)
		}
		if d.Version == "1.1.0" {
			told++
		} else if d != (wire.UpdateDesired{RolloutID: r.ID}) {
			t.Fatalf("desired for a host not admitted: %+v, want stay", d)
		}
	}
	if told != 1 {
		t.Fatalf("%d hosts told 1.1.0, want the one canary", told)
	}

	// Hosts joining now: each gets what its rank allows (most of them: stay).
	dom, err := s.Rollouts().Get(ctx, admin, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	var joinedIn, joinedOut int
	for i := range 6 {
		h := f.join(fmt.Sprintf("joiner-%d", i))
		want := ""
		if dom.Admits(h.id) {
			want, joinedIn = "1.1.0", joinedIn+1
		} else {
			joinedOut++
		}
		if d := f.desired(h); d.Version != want || d.RolloutID != r.ID {
			t.Fatalf("joiner %s: desired %+v, want version %q", h.name, d, want)
		}
	}
	if joinedOut == 0 {
		t.Fatal("every joiner was admitted at the canary stage; the test shows nothing")
	}

	// Run: the number on 1.1.0 grows only when a stage has soaked.
	var counts []int
	for i := 0; i < 20; i++ {
		f.round()
		if n := f.on("1.1.0"); len(counts) == 0 || counts[len(counts)-1] != n {
			counts = append(counts, n)
		}
		tick(t, s) // the stage settles: the soak starts
		r = rolloutOf(t, s.admin, "web")
		if r.State == api.RolloutCompleted {
			break
		}
		clock.Advance(59 * time.Second)
		tick(t, s)
		if st := rolloutOf(t, s.admin, "web"); st.Stage != r.Stage {
			t.Fatalf("stage %d advanced to %d before its soak ended", r.Stage, st.Stage)
		}
		clock.Advance(time.Second)
		tick(t, s) // the next stage starts
	}
	r = rolloutOf(t, s.admin, "web")
	if r.State != api.RolloutCompleted || f.on("1.1.0") != 14 {
		t.Fatalf("after the rounds: %+v, %d hosts on 1.1.0", r, f.on("1.1.0"))
	}
	// 14 hosts (8 + 6 joiners): 1 canary (+ joiners below its cutoff), +7 (50 %), then all.
	if len(counts) < 3 || counts[0] != 1+joinedIn || counts[len(counts)-1] != 14 || !slices.IsSorted(counts) {
		t.Fatalf("hosts on 1.1.0 after each stage: %v (joiners admitted with the canary: %d)", counts, joinedIn)
	}
	t.Logf("hosts on 1.1.0 by stage: %v", counts)
	// Done: a new host gets the group's pin without a rollout ID.
	h := f.join("late")
	if d := f.desired(h); d != (wire.UpdateDesired{Version: "1.1.0"}) {
		t.Fatalf("after completion: desired %+v", d)
	}
	entries, err := s.admin.ListAudit(ctx, 200)
	if err != nil {
		t.Fatal(err)
	}
	actions := map[string]int{}
	for _, e := range entries {
		actions[e.Action]++
	}
	if actions["group.pin"] != 1 || actions["rollout.advance"] < 2 || actions["rollout.complete"] != 1 || actions["group.rollout_policy"] != 1 {
		t.Fatalf("audit actions %v", actions)
	}
}

// TestRolloutBadBuildHalts: a build whose canary rolls back halts the rollout after the canary,
// with one email naming the host and its update log; the rest of the group is never told the
// build; resume is refused; abort puts the group back on its previous pin.
func TestRolloutBadBuildHalts(t *testing.T) {
	smtpSrv, err := alerttest.Start(alerttest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer smtpSrv.Stop()
	clock := newTestClock()
	s, _ := startRolloutServer(t, clock, smtpSrv, "", "")
	ctx := t.Context()
	f := newSimFleet(t, s, clock, "db", 6)
	if _, err := s.admin.SetPin(ctx, "db", api.Pin{Version: "1.0.0", Force: true}); err != nil {
		t.Fatal(err)
	}
	// Every host runs 1.0.0 already: nothing to roll out.
	if rs, err := s.admin.ListRollouts(ctx, apiclient.RolloutFilter{Group: "db"}); err != nil || len(rs) != 0 {
		t.Fatalf("a pin to the version every host runs started rollouts %+v (%v)", rs, err)
	}
	f.bad["2.0.0"] = true
	if _, err := s.admin.SetPin(ctx, "db", api.Pin{Version: "2.0.0", Force: true}); err != nil {
		t.Fatal(err)
	}
	f.round()
	tick(t, s)
	r := rolloutOf(t, s.admin, "db")
	if r.State != api.RolloutHalted || r.Stage != 0 || len(r.Failures) != 1 || r.Progress.Failed != 1 {
		t.Fatalf("after the canary rolled back: %+v", r)
	}
	canary := r.Failures[0]
	if !strings.Contains(canary.Reason, "rolled back") || len(canary.Log) < 3 {
		t.Fatalf("failure %+v", canary)
	}
	// More rounds and ticks change nothing: no host beyond the canary is told 2.0.0.
	for range 3 {
		f.round()
		tick(t, s)
		clock.Advance(time.Hour)
	}
	for _, h := range f.hosts {
		d := f.desired(h)
		evs, err := s.admin.HostUpdates(ctx, h.id)
		if err != nil {
			t.Fatal(err)
		}
		if h.id == canary.HostID {
			if d.Version != "2.0.0" || h.version != "1.0.0" || !h.quarantined["2.0.0"] {
				t.Fatalf("canary: desired %+v, running %s", d, h.version)
			}
			continue
		}
		if d != (wire.UpdateDesired{Version: "1.0.0", RolloutID: r.ID}) || h.version != "1.0.0" ||
			slices.ContainsFunc(evs, func(e api.UpdateEvent) bool { return e.ToVersion == "2.0.0" }) {
			t.Fatalf("host %s beyond the canary: desired %+v, running %s, events %+v", h.name, d, h.version, evs)
		}
	}
	msgs, ok := smtpSrv.Wait(20*time.Second, func(m []alerttest.Message) bool { return countSubject(m, "halted") >= 1 })
	if !ok {
		t.Fatalf("no halt email: %q", subjects(msgs))
	}
	if countSubject(msgs, "halted") != 1 {
		t.Fatalf("halt emails: %q", subjects(msgs))
	}
	var mail alerttest.Message
	for _, m := range msgs {
		if strings.Contains(m.Subject, "halted") {
			mail = m
		}
	}
	// The text part as it reads: quoted-printable soft line breaks joined.
	raw := strings.NewReplacer("=\r\n", "", "=\n", "", "=3D", "=").Replace(string(mail.Raw))
	for _, want := range []string{canary.Hostname, canary.HostID, "rollback ok 2.0.0 -> 1.0.0", "vigilctl rollouts abort " + r.ID, "https://vigil.example.com/hosts/"} {
		if !strings.Contains(raw, want) {
			t.Errorf("halt email lacks %q:\n%s", want, raw)
		}
	}
	if mail.To[0] != "ops@example.com" {
		t.Errorf("halt email to %v", mail.To)
	}
	ns, err := s.admin.ListNotifications(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	if n := countNotes(ns, "rollout/"+r.ID+"/halted"); n != 1 {
		t.Fatalf("%d halt notifications in the outbox, want 1", n)
	}

	// One rollout per group: a new pin waits for this one.
	if _, err := s.admin.SetPin(ctx, "db", api.Pin{Version: "2.0.1", Force: true}); !isStatus(err, http.StatusConflict) || !strings.Contains(err.Error(), "abort") {
		t.Fatalf("pin during a halted rollout: %v, want 409 that says to abort", err)
	}
	if _, err := s.admin.ResumeRollout(ctx, r.ID); !isStatus(err, http.StatusConflict) {
		t.Fatalf("resume a halted rollout: %v, want 409", err)
	}
	a, err := s.admin.AbortRollout(ctx, r.ID)
	if err != nil || a.State != api.RolloutAborted {
		t.Fatalf("abort: %+v %v", a, err)
	}
	if p, err := s.admin.GetPin(ctx, "db"); err != nil || p.Version != "1.0.0" {
		t.Fatalf("pin after abort: %+v %v", p, err)
	}
	for _, h := range f.hosts {
		if d := f.desired(h); d != (wire.UpdateDesired{Version: "1.0.0"}) {
			t.Fatalf("after abort, %s: desired %+v", h.name, d)
		}
	}
}

// TestRolloutPauseResumeAbort: a paused rollout admits no one however long it waits; resumed, it
// soaks again and goes on; aborted mid-way, every host is told the previous pin.
func TestRolloutPauseResumeAbort(t *testing.T) {
	clock := newTestClock()
	s, _ := startRolloutServer(t, clock, nil, "", "")
	ctx := t.Context()
	f := newSimFleet(t, s, clock, "app", 10)
	if _, err := s.admin.SetPin(ctx, "app", api.Pin{Version: "1.0.0", Force: true}); err != nil {
		t.Fatal(err)
	}
	f.round()
	tick(t, s)
	if _, err := s.admin.SetPin(ctx, "app", api.Pin{Version: "1.2.0", Force: true}); err != nil {
		t.Fatal(err)
	}
	r := rolloutOf(t, s.admin, "app")
	// An updater installing before its host enrolls gets the previous, proven version.
	et, err := s.admin.CreateEnrollmentToken(ctx, api.CreateEnrollmentTokenRequest{Group: "app", MaxUses: 1})
	if err != nil {
		t.Fatal(err)
	}
	if d := f.desired(&simHost{name: "installing", cred: et.Token}); d != (wire.UpdateDesired{Version: "1.0.0", RolloutID: r.ID}) {
		t.Fatalf("desired for an enrollment token during the rollout: %+v", d)
	}
	f.round()
	tick(t, s) // the canary is healthy: the soak starts
	p, err := s.admin.PauseRollout(ctx, r.ID)
	if err != nil || p.State != api.RolloutPaused {
		t.Fatalf("pause: %+v %v", p, err)
	}
	for range 3 {
		clock.Advance(time.Hour)
		f.round()
		tick(t, s)
	}
	if r := rolloutOf(t, s.admin, "app"); r.State != api.RolloutPaused || r.Stage != 0 || f.on("1.2.0") != 1 {
		t.Fatalf("paused rollout moved: %+v, %d on 1.2.0", r, f.on("1.2.0"))
	}
	if _, err := s.admin.PauseRollout(ctx, r.ID); !isStatus(err, http.StatusConflict) {
		t.Fatalf("pause twice: %v, want 409", err)
	}
	if _, err := s.admin.ResumeRollout(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	tick(t, s)
	if r := rolloutOf(t, s.admin, "app"); r.Stage != 0 {
		t.Fatalf("resumed rollout advanced before a new soak: %+v", r)
	}
	clock.Advance(rollout.DefaultSoak)
	tick(t, s)
	f.round()
	if r := rolloutOf(t, s.admin, "app"); r.Stage != 1 || f.on("1.2.0") <= 1 {
		t.Fatalf("after the soak: stage %d, %d on 1.2.0", r.Stage, f.on("1.2.0"))
	}
	// Viewers may look but not act.
	tok, err := s.admin.CreateToken(ctx, api.CreateTokenRequest{Name: "look", Role: api.RoleViewer})
	if err != nil {
		t.Fatal(err)
	}
	viewer := apiclient.New(s.URL, tok.Token, s.client)
	if _, err := viewer.GetRollout(ctx, r.ID); err != nil {
		t.Fatalf("viewer get: %v", err)
	}
	if _, err := viewer.AbortRollout(ctx, r.ID); !isStatus(err, http.StatusForbidden) {
		t.Fatalf("viewer abort: %v, want 403", err)
	}
	if _, err := s.admin.AbortRollout(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	for _, h := range f.hosts {
		if d := f.desired(h); d != (wire.UpdateDesired{Version: "1.0.0"}) {
			t.Fatalf("after abort, %s: desired %+v", h.name, d)
		}
	}
	if _, err := s.admin.AbortRollout(ctx, r.ID); !isStatus(err, http.StatusConflict) {
		t.Fatalf("abort twice: %v, want 409", err)
	}
	if _, err := s.admin.GetRollout(ctx, "ro-nope"); !isStatus(err, http.StatusNotFound) {
		t.Fatalf("unknown rollout: %v, want 404", err)
	}
	if _, err := s.admin.SetRolloutPolicy(ctx, "app", api.RolloutPolicy{WavePercent: 150}); !isStatus(err, http.StatusBadRequest) {
		t.Fatalf("wave 150%%: %v, want 400", err)
	}
}

// TestRolloutSurvivesRestart: a server stopped mid-rollout comes back with the same rollout at
// the same stage, answers every host as before, and its driver (the real one, on the leader)
// carries the rollout to the end.
func TestRolloutSurvivesRestart(t *testing.T) {
	clock := newTestClock()
	dir := t.TempDir()
	s, token := startRolloutServer(t, clock, nil, dir, "")
	ctx := t.Context()
	f := newSimFleet(t, s, clock, "edge", 12)
	setPolicy(t, s, "edge", api.RolloutPolicy{Canaries: 2, WavePercent: 25, Soak: api.Duration(time.Minute)})
	if _, err := s.admin.SetPin(ctx, "edge", api.Pin{Version: "3.0.0", Force: true}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		f.round()
		tick(t, s)
		clock.Advance(time.Minute)
		tick(t, s)
	}
	before := rolloutOf(t, s.admin, "edge")
	if before.Stage < 1 || before.State != api.RolloutRunning {
		t.Fatalf("before the restart: %+v", before)
	}
	answers := map[string]wire.UpdateDesired{}
	for _, h := range f.hosts {
		answers[h.id] = f.desired(h)
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	// Back, with the real driver stepping every 20ms on the (only, hence leading) replica.
	s2, _ := startWith(t, app.Config{DataDir: dir, Rollout: app.RolloutTuning{Interval: 20 * time.Millisecond, Now: clock.Now}, Alert: fastAlerts()}, token)
	f.s = s2
	after := rolloutOf(t, s2.admin, "edge")
	if after.ID != before.ID || after.Stage != before.Stage || after.Progress.Admitted != before.Progress.Admitted || after.State != before.State {
		t.Fatalf("after the restart: %+v\nbefore: %+v", after, before)
	}
	for _, h := range f.hosts {
		if d := f.desired(h); d != answers[h.id] {
			t.Fatalf("%s: desired %+v after the restart, %+v before", h.name, d, answers[h.id])
		}
	}
	waitFor(t, 30*time.Second, "the driver to complete the rollout", func() bool {
		f.round()
		clock.Advance(time.Minute)
		return rolloutOf(t, s2.admin, "edge").State == api.RolloutCompleted
	})
	if n := f.on("3.0.0"); n != 12 {
		t.Fatalf("%d of 12 hosts on 3.0.0", n)
	}
}

func countNotes(ns []api.Notification, key string) int {
	n := 0
	for _, x := range ns {
		if x.Key == key {
			n++
		}
	}
	return n
}

func isStatus(err error, status int) bool {
	var e *apiclient.Error
	return errors.As(err, &e) && e.Status == status
}

// TestRolloutLeaderChange runs two replicas on one PostgreSQL schema, each with the real driver.
// The alert leader drives the rollout; shut down mid-rollout, the other replica takes over
// leadership and carries the same rollout from the same stage to its end.
func TestRolloutLeaderChange(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	dbURL := storetest.PostgresURL(t, "rollouttest")
	clock := newTestClock()
	cfg := app.Config{DatabaseURL: dbURL, Alert: fastAlerts(), Rollout: app.RolloutTuning{Interval: 20 * time.Millisecond, Now: clock.Now}}
	a, token := startWith(t, cfg, "")
	waitFor(t, 10*time.Second, "the first replica to lead", a.AlertLeading)
	b, _ := startWith(t, cfg, token)
	if b.AlertLeading() {
		t.Fatal("both replicas lead")
	}
	ctx := t.Context()
	f := newSimFleet(t, b, clock, "core", 10) // hosts talk to the replica that stays
	setPolicy(t, b, "core", api.RolloutPolicy{Canaries: 1, WavePercent: 30, Soak: api.Duration(time.Minute)})
	if _, err := b.admin.SetPin(ctx, "core", api.Pin{Version: "4.0.0", Force: true}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the leader's driver to reach wave 1", func() bool {
		f.round()
		clock.Advance(time.Minute)
		return rolloutOf(t, b.admin, "core").Stage >= 1
	})
	before := rolloutOf(t, b.admin, "core")
	if err := a.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the second replica to lead", b.AlertLeading)
	if r := rolloutOf(t, b.admin, "core"); r.ID != before.ID || r.Stage < before.Stage {
		t.Fatalf("after the leader change: %+v\nbefore: %+v", r, before)
	}
	waitFor(t, 30*time.Second, "the new leader's driver to complete the rollout", func() bool {
		f.round()
		clock.Advance(time.Minute)
		return rolloutOf(t, b.admin, "core").State == api.RolloutCompleted
	})
	if n := f.on("4.0.0"); n != 10 {
		t.Fatalf("%d of 10 hosts on 4.0.0", n)
	}
}
