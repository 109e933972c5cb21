package alert_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/alert"
	"github.com/vigilhq/vigil/server/sqlitestore"
	"github.com/vigilhq/vigil/wire"
)

// t0 is the fake clock's start; the server started an hour earlier unless a test says otherwise.
var t0 = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// store is the whole store the engine runs against: server.Store for enrolling and ingesting,
// alert.Store for the engine.
type store interface {
	server.Store
	alert.Store
}

// harness drives an Engine over a real SQLite store with a fake clock.
type harness struct {
	t     *testing.T
	ctx   context.Context
	st    store
	clock *fakeClock
	eng   *alert.Engine
	cfg   alert.Config
	seq   map[string]uint64
	names map[string]string
	boot  map[string]time.Time
}

func openSQLite(t testing.TB) *sqlitestore.Store {
	t.Helper()
	s, err := sqlitestore.Open(t.Context(), filepath.Join(t.TempDir(), "vigil.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newHarness makes an engine with: server started an hour before t0, interval 10s (grace 30s),
// flap damping 1m, repeat 4h, only the default silence rule unless rules are added.
func newHarness(t *testing.T, tune func(*alert.Config)) *harness {
	t.Helper()
	h := &harness{t: t, ctx: t.Context(), st: openSQLite(t), clock: &fakeClock{now: t0},
		seq: map[string]uint64{}, names: map[string]string{}, boot: map[string]time.Time{}}
	// Keep only the silence rule; tests that need others add them.
	rules, err := h.st.ListRules(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		if r.Kind != alert.KindSilence {
			if err := h.st.DeleteRule(h.ctx, r.ID, server.AuditEntry{Action: "rule.delete"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	h.cfg = alert.Config{
		Store: h.st, Logger: quietLog(), Now: h.clock.Now, Started: t0.Add(-time.Hour),
		Recipients: []string{"ops@example.com"}, PublicURL: "https://vigil.example.com",
		ScanInterval: 10 * time.Second, FlapDamping: time.Minute,
	}
	if tune != nil {
		tune(&h.cfg)
	}
	h.eng, err = alert.NewEngine(h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *harness) group(name string) {
	h.t.Helper()
	if err := h.st.CreateGroup(h.ctx, server.Group{Name: name, CreatedAt: t0, AlertEmails: []string{name + "@example.com"}}, server.AuditEntry{Action: "group.create"}); err != nil {
		h.t.Fatal(err)
	}
}

// host enrolls a host and has it report once at the current time.
func (h *harness) host(name, group string) string {
	h.t.Helper()
	if group == "" {
		group = server.DefaultGroup
	}
	tok := server.EnrollmentToken{ID: "tok-" + name, Group: group, MaxUses: 1, CreatedAt: t0, Hash: "hash-" + name}
	if err := h.st.CreateEnrollmentToken(h.ctx, tok, server.AuditEntry{Action: "token.create"}); err != nil {
		h.t.Fatal(err)
	}
	host, err := h.st.Enroll(h.ctx, tok.Hash, t0, server.Host{ID: "h-" + name, Hostname: name, IntervalSeconds: 10}, "cred-"+name)
	if err != nil {
		h.t.Fatal(err)
	}
	h.names[host.ID] = name
	h.report(host.ID, nil)
	return host.ID
}

// report commits one report from a host, received now.
func (h *harness) report(id string, mutate func(r *wire.Report)) {
	h.t.Helper()
	h.seq[id]++
	now := h.clock.Now()
	boot, ok := h.boot[id]
	if !ok {
		boot = t0.Add(-24 * time.Hour)
	}
	r := wire.Report{Seq: h.seq[id], Time: now, IntervalSeconds: 10, BootTime: boot,
		CPU: &wire.CPU{Cores: 4, BusyPct: 10}, Memory: &wire.Memory{TotalBytes: 1000, AvailableBytes: 500, UsedPct: 50}}
	if mutate != nil {
		mutate(&r)
	}
	h.boot[id] = r.BootTime
	if _, err := h.st.CommitReports(h.ctx, []server.HostReports{{HostID: id, Reports: []wire.Report{r}, Received: now}}); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) tick() {
	h.t.Helper()
	if err := h.eng.Tick(h.ctx); err != nil {
		h.t.Fatalf("Tick at %s: %v", h.clock.Now().Sub(t0), err)
	}
}

// run advances the clock to t0+until one second at a time, ticking each second; every host in
// reporting reports every 10 seconds (on the seconds divisible by 10 of its phase).
func (h *harness) run(until time.Duration, reporting ...string) {
	h.t.Helper()
	for now := h.clock.Now(); now.Sub(t0) < until; {
		now = now.Add(time.Second)
		h.clock.set(now)
		for i, id := range reporting {
			if int(now.Sub(t0)/time.Second)%10 == i%10 {
				h.report(id, nil)
			}
		}
		h.tick()
	}
}

func (h *harness) notifications() []alert.Notification {
	h.t.Helper()
	ns, err := h.st.ListNotifications(h.ctx, 0, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	slices.Reverse(ns)
	return ns
}

// wantEmails checks the queued emails' events and subjects (substrings), in order.
func (h *harness) wantEmails(want ...string) []alert.Notification {
	h.t.Helper()
	ns := h.notifications()
	var got []string
	for _, n := range ns {
		got = append(got, n.Event+": "+strings.TrimPrefix(n.Subject, "[vigil] "))
	}
	ok := len(got) == len(want)
	for i := 0; ok && i < len(want); i++ {
		ok = strings.Contains(got[i], want[i])
	}
	if !ok {
		h.t.Fatalf("at t0+%s emails:\n  %s\nwant:\n  %s", h.clock.Now().Sub(t0), strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	return ns
}

func (h *harness) alert(key string) alert.Alert {
	h.t.Helper()
	as, err := h.st.ListAlerts(h.ctx, alert.AlertFilter{})
	if err != nil {
		h.t.Fatal(err)
	}
	for _, a := range as {
		if a.Key == key {
			return a
		}
	}
	h.t.Fatalf("no alert %s", key)
	return alert.Alert{}
}

func (h *harness) openAlerts() map[string]string {
	h.t.Helper()
	as, err := h.st.OpenAlerts(h.ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]string{}
	for _, a := range as {
		out[a.Key] = a.State
	}
	return out
}

func TestSilenceLate(t *testing.T) {
	h := newHarness(t, nil)
	id := h.host("web-1", "")
	h.run(19 * time.Second)
	if len(h.openAlerts()) != 0 {
		t.Fatalf("alert before the host missed a report: %v", h.openAlerts())
	}
	// At last report + 2 intervals it is late: pending, no email.
	h.run(21 * time.Second)
	if st := h.openAlerts()["silence/"+id]; st != alert.StatePending {
		t.Fatalf("late host's alert state = %q, want pending", st)
	}
	h.wantEmails()
	// A late host that reports again resolves without any email.
	h.report(id, nil)
	h.run(25 * time.Second)
	if len(h.openAlerts()) != 0 {
		t.Fatalf("alerts after the late host reported: %v", h.openAlerts())
	}
	h.wantEmails()
}

func TestSilenceDown(t *testing.T) {
	h := newHarness(t, nil)
	id := h.host("web-1", "")
	// Deadline: last report + 10s interval + 30s grace.
	h.run(40 * time.Second)
	h.wantEmails()
	h.run(41 * time.Second)
	ns := h.wantEmails("firing: FIRING: web-1 is silent")
	n := ns[0]
	if !slices.Equal(n.To, []string{"ops@example.com", "default@example.com"}) && !slices.Equal(n.To, []string{"ops@example.com"}) {
		t.Errorf("recipients %v", n.To)
	}
	if !strings.Contains(n.Text, "https://vigil.example.com/hosts/"+id) || !strings.Contains(n.HTML, `href="https://vigil.example.com/hosts/`+id+`"`) {
		t.Errorf("email lacks the host link:\n%s\n%s", n.Text, n.HTML)
	}
	if !strings.HasSuffix(n.MessageID, "@vigil.example.com") || n.MessageID != alert.MessageID(n.Key, "https://vigil.example.com") {
		t.Errorf("Message-ID %q not derived from key %q", n.MessageID, n.Key)
	}
	// Staying silent sends nothing more (the repeat interval is 4h).
	h.run(30 * time.Minute)
	h.wantEmails("FIRING: web-1 is silent")
	a := h.alert("silence/" + id)
	if a.State != alert.StateFiring || a.LastSeen != t0 {
		t.Errorf("alert %+v", a)
	}
	full, err := h.st.GetAlert(h.ctx, a.ID)
	if err != nil || len(full.History) != 2 || full.History[0].State != alert.StatePending || full.History[1].State != alert.StateFiring {
		t.Errorf("history %+v, %v; want pending then firing", full.History, err)
	}
}

func TestRecoveryWithFlapDamping(t *testing.T) {
	h := newHarness(t, nil)
	id := h.host("web-1", "")
	h.run(2 * time.Minute)
	h.wantEmails("FIRING: web-1 is silent")

	// It comes back for one report and goes quiet again: no email at all.
	h.report(id, nil)
	h.run(2*time.Minute + 5*time.Second)
	if a := h.alert("silence/" + id); a.RecoveringSince.IsZero() {
		t.Fatalf("host that reported is not recovering: %+v", a)
	}
	h.run(4 * time.Minute)
	h.wantEmails("FIRING: web-1 is silent")
	if a := h.alert("silence/" + id); a.State != alert.StateFiring || !a.RecoveringSince.IsZero() {
		t.Fatalf("flapping host: %+v", a)
	}

	// Back for good at 4m: the recovery email waits for the flap damping time (1m).
	h.report(id, nil)
	h.run(4*time.Minute+55*time.Second, id)
	h.wantEmails("FIRING: web-1 is silent")
	h.run(5*time.Minute+5*time.Second, id)
	ns := h.wantEmails("FIRING: web-1 is silent", "resolved: RESOLVED: web-1 is reporting again after 4m0s silent")
	if !strings.Contains(ns[1].Text, "silent for 4m0s") || !strings.Contains(ns[1].Text, "unknown") {
		t.Errorf("recovery email:\n%s", ns[1].Text)
	}
	if len(h.openAlerts()) != 0 {
		t.Errorf("open alerts after recovery: %v", h.openAlerts())
	}
	// A later silence is a new alert with its own emails.
	h.run(7 * time.Minute)
	h.wantEmails("FIRING", "RESOLVED", "FIRING: web-1 is silent")
}

func TestRepeat(t *testing.T) {
	h := newHarness(t, func(c *alert.Config) { c.RepeatInterval = 10 * time.Minute; c.ScanInterval = time.Minute })
	h.host("web-1", "")
	h.run(41 * time.Second)
	h.wantEmails("FIRING: web-1 is silent")
	h.run(10*time.Minute + 40*time.Second)
	h.wantEmails("FIRING: web-1 is silent")
	h.run(10*time.Minute + 42*time.Second)
	h.wantEmails("FIRING: web-1 is silent", "reminder: STILL FIRING")
	h.run(21 * time.Minute)
	ns := h.wantEmails("FIRING: web-1 is silent", "reminder: STILL FIRING", "reminder: STILL FIRING")
	if ns[1].Key == ns[2].Key {
		t.Errorf("reminders share the key %s", ns[1].Key)
	}
}

func TestGroupCollapse(t *testing.T) {
	h := newHarness(t, nil)
	h.group("web")
	var ids []string
	for i := range 5 {
		h.clock.set(t0.Add(time.Duration(i) * 2 * time.Second)) // staggered report phases
		ids = append(ids, h.host(fmt.Sprintf("web-%d", i), "web"))
	}
	h.clock.set(t0.Add(10 * time.Second))
	// Four of five stop reporting; web-4 keeps going.
	h.run(3*time.Minute, ids[4])
	ns := h.wantEmails("group_firing: FIRING: 4 of 5 hosts in group web stopped reporting")
	for _, name := range []string{"web-0", "web-1", "web-2", "web-3"} {
		if !strings.Contains(ns[0].Text, name) {
			t.Errorf("group email does not name %s:\n%s", name, ns[0].Text)
		}
	}
	if !slices.Contains(ns[0].To, "web@example.com") {
		t.Errorf("group email recipients %v lack the group's", ns[0].To)
	}
	open := h.openAlerts()
	if open["silence-group/web"] != alert.StateFiring || len(open) != 5 {
		t.Fatalf("open alerts %v", open)
	}
	// They come back: one group recovery email after the flap damping time.
	for _, id := range ids[:4] {
		h.report(id, nil)
	}
	h.run(5*time.Minute, ids...)
	ns = h.wantEmails("group_firing: FIRING: 4 of 5", "group_resolved: RESOLVED: all 4 silent hosts of group web report again")
	if !strings.Contains(ns[1].Text, "web-0: silent for") {
		t.Errorf("group recovery email lacks the hosts' durations:\n%s", ns[1].Text)
	}
	if len(h.openAlerts()) != 0 {
		t.Errorf("open alerts %v", h.openAlerts())
	}
}

func TestGroupNoCollapseBelowShare(t *testing.T) {
	h := newHarness(t, nil)
	h.group("web")
	var ids []string
	for i := range 6 {
		ids = append(ids, h.host(fmt.Sprintf("web-%d", i), "web"))
	}
	// Two of six (a third) stop: each gets its own email.
	h.run(2*time.Minute, ids[2:]...)
	h.wantEmails("firing: FIRING: web-0 is silent", "firing: FIRING: web-1 is silent")
}

func TestMaintenanceSilence(t *testing.T) {
	h := newHarness(t, nil)
	id := h.host("web-1", "")
	other := h.host("db-1", "")
	sil := alert.Silence{ID: "s-1", HostID: id, StartsAt: t0, EndsAt: t0.Add(5 * time.Minute)}
	if err := h.st.CreateSilence(h.ctx, sil, server.AuditEntry{Action: "silence.create"}); err != nil {
		t.Fatal(err)
	}
	h.run(2 * time.Minute)
	// db-1 is not covered: its email goes; web-1's is held back while it is in maintenance.
	h.wantEmails("FIRING: db-1 is silent")
	if a := h.alert("silence/" + id); a.State != alert.StateFiring || !a.Suppressed {
		t.Fatalf("silenced alert %+v", a)
	}
	// Still firing when the maintenance ends: its email goes then, once.
	h.run(5*time.Minute + 15*time.Second)
	h.wantEmails("FIRING: db-1 is silent", "FIRING: web-1 is silent")
	// A group silence that starts after both FIRING emails went holds back new emails, but not
	// the recovery of an alert whose FIRING email went: db-1 recovers inside it, and its
	// RESOLVED email goes at once (issue 12).
	if err := h.st.CreateSilence(h.ctx, alert.Silence{ID: "s-2", Group: server.DefaultGroup, StartsAt: h.clock.Now(), EndsAt: h.clock.Now().Add(time.Hour)}, server.AuditEntry{}); err != nil {
		t.Fatal(err)
	}
	h.report(other, nil)
	h.run(8*time.Minute, other)
	h.wantEmails("FIRING: db-1 is silent", "FIRING: web-1 is silent", "resolved: RESOLVED: db-1 is reporting again")
	if len(h.openAlerts()) != 1 {
		t.Errorf("open alerts %v, want only web-1's", h.openAlerts())
	}
}

// TestMaintenanceSilenceAfterFiring is issue 12: a silence that starts after an alert's FIRING
// email went must not swallow its RESOLVED email, for silence and for metric alerts, for a host
// and for a rule silence; reminders stay held back meanwhile.
func TestMaintenanceSilenceAfterFiring(t *testing.T) {
	h := newHarness(t, func(c *alert.Config) { c.RepeatInterval = 2 * time.Minute })
	addRule(t, h, alert.Rule{ID: "cpu", Name: "CPU above 90%", Kind: alert.KindCPU, Threshold: 90})
	id := h.host("web-1", "")
	busy := h.host("app-1", "")
	cpu := 99.0
	// step runs to t0+until a second at a time; app-1 reports every 10s with CPU at cpu.
	step := func(until time.Duration, reporting ...string) {
		for h.clock.Now().Sub(t0) < until {
			h.clock.set(h.clock.Now().Add(time.Second))
			if h.clock.Now().Sub(t0)%(10*time.Second) == 0 {
				h.report(busy, func(r *wire.Report) { r.CPU.BusyPct = cpu })
				for _, r := range reporting {
					h.report(r, nil)
				}
			}
			h.tick()
		}
	}
	step(50 * time.Second)
	h.wantEmails("FIRING: app-1: CPU above 90%", "FIRING: web-1 is silent")
	// Maintenance starts after both FIRING emails went: on web-1, and on the CPU rule.
	now := h.clock.Now()
	for _, sil := range []alert.Silence{
		{ID: "s-host", HostID: id, StartsAt: now, EndsAt: now.Add(time.Hour)},
		{ID: "s-rule", RuleID: "cpu", StartsAt: now, EndsAt: now.Add(time.Hour)},
	} {
		if err := h.st.CreateSilence(h.ctx, sil, server.AuditEntry{Action: "silence.create"}); err != nil {
			t.Fatal(err)
		}
	}
	// Past the repeat interval: the silences hold the reminders back.
	step(4 * time.Minute)
	h.wantEmails("FIRING: app-1: CPU above 90%", "FIRING: web-1 is silent")
	for _, key := range []string{"silence/" + id, "cpu/" + busy + "/"} {
		if a := h.alert(key); a.State != alert.StateFiring || a.Reminders != 0 {
			t.Errorf("alert %s in maintenance: %+v", key, a)
		}
	}
	// Both recover inside the silences: both RESOLVED emails go, once the flap damping passed.
	cpu = 10
	step(6*time.Minute, id)
	h.wantEmails("FIRING: app-1: CPU above 90%", "FIRING: web-1 is silent",
		"resolved: RESOLVED: web-1 is reporting again", "resolved: RESOLVED: app-1: CPU above 90% resolved")
	if len(h.openAlerts()) != 0 {
		t.Errorf("open alerts %v", h.openAlerts())
	}
}

// TestMaintenanceSilenceBeforeFiring is the other direction: an alert whose FIRING email a
// silence held back, and that resolves inside it, sends nothing at all, not a RESOLVED email
// about something the operator never heard of, and not a late FIRING once the silence ends.
func TestMaintenanceSilenceBeforeFiring(t *testing.T) {
	h := newHarness(t, nil)
	id := h.host("web-1", "")
	if err := h.st.CreateSilence(h.ctx, alert.Silence{ID: "s-1", HostID: id, StartsAt: t0, EndsAt: t0.Add(10 * time.Minute)}, server.AuditEntry{}); err != nil {
		t.Fatal(err)
	}
	h.run(2 * time.Minute)
	if a := h.alert("silence/" + id); a.State != alert.StateFiring || !a.Suppressed || !a.NotifiedAt.IsZero() {
		t.Fatalf("silenced alert %+v", a)
	}
	h.report(id, nil)
	h.run(4*time.Minute, id)
	if a := h.alert("silence/" + id); a.State != alert.StateResolved {
		t.Fatalf("alert %+v, want resolved", a)
	}
	h.run(12*time.Minute, id)
	h.wantEmails()
}

func TestServerRestartGrace(t *testing.T) {
	// The host last reported long before the server started (the server was down).
	h := newHarness(t, func(c *alert.Config) { c.Started = t0.Add(30 * time.Minute) })
	h.host("web-1", "")
	h.clock.set(t0.Add(30 * time.Minute))
	h.run(30*time.Minute + 40*time.Second)
	h.wantEmails()
	if len(h.openAlerts()) != 1 { // late (pending) after two intervals, but no email
		t.Errorf("open alerts %v", h.openAlerts())
	}
	h.run(30*time.Minute + 41*time.Second)
	h.wantEmails("FIRING: web-1 is silent")
	if !strings.Contains(h.notifications()[0].Text, "30m41s") {
		t.Errorf("silence duration should count from the last report:\n%s", h.notifications()[0].Text)
	}
}

func TestGracePerGroup(t *testing.T) {
	h := newHarness(t, nil)
	if err := h.st.CreateGroup(h.ctx, server.Group{Name: "slow", Grace: 5 * time.Minute, CreatedAt: t0}, server.AuditEntry{}); err != nil {
		t.Fatal(err)
	}
	h.host("batch-1", "slow")
	h.run(5*time.Minute + 10*time.Second)
	h.wantEmails()
	h.run(5*time.Minute + 11*time.Second)
	h.wantEmails("FIRING: batch-1 is silent")
}

func addRule(t *testing.T, h *harness, r alert.Rule) {
	t.Helper()
	if r.ID == "" {
		r.ID = "r-" + r.Kind
	}
	if err := h.st.CreateRule(h.ctx, r, server.AuditEntry{Action: "rule.create"}); err != nil {
		t.Fatal(err)
	}
}

func TestThresholdFor(t *testing.T) {
	h := newHarness(t, nil)
	addRule(t, h, alert.Rule{Name: "CPU busy", Kind: alert.KindCPU, Threshold: 90, For: alert.Duration(5 * time.Minute)})
	id := h.host("web-1", "")
	hot := func(r *wire.Report) { r.CPU.BusyPct = 97 }
	cool := func(r *wire.Report) { r.CPU.BusyPct = 20 }
	reportEvery := func(until time.Duration, mutate func(*wire.Report)) {
		for h.clock.Now().Sub(t0) < until {
			h.clock.set(h.clock.Now().Add(10 * time.Second))
			h.report(id, mutate)
			h.tick()
		}
	}
	// A two-minute spike: pending, then resolved without email.
	reportEvery(2*time.Minute, hot)
	if st := h.openAlerts()["r-cpu/"+id+"/"]; st != alert.StatePending {
		t.Fatalf("CPU alert during spike = %q, want pending (open %v)", st, h.openAlerts())
	}
	reportEvery(3*time.Minute, cool)
	h.wantEmails()
	if len(h.openAlerts()) != 0 {
		t.Fatalf("open alerts after the spike: %v", h.openAlerts())
	}
	// Sustained: fires after five minutes.
	start := h.clock.Now()
	reportEvery(start.Sub(t0)+4*time.Minute+50*time.Second, hot)
	h.wantEmails()
	reportEvery(start.Sub(t0)+5*time.Minute+20*time.Second, hot)
	ns := h.wantEmails("firing: FIRING: web-1: CPU busy")
	if !strings.Contains(ns[0].Text, "CPU busy 97.0% (above 90%)") {
		t.Errorf("email:\n%s", ns[0].Text)
	}
	// Cleared: resolved after flap damping.
	reportEvery(start.Sub(t0)+7*time.Minute, cool)
	h.wantEmails("FIRING: web-1: CPU busy", "resolved: RESOLVED: web-1: CPU busy resolved")
}

func TestMetricRules(t *testing.T) {
	h := newHarness(t, func(c *alert.Config) { c.FlapDamping = -1 })
	addRule(t, h, alert.Rule{Name: "Disk full", Kind: alert.KindDisk, Threshold: 90})
	addRule(t, h, alert.Rule{Name: "Memory low", Kind: alert.KindMemory, Threshold: 5})
	addRule(t, h, alert.Rule{Name: "Load high", Kind: alert.KindLoad, Threshold: 2})
	id := h.host("web-1", "")
	h.clock.set(t0.Add(10 * time.Second))
	h.report(id, func(r *wire.Report) {
		r.Mounts = []wire.Mount{{Path: "/", UsedPct: 50}, {Path: "/var", UsedPct: 95}}
		r.Memory.AvailableBytes = 30  // 3%
		r.Load = &wire.Load{Load1: 9} // 2.25 per core on 4
	})
	h.tick()
	h.wantEmails("FIRING: web-1: Disk full", "FIRING: web-1: Load high", "FIRING: web-1: Memory low")
	if h.openAlerts()["r-disk/"+id+"//var"] != alert.StateFiring {
		t.Errorf("disk alert is not per mount: %v", h.openAlerts())
	}
	h.clock.set(t0.Add(20 * time.Second))
	h.report(id, nil)
	h.tick()
	if len(h.notifications()) != 6 {
		t.Errorf("want three recovery emails without damping: %v", h.wantEmails())
	}
}

func TestProcessAndUnitRules(t *testing.T) {
	h := newHarness(t, func(c *alert.Config) { c.FlapDamping = 30 * time.Second })
	addRule(t, h, alert.Rule{ID: "r-proc", Name: "nginx down", Kind: alert.KindProcess, Match: "nginx"})
	addRule(t, h, alert.Rule{ID: "r-unit", Name: "unit failed", Kind: alert.KindUnit})
	id := h.host("web-1", "")
	healthy := func(r *wire.Report) {
		r.Processes = []wire.Process{{Name: "nginx", Running: 2, Instances: []wire.ProcInst{{PID: 10, StartTime: t0.Add(-time.Hour)}}}, {Name: "cron", Running: 0}}
		r.Units = []wire.Unit{{Name: "nginx.service", ActiveState: "active", SubState: "running"}}
	}
	h.clock.set(t0.Add(10 * time.Second))
	h.report(id, healthy)
	h.tick()
	h.wantEmails() // cron is not running, but the rule watches nginx only
	// nginx gone, and a unit failed.
	h.clock.set(t0.Add(20 * time.Second))
	h.report(id, func(r *wire.Report) {
		healthy(r)
		r.Processes[0] = wire.Process{Name: "nginx", Running: 0}
		r.Events = []wire.ProcEvent{{Name: "nginx", Kind: wire.ProcGone, Time: t0}}
		r.Units[0] = wire.Unit{Name: "nginx.service", ActiveState: "failed", SubState: "failed", Result: "exit-code"}
	})
	h.tick()
	h.wantEmails("FIRING: web-1: nginx down", "FIRING: web-1: unit failed")
	if ns := h.notifications(); !strings.Contains(ns[0].Text, "process nginx is not running") || !strings.Contains(ns[1].Text, "unit nginx.service failed (failed, result exit-code)") {
		t.Errorf("emails:\n%s\n%s", ns[0].Text, ns[1].Text)
	}
	// Back, then a restart (new instance start time) while the unit recovered.
	h.clock.set(t0.Add(30 * time.Second))
	h.report(id, healthy)
	h.tick()
	h.clock.set(t0.Add(80 * time.Second))
	h.report(id, healthy)
	h.tick()
	h.wantEmails("FIRING: web-1: nginx down", "FIRING: web-1: unit failed", "RESOLVED: web-1: nginx down", "RESOLVED: web-1: unit failed")
	h.clock.set(t0.Add(90 * time.Second))
	h.report(id, func(r *wire.Report) {
		healthy(r)
		r.Processes[0].Instances = []wire.ProcInst{{PID: 11, StartTime: t0.Add(85 * time.Second)}}
	})
	h.tick()
	ns := h.wantEmails("FIRING", "FIRING", "RESOLVED", "RESOLVED", "FIRING: web-1: nginx down")
	if !strings.Contains(ns[4].Text, "process nginx restarted") {
		t.Errorf("restart email:\n%s", ns[4].Text)
	}
}

func TestRecoveryReason(t *testing.T) {
	for _, tt := range []struct {
		name   string
		mutate func(r *wire.Report)
		want   string
	}{
		{"network", func(r *wire.Report) {
			r.Outages = []wire.Outage{{Start: t0.Add(9 * time.Second), End: t0.Add(3 * time.Minute), Class: wire.OutageConnect, Detail: "connection refused"}}
		}, "network outage: the host was up but could not reach the server"},
		{"reboot", func(r *wire.Report) { r.BootTime = t0.Add(2 * time.Minute) }, "the host rebooted"},
		{"unknown", nil, "unknown (no connectivity outage reported, no reboot)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			id := h.host("web-1", "")
			h.run(3 * time.Minute)
			h.report(id, tt.mutate)
			h.run(5*time.Minute, id)
			ns := h.wantEmails("FIRING: web-1 is silent", "RESOLVED: web-1 is reporting again after 3m0s silent")
			if !strings.Contains(ns[1].Text, "Why: "+tt.want) {
				t.Errorf("recovery email does not say %q:\n%s", tt.want, ns[1].Text)
			}
			if a := h.alert("silence/" + id); a.Reason != tt.name {
				t.Errorf("alert reason %q, want %q", a.Reason, tt.name)
			}
		})
	}
}

// TestTakeover has a second engine (a new leader) continue from what the first one stored: the
// firing alert is not fired again, and the recovery email goes once.
func TestTakeover(t *testing.T) {
	h := newHarness(t, nil)
	id := h.host("web-1", "")
	h.run(2 * time.Minute)
	h.wantEmails("FIRING: web-1 is silent")
	next, err := alert.NewEngine(h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.eng = next
	h.run(3 * time.Minute)
	h.wantEmails("FIRING: web-1 is silent")
	h.report(id, nil)
	h.run(5*time.Minute, id)
	h.wantEmails("FIRING: web-1 is silent", "RESOLVED: web-1 is reporting again")
}

// flakyStore fails the first SaveAlert that queues an email, as a store that lost its
// connection for a moment would, with an error that is not a conflict.
type flakyStore struct {
	alert.Store
	mu     sync.Mutex
	failed bool
}

func (f *flakyStore) SaveAlert(ctx context.Context, a *alert.Alert, ev alert.AlertEvent, notes []alert.Notification) error {
	f.mu.Lock()
	fail := !f.failed && len(notes) > 0
	if fail {
		f.failed = true
	}
	f.mu.Unlock()
	if fail {
		return fmt.Errorf("database is locked (simulated)")
	}
	return f.Store.SaveAlert(ctx, a, ev, notes)
}

// TestSaveFailureLosesNoEmail: a save that fails after the engine changed the alert in memory
// (pending → firing, notified) must not leave memory ahead of the store; the firing email goes
// out at a later tick, once.
func TestSaveFailureLosesNoEmail(t *testing.T) {
	h := newHarness(t, nil)
	fs := &flakyStore{Store: h.st}
	cfg := h.cfg
	cfg.Store = fs
	eng, err := alert.NewEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	id := h.host("web-1", "")
	sawErr := false
	for now := h.clock.Now(); now.Sub(t0) < 2*time.Minute; {
		now = now.Add(time.Second)
		h.clock.set(now)
		if err := eng.Tick(h.ctx); err != nil {
			sawErr = true
		}
	}
	if !sawErr || !fs.failed {
		t.Fatal("the simulated store failure did not happen")
	}
	h.wantEmails("firing: FIRING: web-1 is silent")
	if st := h.openAlerts()["silence/"+id]; st != alert.StateFiring {
		t.Fatalf("stored alert state %q, want firing", st)
	}
}

// TestCheckRules: a check rule fires when its named check fails for the rule's duration, not for
// another check, and resolves when the check passes again; a rule without a match covers every
// check and resolves when a failing check is no longer reported.
func TestCheckRules(t *testing.T) {
	h := newHarness(t, func(c *alert.Config) { c.FlapDamping = -1 })
	addRule(t, h, alert.Rule{ID: "r-site", Name: "site down", Kind: alert.KindCheck, Match: "site", For: alert.Duration(time.Minute)})
	addRule(t, h, alert.Rule{ID: "r-any", Name: "any check", Kind: alert.KindCheck})
	id := h.host("web-1", "")
	checks := func(siteOK bool, others ...wire.CheckResult) func(r *wire.Report) {
		return func(r *wire.Report) {
			r.Checks = append([]wire.CheckResult{{Name: "site", Kind: wire.CheckHTTP, OK: siteOK, Value: 12, Unit: wire.UnitMillis,
				Message: map[bool]string{true: "status 200", false: "status 503, want 200"}[siteOK], CheckedAt: h.clock.Now()}}, others...)
		}
	}
	h.clock.set(t0.Add(10 * time.Second))
	h.report(id, checks(true))
	h.tick()
	h.wantEmails()

	// The site fails: pending for a minute on r-site, firing at once on r-any.
	h.clock.set(t0.Add(20 * time.Second))
	h.report(id, checks(false))
	h.tick()
	h.wantEmails("FIRING: web-1: any check")
	if got := h.openAlerts()["r-site/"+id+"/site"]; got != alert.StatePending {
		t.Errorf("r-site alert %q, want pending: %v", got, h.openAlerts())
	}
	h.clock.set(t0.Add(90 * time.Second))
	h.report(id, checks(false))
	h.tick()
	ns := h.wantEmails("FIRING: web-1: any check", "FIRING: web-1: site down")
	if !strings.Contains(ns[1].Text, "http check site failing: status 503, want 200") {
		t.Errorf("firing email does not say what failed:\n%s", ns[1].Text)
	}

	// The site passes again while another check fails: only r-site resolves.
	backup := wire.CheckResult{Name: "backup", Kind: wire.CheckFile, Value: 200000, Unit: wire.UnitSeconds,
		Message: "written 55h33m20s ago; older than 26h0m0s", CheckedAt: t0}
	h.clock.set(t0.Add(100 * time.Second))
	h.report(id, checks(true, backup))
	h.tick()
	h.wantEmails("FIRING: web-1: any check", "FIRING: web-1: site down", "FIRING: web-1: any check", "RESOLVED: web-1: any check", "RESOLVED: web-1: site down")
	if h.alert("r-any/"+id+"/backup").State != alert.StateFiring {
		t.Errorf("the backup check's alert is not firing: %v", h.openAlerts())
	}
	// The backup check is removed from the agent's configuration: its alert resolves.
	h.clock.set(t0.Add(110 * time.Second))
	h.report(id, checks(true))
	h.tick()
	if open := h.openAlerts(); len(open) != 0 {
		t.Errorf("open alerts after every check passes or is gone: %v", open)
	}
}

func TestValidateCheckRule(t *testing.T) {
	for _, tt := range []struct {
		rule alert.Rule
		ok   bool
	}{
		{alert.Rule{Kind: alert.KindCheck, Match: "site", For: alert.Duration(time.Minute)}, true},
		{alert.Rule{Kind: alert.KindCheck}, true},
		{alert.Rule{Kind: alert.KindCheck, Match: "my site"}, false},
		{alert.Rule{Kind: alert.KindCheck, Match: "a/b"}, false},
		{alert.Rule{Kind: alert.KindCheck, Threshold: 3}, false},
		{alert.Rule{Kind: "checks"}, false},
	} {
		if err := alert.ValidateRule(tt.rule); (err == nil) != tt.ok || (err != nil && !errors.Is(err, server.ErrInvalid)) {
			t.Errorf("ValidateRule(%+v) = %v, want ok=%v", tt.rule, err, tt.ok)
		}
	}
}

// TestAnomalyRules: an anomaly rule fires on the agent's hint for its metric once it lasted the
// rule's duration, and resolves when the hints stop.
func TestAnomalyRules(t *testing.T) {
	h := newHarness(t, func(c *alert.Config) { c.FlapDamping = -1 })
	addRule(t, h, alert.Rule{ID: "r-anom", Name: "CPU unusual", Kind: alert.KindAnomaly, Match: "cpu.busy_pct", For: alert.Duration(30 * time.Second)})
	id := h.host("web-1", "")
	hint := func(metric string) func(r *wire.Report) {
		return func(r *wire.Report) {
			r.Hints = []wire.AnomalyHint{{Metric: metric, Value: 93, Score: 12.6, Mean: 30, StdDev: 5, Hour: 14}}
		}
	}
	h.clock.set(t0.Add(10 * time.Second))
	h.report(id, hint("memory.used_pct")) // another metric: nothing
	h.tick()
	for _, at := range []time.Duration{20 * time.Second, 60 * time.Second} {
		h.clock.set(t0.Add(at))
		h.report(id, hint("cpu.busy_pct"))
		h.tick()
	}
	ns := h.wantEmails("FIRING: web-1: CPU unusual")
	if !strings.Contains(ns[0].Text, "cpu.busy_pct 93 unusual for this host at 14:00: 12.6 deviations above its usual 30 ± 5") {
		t.Errorf("firing email:\n%s", ns[0].Text)
	}
	h.clock.set(t0.Add(70 * time.Second))
	h.report(id, nil)
	h.tick()
	h.wantEmails("FIRING: web-1: CPU unusual", "RESOLVED: web-1: CPU unusual")
	if err := alert.ValidateRule(alert.Rule{Kind: alert.KindAnomaly, Match: "CPU"}); err == nil {
		t.Error("an anomaly rule on a metric name no agent sends was accepted")
	}
}

// TestEmailsTellSameNamedHostsApart: when two hosts share a hostname, their emails' subjects
// carry each one's short ID; a host whose name is its own keeps a plain subject. Every email links
// the host with its short ID.
func TestEmailsTellSameNamedHostsApart(t *testing.T) {
	h := newHarness(t, nil)
	first := h.host("web-1", "")
	tok := server.EnrollmentToken{ID: "tok-web-1-again", Group: server.DefaultGroup, MaxUses: 1, CreatedAt: t0, Hash: "hash-web-1-again"}
	if err := h.st.CreateEnrollmentToken(h.ctx, tok, server.AuditEntry{Action: "token.create"}); err != nil {
		t.Fatal(err)
	}
	second, err := h.st.Enroll(h.ctx, tok.Hash, t0, server.Host{ID: "9d8e7f6a5b4c", Hostname: "web-1", IntervalSeconds: 10}, "cred-web-1-again")
	if err != nil {
		t.Fatal(err)
	}
	h.names[second.ID] = "web-1"
	h.report(second.ID, nil)
	db := h.host("db-1", "")
	// Only the second web-1 and db-1 stop.
	h.run(2*time.Minute, first)
	ns := h.wantEmails("FIRING: web-1 [9d8e7f6a] is silent", "FIRING: db-1 is silent")
	if strings.Contains(ns[1].Subject, "[h-db-1") {
		t.Errorf("a unique hostname got an ID in its subject: %q", ns[1].Subject)
	}
	for i, id := range []string{second.ID, db} {
		if want := "[" + id[:min(len(id), 8)] + "]"; !strings.Contains(ns[i].Text, want) || !strings.Contains(ns[i].HTML, want) {
			t.Errorf("email %q does not link the host with its short ID %s:\n%s", ns[i].Subject, want, ns[i].Text)
		}
	}
}

// TestHostnameSharedUntilDeleted: the engine keeps its count of hosts per hostname as hosts come
// and go, so once one of two hosts named alike is deleted, the other's emails name it plainly.
func TestHostnameSharedUntilDeleted(t *testing.T) {
	h := newHarness(t, nil)
	first := h.host("web-1", "")
	tok := server.EnrollmentToken{ID: "tok-web-1-again", Group: server.DefaultGroup, MaxUses: 1, CreatedAt: t0, Hash: "hash-web-1-again"}
	if err := h.st.CreateEnrollmentToken(h.ctx, tok, server.AuditEntry{Action: "token.create"}); err != nil {
		t.Fatal(err)
	}
	second, err := h.st.Enroll(h.ctx, tok.Hash, t0, server.Host{ID: "9d8e7f6a5b4c", Hostname: "web-1", IntervalSeconds: 10}, "cred-web-1-again")
	if err != nil {
		t.Fatal(err)
	}
	h.names[second.ID] = "web-1"
	h.report(second.ID, nil)
	h.run(20*time.Second, first, second.ID)
	h.wantEmails()
	if err := h.st.DeleteHost(h.ctx, first, server.AuditEntry{Action: "host.delete"}); err != nil {
		t.Fatal(err)
	}
	h.run(3*time.Minute, second.ID)
	h.wantEmails()
	h.run(5 * time.Minute)
	ns := h.wantEmails("FIRING: web-1 is silent")
	if strings.Contains(ns[0].Subject, "[9d8e7f6a]") {
		t.Errorf("the only host left named web-1 still has its ID in the subject: %q", ns[0].Subject)
	}
}

var _ alert.AuditPruner = (*sqlitestore.Store)(nil)

// TestUnchangedFiguresStillEvaluatedWhenOutcomeCanChange checks the cases where the engine must
// run the rules although a host's new report has the same figures as the one evaluated before:
// the rules changed, the host moved to another group, or it has an open rule alert (a restart
// timed against the previous evaluation clears on the next report).
func TestUnchangedFiguresStillEvaluatedWhenOutcomeCanChange(t *testing.T) {
	h := newHarness(t, func(c *alert.Config) { c.FlapDamping = -1 })
	h.group("db")
	addRule(t, h, alert.Rule{ID: "r-cpu", Name: "CPU busy", Kind: alert.KindCPU, Threshold: 30, Group: "db"})
	web1, web2 := h.host("web-1", ""), h.host("web-2", "")
	same := func(r *wire.Report) {
		r.CPU.BusyPct = 40
		r.Processes = []wire.Process{{Name: "nginx", Running: 1, Instances: []wire.ProcInst{{PID: 10, StartTime: t0.Add(-time.Hour)}}}}
	}
	step := func(at time.Duration, ids ...string) {
		h.clock.set(t0.Add(at))
		for _, id := range ids {
			h.report(id, same)
		}
		h.tick()
	}
	step(10*time.Second, web1, web2)
	h.wantEmails() // the CPU rule is scoped to group db

	// A move into the group a rule is scoped to applies to the next report, though its figures
	// did not change.
	if err := h.st.MoveHost(h.ctx, web1, "db", server.AuditEntry{Action: "host.move"}); err != nil {
		t.Fatal(err)
	}
	step(20*time.Second, web1, web2)
	h.wantEmails("FIRING: web-1: CPU busy")

	// So does a new rule (web-2 has no open alert).
	addRule(t, h, alert.Rule{ID: "r-mem", Name: "Memory low", Kind: alert.KindMemory, Threshold: 60})
	step(30*time.Second, web2)
	h.wantEmails("FIRING: web-1: CPU busy", "FIRING: web-2: Memory low")

	// A restart seen by its start time (after the previous evaluation) fires, and clears on the
	// next report with the very same figures, because the host has an open rule alert.
	addRule(t, h, alert.Rule{ID: "r-proc", Name: "nginx restarted", Kind: alert.KindProcess, Match: "nginx"})
	restarted := func(r *wire.Report) {
		same(r)
		r.Processes[0].Instances[0].StartTime = t0.Add(35 * time.Second)
	}
	for _, at := range []time.Duration{40 * time.Second, 50 * time.Second} {
		h.clock.set(t0.Add(at))
		h.report(web1, restarted)
		h.tick()
	}
	h.wantEmails("CPU busy", "web-2: Memory low", "web-1: Memory low", "FIRING: web-1: nginx restarted", "RESOLVED: web-1: nginx restarted")
	if _, open := h.openAlerts()["r-cpu/"+web1+"/"]; !open {
		t.Errorf("CPU alert resolved though the figures still cross the threshold: %v", h.openAlerts())
	}
}
