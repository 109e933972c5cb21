package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/apiclient"
	"github.com/vigilhq/vigil/server/alert/alerttest"
	"github.com/vigilhq/vigil/server/rollout"
	"github.com/vigilhq/vigil/wire"
)

// TestRolloutEndToEnd stages pin changes over a group of real hosts: each host is a
// `vigil-updater run` supervising a real vigil-agent in its own state directory (its own
// credential), against a real vigil-server with an SMTP server, driven with vigilctl. Policy: one
// canary, waves of 50 %, soak 2s. The server's rollout driver steps every 5s (not configurable),
// which sets the pace.
//
// Rollout 1, 1.0.0 → 2.0.0 (a good build), over four hosts and a fifth that joins mid-rollout:
//   - paused at once: the canary (the host of lowest rank) still updates and commits, but the
//     driver records nothing for a whole driver interval and no other host is told 2.0.0;
//   - the joiner enrolls during the pause and is answered, and runs, the version its rank allows;
//   - resumed: the first wave admits the hosts of the four lowest ranks of five, each starting
//     its update only after the canary committed;
//   - once the wave committed, vigil-server is killed with SIGKILL and restarted: the same
//     rollout, at the same stage, carries on; the last host updates only after the restart;
//   - the rollout completes and every host reports 2.0.0.
//
// Rollout 2, 2.0.0 → 2.1.0 (a build that exits at start, so it fails the health gate): the canary
// rolls back, the rollout halts after the canary, exactly one email naming that host arrives, no
// other host is told 2.1.0 or starts an update, a new pin is refused, and abort pins the group
// back to 2.0.0.
func TestRolloutEndToEnd(t *testing.T) {
	skipShort(t)
	if runtime.GOOS != "linux" {
		t.Skip("the updater runs on Linux")
	}
	start := time.Now()
	work := t.TempDir()
	bin := filepath.Join(work, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	updBuildAll(t, bin, map[string]updBuild{
		"agent-exit-2.1.0": {pkg: "github.com/vigilhq/vigil/updater/internal/fakeagent", version: "2.1.0", ldflags: "-X main.mode=exit"},
	})
	vigilctl := buildBinary(t, "vigilctl", "0.0.0-e2e")
	updater := buildBinary(t, "vigil-updater", "1.0.0")
	agent1 := buildBinary(t, "vigil-agent", "1.0.0")
	agent2 := buildBinary(t, "vigil-agent", "2.0.0")

	smtpSrv, err := alerttest.Start(alerttest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(smtpSrv.Stop)
	sp := startServer(t, serverConfig{Args: []string{"--smtp-url", "smtp://" + smtpSrv.Addr(),
		"--smtp-from", "vigil@example.com", "--alert-email", "ops@example.com"}})
	srv := newUpdServer(t, sp, vigilctl)
	built := time.Now()
	t.Logf("built binaries and started the server in %v", built.Sub(start).Round(time.Millisecond))

	// The repository: 1.0.0, 2.0.0 and the bad 2.1.0 (mislabelled on purpose as the agent).
	keys := filepath.Join(work, "keys")
	if err := os.MkdirAll(keys, 0o700); err != nil {
		t.Fatal(err)
	}
	k := func(name string) string { return filepath.Join(keys, name+".key") }
	for _, name := range []string{"root", "targets"} {
		srv.ctl("keys", "gen", "--out", k(name))
	}
	srv.ctl("repo", "init", "--root-key", k("root"), "--root-threshold", "1", "--targets-key", k("targets"), "--targets-threshold", "1")
	agentFile := "vigil-agent-linux-" + runtime.GOARCH
	srv.release("1.0.0", map[string]string{agentFile: agent1}, []string{k("targets")})
	rootFile := filepath.Join(work, "root.json")
	if err := os.WriteFile(rootFile, srv.fetch("/tuf/metadata/1.root.json"), 0o644); err != nil {
		t.Fatal(err)
	}

	const group = "e2e-rollout"
	srv.ctl("groups", "create", group)
	srv.ctl("groups", "set", group, "--canaries", "1", "--wave-percent", "50", "--soak", "2s",
		"--failure-threshold", "10", "--health-deadline", "1m")
	// An empty group has nothing to stage: the pin applies at once.
	srv.ctl("groups", "pin", group, "1.0.0")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	f := &rollFleet{t: t, ctx: ctx, srv: srv, sp: sp, cl: sp.Client(), group: group, updater: updater,
		common: []string{"--server", srv.url, "--ca", srv.ca, "--trusted-root", rootFile}}
	if rs := f.rollouts(); len(rs) != 0 {
		t.Fatalf("a pin in an empty group started a rollout: %+v", rs[0])
	}
	var tok struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal([]byte(srv.ctl("--output", "json", "enroll", "create-token", "--group", group, "--max-uses", "5")), &tok); err != nil || tok.Token == "" {
		t.Fatalf("enrollment token: %v", err)
	}
	f.token = tok.Token
	// The agents report every second (a local setting wins over the server's), so a new agent's
	// first acknowledged report comes well within the updater's grace.
	f.agentConfig = filepath.Join(work, "agent.yaml")
	if err := os.WriteFile(f.agentConfig, []byte("interval: 1s\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	hosts := make([]*rollHost, 4)
	for i := range hosts {
		hosts[i] = f.startHost(fmt.Sprintf("host-%d", i))
	}
	// The next releases are published while the hosts install 1.0.0, as releases go out in a
	// live fleet.
	srv.release("2.0.0", map[string]string{agentFile: agent2}, []string{k("targets")})
	srv.release("2.1.0", map[string]string{agentFile: filepath.Join(bin, "agent-exit-2.1.0")}, []string{k("targets")})
	for _, h := range hosts {
		f.waitEnrolled(h)
	}
	waitFor(t, 60*time.Second, "every host to report 1.0.0", func() (bool, error) {
		return f.allRun(hosts, "1.0.0"), nil
	})
	t.Logf("released 1.0.0, 2.0.0 and 2.1.0; 4 hosts run 1.0.0 (%v after the build)", time.Since(built).Round(time.Millisecond))
	defer func() {
		if t.Failed() {
			f.dumpEvents()
		}
	}()

	// ---- Rollout 1: 1.0.0 → 2.0.0, paused at once. ----
	srv.ctl("groups", "pin", group, "2.0.0")
	r1 := f.active()
	if r1.ToVersion != "2.0.0" || r1.From.Version != "1.0.0" || r1.State != api.RolloutRunning || r1.Stage != 0 ||
		r1.Progress.GroupHosts != 4 || r1.Progress.Admitted != 1 {
		t.Fatalf("rollout after the pin: %+v", r1)
	}
	if p := r1.Policy; p.Canaries != 1 || p.WavePercent != 50 || time.Duration(p.Soak) != 2*time.Second ||
		p.FailureThreshold != 10 || time.Duration(p.HealthDeadline) != time.Minute {
		t.Fatalf("rollout policy %+v, want what vigilctl groups set stored", p)
	}
	if out := srv.ctl("rollouts", "pause", r1.ID); !strings.Contains(out, "paused") {
		t.Fatalf("vigilctl rollouts pause: %s", out)
	}
	pausedAt := time.Now()
	canary := f.byRank(r1.ID, hosts)[0]
	t.Logf("rollout %s started and paused; canary (lowest rank) is %s [%s]", r1.ID, canary.name, canary.id)

	// A host joins during the rollout. Stage 0's cutoff is just above the canary's rank, so the
	// joiner is admitted exactly when its rank is below the canary's.
	joiner := f.startHost("joiner")
	f.waitEnrolled(joiner)
	joinerAdmitted := rollout.Rank(r1.ID, joiner.id) < rollout.Rank(r1.ID, canary.id)
	wantJoiner := map[bool]string{true: "2.0.0", false: "1.0.0"}[joinerAdmitted]
	if d := f.desired(joiner); d.Version != wantJoiner || d.RolloutID != r1.ID {
		t.Fatalf("joiner (admitted by rank: %v) is answered %+v, want %s in rollout %s", joinerAdmitted, d, wantJoiner, r1.ID)
	}
	all := append(slices.Clone(hosts), joiner)
	t.Logf("joiner %s enrolled during the pause: rank %d of 5, admitted: %v", joiner.id, slices.Index(f.byRank(r1.ID, all), joiner)+1, joinerAdmitted)
	if !joinerAdmitted {
		waitFor(t, 30*time.Second, "the joiner to report 1.0.0", func() (bool, error) {
			return f.allRun([]*rollHost{joiner}, "1.0.0"), nil
		})
	}

	// The canary (and the joiner when admitted) update while paused: a pause admits no one new,
	// it does not take back an admission.
	stage0 := []*rollHost{canary}
	if joinerAdmitted {
		stage0 = append(stage0, joiner)
	}
	waitFor(t, 60*time.Second, "the stage-0 hosts to commit 2.0.0 while paused", func() (bool, error) {
		return f.committed(stage0, "2.0.0"), nil
	})
	// For one driver interval and more after those commits, the paused rollout must stay as it
	// was (a running one would have recorded the healthy canary by then), and no other host may
	// be told 2.0.0 or start toward it.
	committedAt := time.Now()
	const driverInterval = 5 * time.Second
	for time.Since(committedAt) < driverInterval+time.Second {
		r := f.get(r1.ID)
		if r.State != api.RolloutPaused || r.Stage != 0 || !r.Settled.IsZero() || r.Progress.Healthy != 0 || r.Progress.Admitted != 1 {
			t.Fatalf("paused rollout changed: %+v", r)
		}
		f.untouched(all, stage0, r1.ID, "1.0.0", "2.0.0")
		time.Sleep(300 * time.Millisecond)
	}
	t.Logf("paused for %v: the stage-0 hosts committed, the rollout did not move", time.Since(pausedAt).Round(time.Millisecond))

	// Resume: the stage settles, soaks and the first wave admits half of the five hosts more:
	// the four of lowest rank.
	if out := srv.ctl("rollouts", "resume", r1.ID); !strings.Contains(out, "running") {
		t.Fatalf("vigilctl rollouts resume: %s", out)
	}
	resumedAt := time.Now()
	var r api.Rollout
	waitFor(t, 40*time.Second, "the first wave", func() (bool, error) {
		r = f.get(r1.ID)
		return r.Stage >= 1, fmt.Errorf("rollout %+v", r)
	})
	if r.Stage != 1 || r.All || r.Progress.GroupHosts != 5 || r.Progress.Admitted != 4 {
		t.Fatalf("first wave: %+v, want stage 1 admitting 4 of 5", r)
	}
	t.Logf("wave 1 started %v after the resume", time.Since(resumedAt).Round(time.Millisecond))
	ranked := f.byRank(r1.ID, all)
	wave1, last := ranked[:4], ranked[4]
	if d := f.desired(last); d.Version != "1.0.0" {
		t.Fatalf("%s (highest rank) is answered %+v during wave 1, want 1.0.0", last.name, d)
	}
	waitFor(t, 60*time.Second, "wave 1 to commit 2.0.0", func() (bool, error) {
		return f.committed(wave1, "2.0.0"), nil
	})
	f.untouched(all, wave1, r1.ID, "1.0.0", "2.0.0")

	// kill -9 the server while the wave soaks (no host is in its health gate: the wave committed
	// and the last host is not admitted), then start it again on the same data.
	before := f.get(r1.ID)
	if before.Stage != 1 || before.State != api.RolloutRunning {
		t.Fatalf("the rollout moved on before the kill (the driver steps every 5s; the test saw the commits too late): %+v", before)
	}
	sp.Kill()
	killedAt := time.Now()
	sp.Start(t)
	after := f.get(r1.ID)
	t.Logf("vigil-server killed -9 at stage %d and back in %v", before.Stage, time.Since(killedAt).Round(time.Millisecond))
	if after.ID != before.ID || after.State != api.RolloutRunning || after.Stage < before.Stage || after.Progress.Admitted < before.Progress.Admitted ||
		after.Version < before.Version || !after.StageStarted.Equal(before.StageStarted) && after.Stage == before.Stage {
		t.Fatalf("after the restart: %+v\nbefore the kill: %+v", after, before)
	}
	if rs := f.rollouts(); len(rs) != 1 {
		t.Fatalf("%d rollouts after the restart, want the one", len(rs))
	}
	waitFor(t, 60*time.Second, "the rollout to complete", func() (bool, error) {
		r = f.get(r1.ID)
		if r.State != api.RolloutRunning && r.State != api.RolloutCompleted {
			return false, fmt.Errorf("rollout %s: %s", r.State, r.Reason)
		}
		return r.State == api.RolloutCompleted, fmt.Errorf("rollout %+v", r)
	})
	if !r.All || r.Stage != 2 || r.Progress.GroupHosts != 5 {
		t.Fatalf("completed rollout: %+v", r)
	}
	completedAt := time.Now()
	waitFor(t, 30*time.Second, "every host to report 2.0.0", func() (bool, error) {
		return f.committed(all, "2.0.0") && f.allRunSince(all, "2.0.0", completedAt), nil
	})

	// The order, from the server's own record of the update events: no host started toward
	// 2.0.0 before the canary committed; the last host only after the restart.
	canaryCommit := f.firstEvent(canary, wire.PhaseCommit, "2.0.0")
	for _, h := range all {
		if slices.Contains(stage0, h) {
			continue
		}
		if s := f.firstEvent(h, wire.PhaseTrial, "2.0.0"); !s.After(canaryCommit) {
			t.Errorf("%s started 2.0.0 at %s, before the canary committed at %s", h.name, s.Format(time.RFC3339Nano), canaryCommit.Format(time.RFC3339Nano))
		}
	}
	if !slices.Contains(stage0, last) {
		if s := f.firstEvent(last, wire.PhaseTrial, "2.0.0"); !s.After(killedAt) {
			t.Errorf("%s (last wave) started 2.0.0 at %s, before the server was killed at %s", last.name, s, killedAt)
		}
	}
	t.Logf("rollout 1 completed %v after the pin; all 5 hosts on 2.0.0", completedAt.Sub(pausedAt).Round(time.Millisecond))

	// ---- Rollout 2: 2.0.0 → 2.1.0, a build that fails its health gate. ----
	srv.ctl("groups", "pin", group, "2.1.0")
	r2 := f.active()
	if r2.ID == r1.ID || r2.ToVersion != "2.1.0" || r2.From.Version != "2.0.0" || r2.Progress.Admitted != 1 || r2.Progress.GroupHosts != 5 {
		t.Fatalf("second rollout: %+v", r2)
	}
	pinned2 := time.Now()
	canary2 := f.byRank(r2.ID, all)[0]
	waitFor(t, 60*time.Second, "the rollout to halt", func() (bool, error) {
		r = f.get(r2.ID)
		return r.State == api.RolloutHalted, fmt.Errorf("rollout %+v", r)
	})
	t.Logf("rollout %s to 2.1.0 halted %v after the pin: %s", r2.ID, time.Since(pinned2).Round(time.Millisecond), r.Reason)
	if r.Stage != 0 || r.Progress.Admitted != 1 || r.Progress.Failed != 1 || len(r.Failures) != 1 || r.Failures[0].HostID != canary2.id {
		t.Fatalf("halted rollout: %+v, want stage 0 with the canary %s as its one failure", r, canary2.id)
	}
	// The reason is the failed health gate, not the quarantine the updater refused the build
	// with afterwards (which the driver may see first).
	const gateFailed = "rolled back: the new agent exited during the grace window"
	if reason := r.Failures[0].Reason; !strings.HasPrefix(reason, gateFailed) {
		t.Errorf("failure reason %q, want %q…", reason, gateFailed)
	}
	evs := f.events(canary2)
	if !slices.ContainsFunc(evs, func(e api.UpdateEvent) bool {
		return e.Phase == wire.PhaseRollback && e.Result == wire.ResultOK && e.FromVersion == "2.1.0" && e.ToVersion == "2.0.0"
	}) {
		t.Fatalf("canary %s has no rollback 2.1.0 → 2.0.0", canary2.name)
	}
	halted := time.Now()
	waitFor(t, 30*time.Second, "the canary to report 2.0.0 again", func() (bool, error) {
		return f.allRunSince([]*rollHost{canary2}, "2.0.0", halted), nil
	})

	// Exactly one email, naming the canary and none of the others.
	alertKey := "rollout/" + r2.ID
	halts := func(m []alerttest.Message) []alerttest.Message {
		return slices.DeleteFunc(slices.Clone(m), func(m alerttest.Message) bool {
			return !strings.HasPrefix(m.Header.Get("X-Vigil-Alert"), "rollout/")
		})
	}
	msgs, ok := smtpSrv.Wait(30*time.Second, func(m []alerttest.Message) bool { return len(halts(m)) > 0 })
	if !ok {
		t.Fatalf("no halt email; subjects: %q", rollSubjects(msgs))
	}
	mail := halts(msgs)[0]
	text := strings.NewReplacer("=\r\n", "", "=\n", "", "=3D", "=").Replace(string(mail.Raw))
	if mail.Header.Get("X-Vigil-Alert") != alertKey || !strings.Contains(mail.Subject, "halted") || !slices.Equal(mail.To, []string{"ops@example.com"}) {
		t.Fatalf("halt email %q (%s) to %v", mail.Subject, mail.Header.Get("X-Vigil-Alert"), mail.To)
	}
	for _, want := range []string{canary2.id, gateFailed, "rollback ok 2.1.0 -> 2.0.0", "vigilctl rollouts abort " + r2.ID} {
		if !strings.Contains(text, want) {
			t.Errorf("halt email lacks %q:\n%s", want, text)
		}
	}
	for _, h := range all {
		if h != canary2 && strings.Contains(text, h.id) {
			t.Errorf("halt email names %s, which never took 2.1.0", h.name)
		}
	}

	// The rest of the group never left 2.0.0: still answered 2.0.0, no update toward 2.1.0.
	f.untouched(all, []*rollHost{canary2}, r2.ID, "2.0.0", "2.1.0")
	if !f.allRunSince(all, "2.0.0", time.Now().Add(-2*time.Second)) {
		t.Error("a host does not report 2.0.0 after the halt")
	}
	// A halted rollout takes no new pin and cannot be resumed: only aborted.
	if out, err := srv.tryCtl("groups", "pin", group, "2.0.0"); err == nil || !strings.Contains(err.Error(), "abort") {
		t.Errorf("pin during a halted rollout: %v %s, want a refusal that says to abort", err, out)
	}
	if out, err := srv.tryCtl("rollouts", "resume", r2.ID); err == nil {
		t.Errorf("resume of a halted rollout succeeded: %s", out)
	}

	// Abort: the group is pinned back to 2.0.0 and every host is answered it, outside any rollout.
	if out := srv.ctl("rollouts", "abort", r2.ID); !strings.Contains(out, "pinned to version 2.0.0 again") {
		t.Fatalf("vigilctl rollouts abort: %s", out)
	}
	if r = f.get(r2.ID); r.State != api.RolloutAborted {
		t.Fatalf("after abort: %+v", r)
	}
	if p, err := f.cl.GetPin(ctx, group); err != nil || p.Version != "2.0.0" || p.Channel != "" {
		t.Fatalf("pin after abort: %+v %v, want 2.0.0", p, err)
	}
	for _, h := range all {
		if d := f.desired(h); d.Version != "2.0.0" || d.RolloutID != "" {
			t.Errorf("%s after abort is answered %+v, want 2.0.0 outside a rollout", h.name, d)
		}
	}
	abortedAt := time.Now()
	waitFor(t, 30*time.Second, "every host to report 2.0.0 after the abort", func() (bool, error) {
		return f.allRunSince(all, "2.0.0", abortedAt), nil
	})

	// Still one email for the whole test (rollout 1 sent none; abort sends none), one in the outbox.
	if got := halts(smtpSrv.Messages()); len(got) != 1 {
		t.Errorf("%d rollout emails arrived, want 1: %q", len(got), rollSubjects(got))
	}
	ns, err := f.cl.ListNotifications(ctx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var notes []api.Notification
	for _, n := range ns {
		if strings.HasPrefix(n.AlertKey, "rollout/") {
			notes = append(notes, n)
		}
	}
	if len(notes) != 1 || notes[0].AlertKey != alertKey || notes[0].Status != api.NotifySent || notes[0].MessageID != mail.MessageID {
		t.Errorf("rollout notifications in the outbox: %+v, want the one sent halt email of %s", notes, r2.ID)
	}
	t.Logf("whole test %v (%v after the build)", time.Since(start).Round(time.Millisecond), time.Since(built).Round(time.Millisecond))
}

// rollFleet is the group of real hosts of TestRolloutEndToEnd and the server they talk to.
type rollFleet struct {
	t           *testing.T
	ctx         context.Context
	srv         *updServer
	sp          *serverProcess
	cl          *apiclient.Client
	group       string
	updater     string
	common      []string // --server, --ca, --trusted-root
	token       string   // enrollment token of the group
	agentConfig string
}

// rollHost is one host: a vigil-updater (and the agent it runs) with its own state directory.
type rollHost struct {
	name, state, id string
	upd             *process
}

// startHost starts `vigil-updater run` for a new host, which installs the agent the group's pin
// names and starts it with the enrollment token.
func (f *rollFleet) startHost(name string) *rollHost {
	f.t.Helper()
	h := &rollHost{name: name, state: filepath.Join(f.t.TempDir(), "state-"+name)}
	args := append([]string{"run"}, f.common...)
	args = append(args, "--state-dir", h.state, "--enroll-token", f.token, "--poll", "1s", "--grace", "3s", "--agent-user", "")
	h.upd = startProcess(f.t, "vigil-updater-"+name, f.updater, []string{"VIGIL_AGENT_CONFIG=" + f.agentConfig}, args...)
	return h
}

// enrolledRE finds the host ID the agent logs when it enrolls (its output goes to the updater's).
var enrolledRE = regexp.MustCompile(`msg=Enrolled\.? .*host_id=([0-9a-f]+)`)

// waitEnrolled waits for h's agent to enroll and sets h.id. Every host of the test shares the
// machine's hostname, so the agent's own log is what tells them apart.
func (f *rollFleet) waitEnrolled(h *rollHost) {
	f.t.Helper()
	waitFor(f.t, 60*time.Second, h.name+" to enroll", func() (bool, error) {
		b, err := os.ReadFile(h.upd.Log)
		if err != nil {
			return false, err
		}
		if m := enrolledRE.FindSubmatch(b); m != nil {
			h.id = string(m[1])
			return true, nil
		}
		return false, nil
	})
}

// hosts returns the group's hosts by ID.
func (f *rollFleet) hosts() map[string]api.Host {
	f.t.Helper()
	hs, err := f.cl.ListHosts(f.ctx, f.group)
	if err != nil {
		f.t.Fatalf("list hosts: %v", err)
	}
	m := map[string]api.Host{}
	for _, h := range hs {
		m[h.ID] = h
	}
	return m
}

// allRun reports whether every host of hs last reported agent version v.
func (f *rollFleet) allRun(hs []*rollHost, v string) bool {
	return f.allRunSince(hs, v, time.Time{})
}

// allRunSince reports whether every host of hs reported agent version v after since.
func (f *rollFleet) allRunSince(hs []*rollHost, v string, since time.Time) bool {
	byID := f.hosts()
	for _, h := range hs {
		got, ok := byID[h.id]
		if !ok || got.AgentVersion != v || !got.LastSeen.After(since) {
			return false
		}
	}
	return true
}

// committed reports whether the last update event of every host of hs is a commit of v.
func (f *rollFleet) committed(hs []*rollHost, v string) bool {
	byID := f.hosts()
	for _, h := range hs {
		e := byID[h.id].LastUpdate
		if e == nil || e.Phase != wire.PhaseCommit || e.Result != wire.ResultOK || e.ToVersion != v {
			return false
		}
	}
	return true
}

// events returns h's update events, newest first.
func (f *rollFleet) events(h *rollHost) []api.UpdateEvent {
	f.t.Helper()
	evs, err := f.cl.HostUpdates(f.ctx, h.id)
	if err != nil {
		f.t.Fatalf("update events of %s: %v", h.name, err)
	}
	return evs
}

// firstEvent returns when the server received h's first event of phase toward v.
func (f *rollFleet) firstEvent(h *rollHost, phase, v string) time.Time {
	f.t.Helper()
	evs := f.events(h)
	for i := len(evs) - 1; i >= 0; i-- {
		if e := evs[i]; e.Phase == phase && e.ToVersion == v {
			return e.ReceivedAt
		}
	}
	f.t.Fatalf("%s has no %s event toward %s", h.name, phase, v)
	return time.Time{}
}

// desired asks the server for h's desired version with h's own credential, as its updater does.
func (f *rollFleet) desired(h *rollHost) wire.UpdateDesired {
	f.t.Helper()
	cred, err := os.ReadFile(filepath.Join(h.state, "agent", "credential"))
	if err != nil {
		f.t.Fatalf("%s credential: %v", h.name, err)
	}
	req, err := http.NewRequestWithContext(f.ctx, http.MethodGet, f.srv.url+"/api/v1/updates/desired", nil)
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(cred)))
	resp, err := f.sp.HTTP.Do(req)
	if err != nil {
		f.t.Fatalf("desired version of %s: %v", h.name, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var d wire.UpdateDesired
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &d) != nil {
		f.t.Fatalf("desired version of %s: %s %s", h.name, resp.Status, body)
	}
	return d
}

// untouched checks that every host of hs not in admitted is answered from (in rollout id), runs
// from, and has reported no update event toward to.
func (f *rollFleet) untouched(hs, admitted []*rollHost, id, from, to string) {
	f.t.Helper()
	byID := f.hosts()
	for _, h := range hs {
		if slices.Contains(admitted, h) {
			continue
		}
		if d := f.desired(h); d.Version != from || d.RolloutID != id {
			f.t.Fatalf("%s, not admitted, is answered %+v; want %s in rollout %s", h.name, d, from, id)
		}
		if v := byID[h.id].AgentVersion; v != from {
			f.t.Fatalf("%s, not admitted, runs %s; want %s", h.name, v, from)
		}
		for _, e := range f.events(h) {
			if e.ToVersion == to {
				f.t.Fatalf("%s, not admitted, reported %s %s toward %s", h.name, e.Phase, e.Result, to)
			}
		}
	}
}

// byRank returns hs ordered by their rank in rollout id: the order in which the rollout admits
// them (docs/operating.md, "Which hosts are in which wave").
func (f *rollFleet) byRank(id string, hs []*rollHost) []*rollHost {
	out := slices.Clone(hs)
	slices.SortFunc(out, func(a, b *rollHost) int {
		ra, rb := rollout.Rank(id, a.id), rollout.Rank(id, b.id)
		switch {
		case ra < rb:
			return -1
		case ra > rb:
			return 1
		}
		return 0
	})
	return out
}

// rollouts lists the group's rollouts, newest first.
func (f *rollFleet) rollouts() []api.Rollout {
	f.t.Helper()
	rs, err := f.cl.ListRollouts(f.ctx, apiclient.RolloutFilter{Group: f.group})
	if err != nil {
		f.t.Fatalf("list rollouts: %v", err)
	}
	return rs
}

// active returns the group's active rollout, which must exist.
func (f *rollFleet) active() api.Rollout {
	f.t.Helper()
	rs := f.rollouts()
	if len(rs) == 0 || !slices.Contains([]string{api.RolloutRunning, api.RolloutPaused, api.RolloutHalted}, rs[0].State) {
		f.t.Fatalf("no active rollout in %s: %+v", f.group, rs)
	}
	return rs[0]
}

// get returns one rollout.
func (f *rollFleet) get(id string) api.Rollout {
	f.t.Helper()
	r, err := f.cl.GetRollout(f.ctx, id)
	if err != nil {
		f.t.Fatalf("get rollout %s: %v", id, err)
	}
	return r
}

// dumpEvents logs every host's update events (on failure).
func (f *rollFleet) dumpEvents() {
	hs, err := f.cl.ListHosts(f.ctx, f.group)
	if err != nil {
		return
	}
	for _, h := range hs {
		evs, _ := f.cl.HostUpdates(f.ctx, h.ID)
		for i := len(evs) - 1; i >= 0; i-- {
			e := evs[i]
			f.t.Logf("host %s event %s %s %s %s→%s %q", h.ID, e.ReceivedAt.Format("15:04:05.000"), e.Phase, e.Result, e.FromVersion, e.ToVersion, e.Reason)
		}
	}
	for _, r := range f.rollouts() {
		f.t.Logf("rollout %+v", r)
	}
}

func rollSubjects(ms []alerttest.Message) []string {
	var s []string
	for _, m := range ms {
		s = append(s, m.Subject)
	}
	return s
}
