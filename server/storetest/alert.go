package storetest

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/alert"
	"github.com/vigilhq/vigil/wire"
)

// runAlert runs the alert.Store part of the suite; Run calls it. Both stores implement
// alert.Store, so a store that does not fails.
func runAlert(t *testing.T, newStore func(t *testing.T) server.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, f *fixture, s alert.Store)
	}{
		{"AlertDefaultRules", testAlertDefaultRules},
		{"AlertRules", testAlertRules},
		{"AlertSilences", testAlertSilences},
		{"AlertSave", testAlertSave},
		{"AlertHostStates", testAlertHostStates},
		{"AlertRuleFigures", testAlertRuleFigures},
		{"AlertOutboxClaim", testAlertOutboxClaim},
		{"AlertOutboxConcurrentClaims", testAlertOutboxConcurrent},
		{"AlertPrune", testAlertPrune},
		{"AlertAck", testAlertAck},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := newStore(t)
			as, ok := st.(alert.Store)
			if !ok {
				t.Fatalf("%T does not implement alert.Store", st)
			}
			tt.fn(t, &fixture{t: t, s: st, ctx: t.Context()}, as)
		})
	}
}

func testAlertDefaultRules(t *testing.T, f *fixture, s alert.Store) {
	rs, err := s.ListRules(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, r := range rs {
		kinds[r.Kind] = true
		if err := alert.ValidateRule(r); err != nil {
			t.Errorf("default rule %s is invalid: %v", r.ID, err)
		}
		if r.CreatedAt.IsZero() {
			t.Errorf("default rule %s has no CreatedAt", r.ID)
		}
	}
	for _, k := range []string{alert.KindSilence, alert.KindCPU, alert.KindMemory, alert.KindDisk, alert.KindLoad, alert.KindProcess, alert.KindUnit} {
		if !kinds[k] {
			t.Errorf("no default %s rule among %+v", k, rs)
		}
	}
}

func testAlertRules(t *testing.T, f *fixture, s alert.Store) {
	r := alert.Rule{ID: "r-web-cpu", Name: "web CPU", Kind: alert.KindCPU, Threshold: 80, For: alert.Duration(2 * time.Minute),
		Group: "web", CreatedAt: t0, CreatedBy: "alice"}
	if err := s.CreateRule(f.ctx, r, audit("rule.create", "rule/r-web-cpu")); err != nil {
		t.Fatal(err)
	}
	f.wantAudit("rule.create", "rule/r-web-cpu")
	before := f.lastAudit()
	wantErr(t, "CreateRule twice", s.CreateRule(f.ctx, r, audit("rule.create", "rule/r-web-cpu")), server.ErrConflict)
	f.noNewAudit(before, "failed CreateRule")
	rs, err := s.ListRules(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(rs, func(x alert.Rule) bool { return x.ID == r.ID })
	if i < 0 {
		t.Fatalf("rule missing from %+v", rs)
	}
	got := rs[i]
	checkTime(t, "rule CreatedAt", got.CreatedAt, t0)
	got.CreatedAt = r.CreatedAt
	if got != r {
		t.Errorf("ListRules has %+v, want %+v", got, r)
	}
	if err := s.DeleteRule(f.ctx, r.ID, audit("rule.delete", "rule/"+r.ID)); err != nil {
		t.Fatal(err)
	}
	f.wantAudit("rule.delete", "rule/"+r.ID)
	wantErr(t, "DeleteRule missing", s.DeleteRule(f.ctx, r.ID, audit("rule.delete", "x")), server.ErrNotFound)
}

func testAlertSilences(t *testing.T, f *fixture, s alert.Store) {
	past := alert.Silence{ID: "s-past", Group: "web", StartsAt: t0.Add(-2 * time.Hour), EndsAt: t0.Add(-time.Hour)}
	now := alert.Silence{ID: "s-now", HostID: "h-1", RuleID: "default-cpu", StartsAt: t0.Add(-time.Minute), EndsAt: t0.Add(time.Hour), Comment: "kernel update", CreatedAt: t0, CreatedBy: "bob"}
	for _, sl := range []alert.Silence{past, now} {
		if err := s.CreateSilence(f.ctx, sl, audit("silence.create", "silence/"+sl.ID)); err != nil {
			t.Fatal(err)
		}
	}
	f.wantAudit("silence.create", "silence/s-now")
	wantErr(t, "CreateSilence twice", s.CreateSilence(f.ctx, now, audit("silence.create", "x")), server.ErrConflict)
	got, err := s.ListSilences(f.ctx, t0)
	if err != nil || len(got) != 1 {
		t.Fatalf("ListSilences(now) = %+v, %v; want only s-now", got, err)
	}
	checkTime(t, "StartsAt", got[0].StartsAt, now.StartsAt)
	checkTime(t, "EndsAt", got[0].EndsAt, now.EndsAt)
	if got[0].HostID != "h-1" || got[0].RuleID != "default-cpu" || got[0].Comment != "kernel update" || got[0].CreatedBy != "bob" {
		t.Errorf("silence %+v", got[0])
	}
	if all, err := s.ListSilences(f.ctx, time.Time{}); err != nil || len(all) != 2 || all[0].ID != "s-past" {
		t.Errorf("ListSilences(all) = %+v, %v", all, err)
	}
	if err := s.DeleteSilence(f.ctx, "s-now", audit("silence.delete", "silence/s-now")); err != nil {
		t.Fatal(err)
	}
	f.wantAudit("silence.delete", "silence/s-now")
	wantErr(t, "DeleteSilence missing", s.DeleteSilence(f.ctx, "s-now", audit("silence.delete", "x")), server.ErrNotFound)
}

func note(key string, at time.Time) alert.Notification {
	return alert.Notification{Key: key, AlertKey: "k", Event: alert.EventFiring, To: []string{"ops@example.com"},
		Subject: "s " + key, Text: "t", HTML: "<p>t</p>", MessageID: key + "@x", CreatedAt: at, NextAttempt: at}
}

func testAlertSave(t *testing.T, f *fixture, s alert.Store) {
	a := &alert.Alert{Key: "silence/h-1", RuleID: "default-silence", Kind: alert.KindSilence, HostID: "h-1", Hostname: "web-1",
		Group: "default", State: alert.StatePending, StartedAt: t0, LastSeen: t0.Add(-time.Minute), Summary: "late"}
	if err := s.SaveAlert(f.ctx, a, alert.AlertEvent{Time: t0, State: a.State, Message: "late"}, nil); err != nil {
		t.Fatal(err)
	}
	if a.ID == 0 || a.Version != 1 {
		t.Fatalf("after insert: id %d version %d", a.ID, a.Version)
	}
	// A second open alert with the same key is refused.
	dup := &alert.Alert{Key: a.Key, State: alert.StateFiring, StartedAt: t0}
	wantErr(t, "SaveAlert duplicate open key", s.SaveAlert(f.ctx, dup, alert.AlertEvent{Time: t0}, []alert.Notification{note("dup", t0)}), server.ErrConflict)

	// Fire, with an email, in one transaction.
	stale := *a
	a.State, a.FiredAt, a.NotifiedAt = alert.StateFiring, t0.Add(time.Minute), t0.Add(time.Minute)
	if err := s.SaveAlert(f.ctx, a, alert.AlertEvent{Time: t0.Add(time.Minute), Message: "silent"}, []alert.Notification{note("n1", t0.Add(time.Minute))}); err != nil {
		t.Fatal(err)
	}
	if a.Version != 2 {
		t.Errorf("version %d after update, want 2", a.Version)
	}
	// A writer holding the old version loses, and writes nothing (no notification either).
	stale.State = alert.StateResolved
	wantErr(t, "SaveAlert stale", s.SaveAlert(f.ctx, &stale, alert.AlertEvent{Time: t0}, []alert.Notification{note("n-stale", t0)}), server.ErrConflict)
	// The same notification key again is not queued twice.
	if err := s.SaveAlert(f.ctx, a, alert.AlertEvent{Time: t0.Add(2 * time.Minute), Message: "again"}, []alert.Notification{note("n1", t0)}); err != nil {
		t.Fatal(err)
	}
	ns, err := s.ListNotifications(f.ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ns) != 1 || ns[0].Key != "n1" || ns[0].Status != alert.NotifyQueued || ns[0].MessageID != "n1@x" || ns[0].HTML != "<p>t</p>" {
		t.Fatalf("outbox %+v, want n1 queued once", ns)
	}
	checkTime(t, "notification CreatedAt", ns[0].CreatedAt, t0.Add(time.Minute))

	open, err := s.OpenAlerts(f.ctx)
	if err != nil || len(open) != 1 || open[0].ID != a.ID || open[0].State != alert.StateFiring || open[0].Version != 3 {
		t.Fatalf("OpenAlerts = %+v, %v", open, err)
	}
	checkTime(t, "LastSeen", open[0].LastSeen, a.LastSeen)

	// Resolve; a new alert with the same key may then open.
	a.State = alert.StateResolved
	if err := s.SaveAlert(f.ctx, a, alert.AlertEvent{Time: t0.Add(3 * time.Minute), Message: "back"}, nil); err != nil {
		t.Fatal(err)
	}
	b := &alert.Alert{Key: a.Key, HostID: "h-1", State: alert.StatePending, StartedAt: t0.Add(time.Hour)}
	if err := s.SaveAlert(f.ctx, b, alert.AlertEvent{Time: t0.Add(time.Hour)}, nil); err != nil {
		t.Fatalf("new alert after resolve: %v", err)
	}
	other := &alert.Alert{Key: "cpu/h-2/", HostID: "h-2", State: alert.StateFiring, StartedAt: t0}
	if err := s.SaveAlert(f.ctx, other, alert.AlertEvent{Time: t0}, nil); err != nil {
		t.Fatal(err)
	}

	all, err := s.ListAlerts(f.ctx, alert.AlertFilter{})
	if err != nil || len(all) != 3 || all[0].ID != other.ID || all[2].ID != a.ID {
		t.Errorf("ListAlerts = %+v, %v; want newest first", all, err)
	}
	if got, _ := s.ListAlerts(f.ctx, alert.AlertFilter{OpenOnly: true, HostID: "h-1"}); len(got) != 1 || got[0].ID != b.ID {
		t.Errorf("ListAlerts(open, h-1) = %+v", got)
	}
	if got, _ := s.ListAlerts(f.ctx, alert.AlertFilter{Limit: 1, Before: other.ID}); len(got) != 1 || got[0].ID != b.ID {
		t.Errorf("ListAlerts(limit 1, before) = %+v", got)
	}
	full, err := s.GetAlert(f.ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	var states []string
	for _, ev := range full.History {
		states = append(states, ev.State+":"+ev.Message)
	}
	if want := []string{"pending:late", "firing:silent", "firing:again", "resolved:back"}; !slices.Equal(states, want) {
		t.Errorf("history %v, want %v", states, want)
	}
	checkTime(t, "history time", full.History[3].Time, t0.Add(3*time.Minute))
	_, err = s.GetAlert(f.ctx, 999999)
	wantErr(t, "GetAlert missing", err, server.ErrNotFound)
}

func testAlertHostStates(t *testing.T, f *fixture, s alert.Store) {
	h1, _ := f.host("web-1", server.DefaultGroup)
	h2, _ := f.host("web-2", server.DefaultGroup)
	never, _ := f.host("never", server.DefaultGroup)
	r := Report(1, t0)
	r.IntervalSeconds = 15
	r.BootTime = t0.Add(-time.Hour)
	f.commit(server.HostReports{HostID: h1.ID, Reports: []wire.Report{r}, Received: t0.Add(time.Second)},
		server.HostReports{HostID: h2.ID, Reports: []wire.Report{Report(1, t0)}, Received: t0})
	if err := f.s.RevokeHost(f.ctx, h2.ID, audit("host.revoke", h2.ID)); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListHostStates(f.ctx)
	if err != nil || len(list) != 1 || list[0].ID != h1.ID {
		t.Fatalf("ListHostStates = %+v, %v; want only web-1 (web-2 revoked, never never reported)", list, err)
	}
	got := list[0]
	if got.Hostname != "web-1" || got.Group != server.DefaultGroup || got.IntervalSeconds != 15 || got.AckedSeq != 1 || got.Revoked {
		t.Errorf("host state %+v", got)
	}
	checkTime(t, "LastSeen", got.LastSeen, t0.Add(time.Second))
	checkTime(t, "BootTime", got.BootTime, t0.Add(-time.Hour))
	some, err := s.HostStates(f.ctx, []string{h2.ID, never.ID, "nope"})
	if err != nil || len(some) != 2 {
		t.Fatalf("HostStates = %+v, %v", some, err)
	}
	for _, st := range some {
		if st.ID == h2.ID && !st.Revoked {
			t.Errorf("revoked host not marked: %+v", st)
		}
		if st.ID == never.ID && !st.LastSeen.IsZero() {
			t.Errorf("host that never reported has LastSeen %v", st.LastSeen)
		}
	}
	figs := hostFigures(t, f, s, h1.ID, never.ID)
	if len(figs) != 1 {
		t.Fatalf("HostFigures = %v; want web-1's only (never never reported)", figs)
	}
	sameFigures(t, "web-1", figs[h1.ID], &r)
	if got.FiguresHash == 0 {
		t.Errorf("FiguresHash of a host with figures is 0")
	}
	// Many IDs at once (beyond any bound-parameter chunking).
	ids := make([]string, 1500)
	for i := range ids {
		ids[i] = fmt.Sprintf("missing-%d", i)
	}
	ids[1499] = h1.ID
	if some, err := s.HostStates(f.ctx, ids); err != nil || len(some) != 1 {
		t.Errorf("HostStates of 1500 IDs = %d, %v", len(some), err)
	}
}

func queueNotes(t *testing.T, f *fixture, s alert.Store, n int, at time.Time) {
	t.Helper()
	a := &alert.Alert{Key: randomID("k-"), State: alert.StateFiring, StartedAt: at}
	var notes []alert.Notification
	for i := range n {
		notes = append(notes, note(fmt.Sprintf("%s-%d", a.Key, i), at))
	}
	if err := s.SaveAlert(f.ctx, a, alert.AlertEvent{Time: at}, notes); err != nil {
		t.Fatal(err)
	}
}

func testAlertOutboxClaim(t *testing.T, f *fixture, s alert.Store) {
	queueNotes(t, f, s, 3, t0)
	// Not due before their NextAttempt.
	if ns, err := s.ClaimNotifications(f.ctx, "a", t0.Add(-time.Second), time.Minute, 10); err != nil || len(ns) != 0 {
		t.Fatalf("claim before due = %+v, %v", ns, err)
	}
	ns, err := s.ClaimNotifications(f.ctx, "a", t0, time.Minute, 2)
	if err != nil || len(ns) != 2 || ns[0].ID > ns[1].ID || ns[0].Attempts != 1 {
		t.Fatalf("claim = %+v, %v; want the two oldest, attempt 1", ns, err)
	}
	// Another claimer gets only the third while a's claims hold.
	other, err := s.ClaimNotifications(f.ctx, "b", t0.Add(time.Second), time.Minute, 10)
	if err != nil || len(other) != 1 {
		t.Fatalf("second claimer got %+v, %v; want one", other, err)
	}
	// Only the owner can finish.
	wantErr(t, "finish by non-owner", s.FinishNotification(f.ctx, ns[0].ID, "b", alert.NotifySent, t0, ""), server.ErrConflict)
	if err := s.FinishNotification(f.ctx, ns[0].ID, "a", alert.NotifySent, t0.Add(2*time.Second), ""); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "finish twice", s.FinishNotification(f.ctx, ns[0].ID, "a", alert.NotifySent, t0, ""), server.ErrConflict)
	// A failed attempt is released for later.
	if err := s.RetryNotification(f.ctx, ns[1].ID, "a", t0.Add(time.Hour), "connection refused"); err != nil {
		t.Fatal(err)
	}
	// b's claim expires: a may claim it after the lease.
	if got, _ := s.ClaimNotifications(f.ctx, "a", t0.Add(30*time.Second), time.Minute, 10); len(got) != 0 {
		t.Fatalf("claimed during another's lease or before next attempt: %+v", got)
	}
	got, err := s.ClaimNotifications(f.ctx, "a", t0.Add(2*time.Minute), time.Minute, 10)
	if err != nil || len(got) != 1 || got[0].ID != other[0].ID || got[0].Attempts != 2 {
		t.Fatalf("claim after lease expiry = %+v, %v", got, err)
	}
	wantErr(t, "finish by the expired claimer", s.FinishNotification(f.ctx, other[0].ID, "b", alert.NotifySent, t0, ""), server.ErrConflict)
	if err := s.FinishNotification(f.ctx, got[0].ID, "a", alert.NotifySkipped, t0.Add(2*time.Minute), "no recipients"); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListNotifications(f.ctx, 0, 0)
	if err != nil || len(list) != 3 {
		t.Fatalf("ListNotifications = %+v, %v", list, err)
	}
	status := map[int64]alert.Notification{}
	for _, n := range list {
		status[n.ID] = n
	}
	if n := status[ns[0].ID]; n.Status != alert.NotifySent || n.SentAt.IsZero() {
		t.Errorf("sent notification %+v", n)
	}
	if n := status[ns[1].ID]; n.Status != alert.NotifyRetrying || n.LastError != "connection refused" || !n.NextAttempt.Equal(us(t0.Add(time.Hour))) {
		t.Errorf("retried notification %+v", n)
	}
	if n := status[other[0].ID]; n.Status != alert.NotifySkipped || n.LastError != "no recipients" {
		t.Errorf("skipped notification %+v", n)
	}
	if page, _ := s.ListNotifications(f.ctx, 1, list[0].ID); len(page) != 1 || page[0].ID != list[1].ID {
		t.Errorf("ListNotifications page = %+v", page)
	}
}

// testAlertOutboxConcurrent has several claimers drain one outbox at once: every notification
// is claimed by exactly one of them.
func testAlertOutboxConcurrent(t *testing.T, f *fixture, s alert.Store) {
	const n = 60
	queueNotes(t, f, s, n, t0)
	var (
		mu   sync.Mutex
		seen = map[int64]string{}
		wg   sync.WaitGroup
		dups []int64
	)
	for w := range 4 {
		owner := fmt.Sprintf("w%d", w)
		wg.Go(func() {
			for {
				ns, err := s.ClaimNotifications(f.ctx, owner, t0, time.Hour, 5)
				if err != nil {
					t.Errorf("claim: %v", err)
					return
				}
				if len(ns) == 0 {
					return
				}
				for _, no := range ns {
					mu.Lock()
					if _, ok := seen[no.ID]; ok {
						dups = append(dups, no.ID)
					}
					seen[no.ID] = owner
					mu.Unlock()
					if err := s.FinishNotification(f.ctx, no.ID, owner, alert.NotifySent, t0, ""); err != nil {
						t.Errorf("finish: %v", err)
					}
				}
			}
		})
	}
	wg.Wait()
	if len(seen) != n || len(dups) > 0 {
		t.Errorf("claimed %d of %d notifications, duplicates %v", len(seen), n, dups)
	}
}

// testAlertPrune: PruneAlerts deletes resolved alerts (with their history) and finished
// notifications older than the cutoff, and never an open alert or an unsent notification however
// old; CountUnsent counts the outbox.
func testAlertPrune(t *testing.T, f *fixture, s alert.Store) {
	cut := t0.Add(time.Hour)
	save := func(a *alert.Alert, at time.Time, state string, notes ...alert.Notification) {
		t.Helper()
		a.State = state
		if err := s.SaveAlert(f.ctx, a, alert.AlertEvent{Time: at, State: state, Message: state}, notes); err != nil {
			t.Fatal(err)
		}
	}
	// old: fired with an email, resolved before the cutoff with an email.
	old := &alert.Alert{Key: "old", StartedAt: t0.Add(-2 * time.Hour)}
	save(old, t0.Add(-2*time.Hour), alert.StateFiring, note("old-firing", t0.Add(-2*time.Hour)))
	save(old, t0, alert.StateResolved, note("old-resolved", t0))
	// recent: resolved after the cutoff.
	recent := &alert.Alert{Key: "recent", StartedAt: t0}
	save(recent, t0, alert.StateFiring)
	save(recent, cut.Add(time.Minute), alert.StateResolved)
	// open: firing for ten days, its email never sent.
	open := &alert.Alert{Key: "open", StartedAt: t0.Add(-240 * time.Hour)}
	save(open, t0.Add(-240*time.Hour), alert.StateFiring, note("open-firing", t0.Add(-240*time.Hour)))
	// Outbox: old-firing sent and old-resolved skipped before the cutoff, late sent after it.
	save(recent, cut.Add(time.Minute), alert.StateResolved, note("late", cut))
	finish := func(key, outcome string, at time.Time) {
		t.Helper()
		ns, err := s.ClaimNotifications(f.ctx, "o", at, time.Minute, 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range ns {
			if n.Key != key {
				if err := s.RetryNotification(f.ctx, n.ID, "o", n.NextAttempt, ""); err != nil {
					t.Fatal(err)
				}
				continue
			}
			if err := s.FinishNotification(f.ctx, n.ID, "o", outcome, at, ""); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Fatalf("notification %s not claimable at %s", key, at)
	}
	finish("old-firing", alert.NotifySent, t0.Add(-time.Hour))
	finish("old-resolved", alert.NotifySkipped, t0.Add(time.Minute))
	finish("late", alert.NotifySent, cut.Add(time.Minute))
	if n, err := s.CountUnsent(f.ctx); err != nil || n != 1 {
		t.Fatalf("CountUnsent = %d, %v; want 1", n, err)
	}

	wantErr(t, "PruneAlerts without a cutoff", func() error { _, _, err := s.PruneAlerts(f.ctx, time.Time{}); return err }(), server.ErrInvalid)
	as, ns, err := s.PruneAlerts(f.ctx, cut)
	if err != nil || as != 1 || ns != 2 {
		t.Fatalf("PruneAlerts = %d alerts, %d notifications, %v; want 1, 2", as, ns, err)
	}
	if _, err := s.GetAlert(f.ctx, old.ID); !errors.Is(err, server.ErrNotFound) {
		t.Errorf("pruned alert: GetAlert = %v, want not found", err)
	}
	if got, err := s.GetAlert(f.ctx, recent.ID); err != nil || len(got.History) != 3 {
		t.Errorf("recent alert %+v, %v; want it with its 3 events", got, err)
	}
	if got, err := s.OpenAlerts(f.ctx); err != nil || len(got) != 1 || got[0].Key != "open" {
		t.Errorf("OpenAlerts = %+v, %v; want the old open one", got, err)
	}
	left, err := s.ListNotifications(f.ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, n := range left {
		keys = append(keys, n.Key)
	}
	if !slices.Equal(keys, []string{"late", "open-firing"}) {
		t.Errorf("notifications left %v, want [late open-firing]", keys)
	}
	if n, err := s.CountUnsent(f.ctx); err != nil || n != 1 {
		t.Errorf("CountUnsent after prune = %d, %v; want 1", n, err)
	}
	// Again: nothing more to delete.
	if as, ns, err := s.PruneAlerts(f.ctx, cut); err != nil || as != 0 || ns != 0 {
		t.Errorf("second PruneAlerts = %d, %d, %v; want 0, 0", as, ns, err)
	}
}

// testAlertAck: AckAlert records who and when beside the alert, with a history event and audit,
// without changing its Version, so the engine's next save (which knows nothing of it) succeeds
// and keeps it; OpenAlertAcks lists it while the alert is open; a second acknowledgement, one
// of a resolved alert and one of no alert are refused.
func testAlertAck(t *testing.T, f *fixture, s alert.Store) {
	a := &alert.Alert{Key: "cpu/h-1/", RuleID: "default-cpu", Kind: alert.KindCPU, HostID: "h-1", Group: "default",
		State: alert.StateFiring, StartedAt: t0, FiredAt: t0, Summary: "hot"}
	if err := s.SaveAlert(f.ctx, a, alert.AlertEvent{Time: t0, State: a.State, Message: "firing"}, nil); err != nil {
		t.Fatal(err)
	}
	other := &alert.Alert{Key: "cpu/h-2/", HostID: "h-2", State: alert.StateFiring, StartedAt: t0}
	if err := s.SaveAlert(f.ctx, other, alert.AlertEvent{Time: t0}, nil); err != nil {
		t.Fatal(err)
	}
	at := t0.Add(time.Minute)
	if err := s.AckAlert(f.ctx, a.ID, alert.Ack{By: "olga", At: at}, server.AuditEntry{Time: at, Actor: "olga", Action: "alert.ack",
		Target: fmt.Sprintf("alert/%d", a.ID)}); err != nil {
		t.Fatal(err)
	}
	acks, err := s.OpenAlertAcks(f.ctx)
	if err != nil || len(acks) != 1 || acks[a.ID].By != "olga" {
		t.Fatalf("OpenAlertAcks = %+v, %v", acks, err)
	}
	checkTime(t, "ack time", acks[a.ID].At, at)
	wantErr(t, "AckAlert twice", s.AckAlert(f.ctx, a.ID, alert.Ack{By: "bob", At: at}, server.AuditEntry{Action: "alert.ack"}), alert.ErrAlreadyAcked)
	wantErr(t, "AckAlert of no alert", s.AckAlert(f.ctx, 999999, alert.Ack{By: "bob", At: at}, server.AuditEntry{Action: "alert.ack"}), server.ErrNotFound)

	// The engine's copy (Version 1, no ack) saves fine and the acknowledgement stays.
	a.Summary = "still hot"
	if err := s.SaveAlert(f.ctx, a, alert.AlertEvent{Time: t0.Add(2 * time.Minute), State: a.State, Message: "still"}, nil); err != nil {
		t.Fatalf("save after ack: %v", err)
	}
	got, err := s.GetAlert(f.ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.AckedBy != "olga" || got.Summary != "still hot" || got.Version != 2 {
		t.Errorf("after the engine's save: acked by %q, summary %q, version %d", got.AckedBy, got.Summary, got.Version)
	}
	checkTime(t, "AckedAt", got.AckedAt, at)
	var msgs []string
	for _, ev := range got.History {
		msgs = append(msgs, ev.Message)
	}
	if want := []string{"firing", "acknowledged by olga", "still"}; !slices.Equal(msgs, want) {
		t.Errorf("history %v, want %v", msgs, want)
	}
	if ls, err := s.ListAlerts(f.ctx, alert.AlertFilter{}); err != nil || len(ls) != 2 || ls[1].AckedBy != "olga" || ls[0].AckedBy != "" {
		t.Errorf("ListAlerts acks = %+v, %v", ls, err)
	}
	if es, err := f.s.SearchAudit(f.ctx, server.AuditFilter{Action: "alert.ack"}); err != nil || len(es) != 1 || es[0].Actor != "olga" {
		t.Errorf("audit = %+v, %v", es, err)
	}

	a.State, a.ResolvedAt = alert.StateResolved, t0.Add(3*time.Minute)
	if err := s.SaveAlert(f.ctx, a, alert.AlertEvent{Time: a.ResolvedAt, State: a.State, Message: "cool"}, nil); err != nil {
		t.Fatal(err)
	}
	if acks, err := s.OpenAlertAcks(f.ctx); err != nil || len(acks) != 0 {
		t.Errorf("OpenAlertAcks after resolve = %+v, %v", acks, err)
	}
	wantErr(t, "AckAlert of another open alert", s.AckAlert(f.ctx, other.ID, alert.Ack{By: "bob", At: at}, server.AuditEntry{Action: "alert.ack"}), nil)
	wantErr(t, "AckAlert of a resolved alert", s.AckAlert(f.ctx, a.ID, alert.Ack{By: "bob", At: at}, server.AuditEntry{Action: "alert.ack"}), alert.ErrAlertResolved)
}

// hostFigures reads the rule figures of ids, by host.
func hostFigures(t *testing.T, f *fixture, s alert.Store, ids ...string) map[string]alert.Figures {
	t.Helper()
	out := map[string]alert.Figures{}
	err := s.HostFigures(f.ctx, ids, func(hf alert.HostFigures) error {
		if _, dup := out[hf.HostID]; dup {
			return fmt.Errorf("host %s twice", hf.HostID)
		}
		fig := hf.Figures
		fig.Mounts, fig.Procs, fig.States = slices.Clone(fig.Mounts), slices.Clone(fig.Procs), slices.Clone(fig.States)
		out[hf.HostID] = fig
		return nil
	})
	if err != nil {
		t.Fatalf("HostFigures: %v", err)
	}
	return out
}

// sameFigures checks that stored figures are exactly the ones derived from want: the same bits
// for every number (so both stores hold the report's double-precision values), NULL (NaN, 0,
// nil) where the report lacks a figure.
func sameFigures(t *testing.T, what string, got alert.Figures, want *wire.Report) {
	t.Helper()
	w, err := alert.FiguresOf(want)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []struct {
		name      string
		got, want float64
	}{{"cpu", got.CPUBusy, w.CPUBusy}, {"mem_avail", got.MemAvailPct, w.MemAvailPct}, {"load1", got.Load1, w.Load1}, {"disk_max", got.DiskMax, w.DiskMax}} {
		if math.Float64bits(n.got) != math.Float64bits(n.want) && !(math.IsNaN(n.got) && math.IsNaN(n.want)) {
			t.Errorf("%s: figure %s = %v, want %v", what, n.name, n.got, n.want)
		}
	}
	if got.Cores != w.Cores || got.ProcStart != w.ProcStart || got.ProcAlarm != w.ProcAlarm {
		t.Errorf("%s: cores %d, proc start %d, proc alarm %v; want %d, %d, %v", what, got.Cores, got.ProcStart, got.ProcAlarm, w.Cores, w.ProcStart, w.ProcAlarm)
	}
	for _, l := range []struct {
		name      string
		got, want []byte
	}{{"mounts", got.Mounts, w.Mounts}, {"procs", got.Procs, w.Procs}, {"states", got.States, w.States}} {
		if (l.got == nil) != (l.want == nil) || string(l.got) != string(l.want) {
			t.Errorf("%s: %s = %q, want %q", what, l.name, l.got, l.want)
		}
	}
}

// testAlertRuleFigures checks the narrow columns the alert rules read: written with the report,
// replaced by the next one, kept by a commit of duplicates only, NULL where a report lacks a
// figure, exact double precision in both stores, and a hash that changes with them only.
func testAlertRuleFigures(t *testing.T, f *fixture, s alert.Store) {
	h, _ := f.host("figures", server.DefaultGroup)
	hashOf := func() int64 {
		t.Helper()
		sts, err := s.HostStates(f.ctx, []string{h.ID})
		if err != nil || len(sts) != 1 {
			t.Fatalf("HostStates = %v, %v", sts, err)
		}
		return sts[0].FiguresHash
	}
	if figs := hostFigures(t, f, s, h.ID); len(figs) != 0 || hashOf() != 0 {
		t.Fatalf("figures before any report: %v, hash %d", figs, hashOf())
	}

	r1 := Report(1, reportTime(1))
	r1.CPU.BusyPct, r1.Load.Load1 = 0.1, 12345.678
	r1.Memory.TotalBytes, r1.Memory.AvailableBytes = 3, 1 // 33.333…%: not representable in float32
	r1.Mounts[1].UsedPct = 1e300
	r1.Units[1].ActiveState, r1.Units[1].Result = "failed", "exit-code"
	r1.Hints = []wire.AnomalyHint{{Metric: "cpu.busy_pct", Value: 97.25, Score: -4.123456789, Mean: 1.0 / 3, StdDev: 0.7, Hour: 23}}
	r1.Checks = []wire.CheckResult{{Name: "web", Kind: wire.CheckHTTP, OK: false, Value: 0.30000000000000004, Message: "status 503, want 200"},
		{Name: "db", Kind: wire.CheckTCP, OK: true, Value: 2}}
	r1.Events = append(r1.Events, wire.ProcEvent{Name: "nginx", Kind: wire.ProcRestarted})
	r1.Processes[1].Running, r1.Processes[1].Instances = 0, nil
	r1.Processes[0].Instances[2].StartTime = time.Date(2026, 11, 1, 8, 0, 5, 123456789, time.UTC) // nanoseconds kept
	f.commit(server.HostReports{HostID: h.ID, Received: t0, Reports: []wire.Report{r1}})
	figs := hostFigures(t, f, s, h.ID)
	got := figs[h.ID]
	sameFigures(t, "first report", got, &r1)
	if got.States == nil || got.Procs == nil || !got.ProcAlarm || got.DiskMax != 1e300 {
		t.Errorf("first report: figures %+v miss the failed unit, hint, failing check, down process or disk", got)
	}
	h1 := hashOf()
	if h1 == 0 {
		t.Fatal("no figure hash after a report")
	}

	// The next report replaces them; one with the same figures keeps the hash.
	r2 := Report(2, reportTime(2))
	r2.CPU.BusyPct = 99.99
	r3 := r2
	r3.Seq, r3.Time = 3, reportTime(3)
	f.commit(server.HostReports{HostID: h.ID, Received: t0.Add(time.Second), Reports: []wire.Report{r2}})
	sameFigures(t, "second report", hostFigures(t, f, s, h.ID)[h.ID], &r2)
	h2 := hashOf()
	if h2 == h1 || h2 == 0 {
		t.Errorf("hash %d after new figures, was %d", h2, h1)
	}
	f.commit(server.HostReports{HostID: h.ID, Received: t0.Add(2 * time.Second), Reports: []wire.Report{r3}})
	if h3 := hashOf(); h3 != h2 {
		t.Errorf("hash %d after a report with the same figures, want %d", h3, h2)
	}
	// Duplicates only: nothing stored, the figures stay.
	f.commit(server.HostReports{HostID: h.ID, Received: t0.Add(3 * time.Second), Reports: []wire.Report{r2}})
	sameFigures(t, "after duplicates", hostFigures(t, f, s, h.ID)[h.ID], &r3)

	// A report without figures: NULL everywhere, the hash still set.
	bare := wire.Report{Seq: 4, Time: reportTime(4)}
	f.commit(server.HostReports{HostID: h.ID, Received: t0.Add(4 * time.Second), Reports: []wire.Report{bare}})
	got = hostFigures(t, f, s, h.ID)[h.ID]
	sameFigures(t, "bare report", got, &bare)
	if !math.IsNaN(got.CPUBusy) || !math.IsNaN(got.MemAvailPct) || !math.IsNaN(got.Load1) || !math.IsNaN(got.DiskMax) ||
		got.Cores != 0 || got.Mounts != nil || got.Procs != nil || got.States != nil || got.ProcStart != 0 || got.ProcAlarm {
		t.Errorf("bare report: figures %+v, want all NULL", got)
	}
	if hb := hashOf(); hb == 0 || hb == h2 {
		t.Errorf("hash %d after a bare report", hb)
	}
	// Of several new reports in one commit, the last one's figures are kept.
	r5, r6 := Report(5, reportTime(5)), Report(6, reportTime(6))
	r6.Memory = nil
	f.commit(server.HostReports{HostID: h.ID, Received: t0.Add(5 * time.Second), Reports: []wire.Report{r5, r6}})
	sameFigures(t, "last of a batch", hostFigures(t, f, s, h.ID)[h.ID], &r6)
}
