package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/e2e/e2eproc"
	"github.com/vigilhq/vigil/wire"
)

// TestUpdaterClockJumps runs a real vigil-updater (vigil_fakeclock build) supervising a real
// agent and steps the updater's wall clock while the operator pins new versions:
//
//   - +8 days, past the expiry of the timestamp (1 day) and snapshot (7 days) metadata the server
//     serves: every refresh is refused as expired, logged as an update check that failed; the agent
//     keeps running its version, nothing is rolled back or quarantined. Clock right again: the
//     pinned update goes through.
//   - -30 min (within the server certificate's hour of slack): the update goes through on a clock
//     behind; nothing is refused or quarantined.
//   - -12 h, then a restart of the updater (the polls keep its connection, checked at the
//     handshake, alive): the server's certificate is not yet valid, so the updater cannot even
//     ask; it starts the installed agent all the same. Clock right again: the pinned update goes
//     through.
//
// Metadata versions, not times, refuse a rollback, and this clock cannot lower them: the
// repository only moves forwards here, and after every jump the updater runs exactly the version
// pinned last, never an older one. (Replayed and rolled-back metadata under a wrong clock:
// updater TestRefTimeAhead, TestRefTimeBehind and the rollback-attack tests.)
func TestUpdaterClockJumps(t *testing.T) {
	e2eproc.SkipShort(t)
	t.Parallel()
	work := t.TempDir()
	sp := e2eproc.StartServer(t, e2eproc.ServerConfig{})
	ctl := e2eproc.NewVigilctl(sp, e2eproc.Build(t, "vigilctl", "0.0.0-e2e"))
	updater := e2eproc.BuildTags(t, "vigil-updater", "1.0.0", fakeClockTag)
	agentFile := "vigil-agent-linux-" + runtime.GOARCH

	targetsKey := ctl.InitRepo(t, filepath.Join(work, "keys"))
	versions := []string{"1.0.0", "1.1.0", "1.2.0", "1.3.0"}
	for i, v := range versions {
		var flags []string
		if i == 0 {
			flags = []string{"--channel", "stable"}
		}
		ctl.Release(t, v, map[string]string{agentFile: e2eproc.Build(t, "vigil-agent", v)}, []string{targetsKey}, flags...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	root, err := fetchBody(ctx, sp, "/tuf/metadata/1.root.json")
	if err != nil {
		t.Fatal(err)
	}
	rootFile := filepath.Join(work, "root.json")
	if err := os.WriteFile(rootFile, root, 0o644); err != nil {
		t.Fatal(err)
	}
	ctl.Run(t, "groups", "create", "clock")
	var tok struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal([]byte(ctl.Run(t, "--output", "json", "enroll", "create-token", "--group", "clock")), &tok); err != nil || tok.Token == "" {
		t.Fatalf("enrollment token: %v", err)
	}
	state := filepath.Join(work, "state")
	common := []string{"--server", sp.URL, "--ca", sp.CAFile, "--state-dir", state, "--trusted-root", rootFile}
	if out, err := exec.Command(updater, append([]string{"install"}, common...)...).CombinedOutput(); err != nil {
		t.Fatalf("vigil-updater install: %v\n%s", err, out)
	}
	// The agent reports every second (its local configuration wins over the server's).
	agentYAML := filepath.Join(work, "agent.yaml")
	if err := os.WriteFile(agentYAML, []byte("interval: 1s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	clock := newFakeClock(t)
	start := time.Now()
	upd := e2eproc.StartProcess(t, "vigil-updater", updater, []string{clock.Env(), "VIGIL_AGENT_CONFIG=" + agentYAML}, append([]string{"run"},
		append(common, "--enroll-token", tok.Token, "--poll", "1s", "--grace", "2s", "--agent-user", "")...)...)

	admin := sp.Client()
	// agentAt waits until the host reports agent version v in a report newer than since.
	agentAt := func(v string, since time.Time, timeout time.Duration) {
		t.Helper()
		e2eproc.WaitFor(t, timeout, "a report from agent "+v, func() (bool, error) {
			if !upd.Running() {
				t.Fatalf("vigil-updater exited: %v", upd.Err())
			}
			hs, err := admin.ListHosts(ctx, "clock")
			if err != nil || len(hs) != 1 || hs[0].Latest == nil {
				return false, err
			}
			return hs[0].Latest.AgentVersion == v && hs[0].LastSeen.After(since), nil
		})
	}
	type status struct {
		Linked  string `json:"linked"`
		Journal struct {
			Current string          `json:"current"`
			Trial   json.RawMessage `json:"trial"`
		} `json:"journal"`
		Quarantine []json.RawMessage `json:"quarantine"`
	}
	// stateIs reports whether the updater's state has v linked and current, no trial and nothing
	// quarantined, and returns the state.
	stateIs := func(v string) (bool, string) {
		t.Helper()
		out, err := exec.Command(updater, "status", "--json", "--state-dir", state).Output()
		if err != nil {
			t.Fatalf("vigil-updater status: %v", err)
		}
		var st status
		if err := json.Unmarshal(out, &st); err != nil {
			t.Fatal(err)
		}
		return filepath.Base(st.Linked) == v && st.Journal.Current == v &&
			(len(st.Journal.Trial) == 0 || string(st.Journal.Trial) == "null") && len(st.Quarantine) == 0, string(out)
	}
	// settled fails unless the state is v's now.
	settled := func(v string) {
		t.Helper()
		if ok, st := stateIs(v); !ok {
			t.Fatalf("updater state: %s\nwant %s linked and current, no trial, no quarantine", st, v)
		}
	}
	// committed waits until v is installed, its trial committed and the agent reports it.
	committed := func(v string) {
		t.Helper()
		since := time.Now()
		e2eproc.WaitFor(t, 90*time.Second, v+" committed", func() (bool, error) {
			if !upd.Running() {
				t.Fatalf("vigil-updater exited: %v", upd.Err())
			}
			ok, _ := stateIs(v)
			return ok, nil
		})
		agentAt(v, since, 60*time.Second)
	}
	agentAt("1.0.0", time.Time{}, 90*time.Second)
	committed("1.0.0")

	// hold steps the clock by d, pins want, and checks that for a few polls the agent stays
	// at have while the updater logs failed checks with the given text; then the clock comes back
	// and want is installed.
	polls := rounds(4, 10)
	hold := func(d time.Duration, restart bool, have, want, logText string) {
		t.Helper()
		clock.Set(t, d)
		if restart {
			// Certificates are checked at the handshake, and the 1 s polls keep the connection
			// alive: a restart (a reboot, an upgrade of the package) needs a new one.
			upd.Stop(t, 60*time.Second)
			upd.Start(t)
		}
		failedBefore := e2eproc.CountLines(upd.Log, logText)
		ctl.Run(t, "groups", "pin", "clock", want)
		e2eproc.WaitFor(t, 60*time.Second, fmt.Sprintf("%d failed update checks (%q) at %+v", polls, logText, d), func() (bool, error) {
			return e2eproc.CountLines(upd.Log, logText) >= failedBefore+polls, nil
		})
		agentAt(have, time.Now(), 20*time.Second) // still running, still reporting
		settled(have)
		clock.Set(t, 0)
		committed(want)
	}
	hold(8*24*time.Hour, false, "1.0.0", "1.1.0", "expired")

	// Behind by half an hour: the update goes through.
	clock.Set(t, -30*time.Minute)
	ctl.Run(t, "groups", "pin", "clock", "1.2.0")
	committed("1.2.0")

	hold(-12*time.Hour, true, "1.2.0", "1.3.0", "not yet valid")
	if e2eproc.LogHas(upd.Log, "Rolled back.") || e2eproc.LogHas(upd.Log, "quarantin") {
		t.Errorf("the updater rolled back or quarantined something:\n%s", e2eproc.Tail(upd.Log, 40))
	}
	// The outcomes reach the server exactly once and the event outbox drains. The check that
	// failed on expired metadata is stamped by the clock 8 days ahead: the server refuses it (more
	// than wire.MaxClockAhead), the updater says so at WARN once, naming the skew and the fix, and
	// posts it again with the server's time and the skew in its reason, so the operator sees in
	// the host's update events why it did not update.
	hs, err := admin.ListHosts(ctx, "clock")
	if err != nil || len(hs) != 1 {
		t.Fatalf("hosts: %v, %v", hs, err)
	}
	var events []api.UpdateEvent
	e2eproc.WaitFor(t, 30*time.Second, "the update events", func() (bool, error) {
		if events, err = admin.HostUpdates(ctx, hs[0].ID); err != nil {
			return false, err
		}
		return countEvents(events, wire.PhaseCommit, wire.ResultOK, "1.3.0") > 0, nil
	})
	for _, v := range versions[1:] {
		if n := countEvents(events, wire.PhaseCommit, wire.ResultOK, v); n != 1 {
			t.Errorf("%d commit events for %s, want 1", n, v)
		}
	}
	var expired *api.UpdateEvent
	ids := map[string]bool{}
	for i, e := range events {
		if e.ID != "" && ids[e.ID] {
			t.Errorf("event %s recorded twice", e.ID)
		}
		ids[e.ID] = true
		if e.Phase == wire.PhaseCheck && e.Result == wire.ResultFailed && strings.Contains(e.Reason, "expired") && expired == nil {
			expired = &events[i]
		}
	}
	switch {
	case expired == nil:
		t.Errorf("no failed check naming the expired metadata reached the server; events:\n%+v", events)
	case !aboutEightDays(skewNote, expired.Reason):
		t.Errorf("the failed check's reason %q does not note the host's clock 8 days ahead", expired.Reason)
	case expired.Time.After(expired.ReceivedAt) || expired.ReceivedAt.Sub(expired.Time) > time.Minute:
		t.Errorf("the failed check is stamped %v, received %v: want the server's time", expired.Time, expired.ReceivedAt)
	}
	const refusedWarn = `level=WARN msg="The server refused an update event: this host's clock is `
	if n := e2eproc.CountLines(upd.Log, refusedWarn); n != 1 || !aboutEightDays(warnSkew, logText(upd.Log)) {
		t.Errorf("%d WARN lines say the server refused events of a clock 8 days ahead, want 1 (once, not every poll):\n%s", n, e2eproc.Tail(upd.Log, 40))
	}
	if !e2eproc.LogHas(upd.Log, "timestamp.json is expired") {
		t.Error("the updater never logged the expired timestamp metadata")
	}
	e2eproc.WaitFor(t, 30*time.Second, "the updater's event outbox to drain", func() (bool, error) {
		out, err := exec.Command(updater, "status", "--json", "--state-dir", state).Output()
		var st struct {
			Pending int `json:"pending_events"`
		}
		if err == nil {
			err = json.Unmarshal(out, &st)
		}
		return err == nil && st.Pending == 0, err
	})
	if t.Failed() {
		return
	}
	t.Logf("from the updater's start to the end: %v", time.Since(start).Round(100*time.Millisecond))
	record(t, result{
		Fault: "the real updater's wall clock jumps forwards and backwards (vigil_fakeclock build)",
		Tried: fmt.Sprintf("+8 days (timestamp and snapshot metadata expired), -30 min, and -12 h with a restart (server certificate not yet valid), each with a new version pinned; %d polls held at each of the first and last", polls),
		Result: "refresh refused (expired metadata, then TLS), logged as a failed update check; the agent kept running its version, no rollback, no quarantine; " +
			"each pinned update installed once the clock was right (at -30 min, at once), each commit reported once; never an older version; " +
			"the failed check's event, refused as 8 days ahead, was logged at WARN once and reached the server with its time and the skew noted",
	})
}

// skewNote and warnSkew find the skew the updater notes in an event's reason and says in its WARN.
var (
	skewNote = regexp.MustCompile(`\[host clock (\S+) ahead of the server; time set to the server's\]$`)
	warnSkew = regexp.MustCompile(`The server refused an update event: this host's clock is (\S+) ahead`)
)

// aboutEightDays reports whether re finds in s a duration within a minute of 8 days.
func aboutEightDays(re *regexp.Regexp, s string) bool {
	m := re.FindStringSubmatch(s)
	if m == nil {
		return false
	}
	d, err := time.ParseDuration(m[1])
	return err == nil && d > 8*24*time.Hour-time.Minute && d < 8*24*time.Hour+time.Minute
}

// logText returns the log at path ("" when unreadable).
func logText(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// fetchBody returns the body of an unauthenticated GET from s.
func fetchBody(ctx context.Context, s *e2eproc.Server, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 1<<20))
}

// countEvents counts the events of phase and result towards version to.
func countEvents(events []api.UpdateEvent, phase, result, to string) int {
	n := 0
	for _, e := range events {
		if e.Phase == phase && e.Result == result && e.ToVersion == to {
			n++
		}
	}
	return n
}
