package alert_test

import (
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/alert"
)

// metricValue sums the values of the series of name in reg whose labels include label (name=value,
// or "" for any).
func metricValue(t *testing.T, reg *prometheus.Registry, name, label string) (sum float64, series int) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := label == ""
			for _, lp := range m.GetLabel() {
				match = match || lp.GetName()+"="+lp.GetValue() == label
			}
			if !match {
				continue
			}
			series++
			switch {
			case m.GetGauge() != nil:
				sum += m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				sum += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return sum, series
}

// TestRetention: the leader's Tick deletes resolved alerts older than Retention with their
// history, and sent emails older than it, and keeps a firing alert and unsent emails however
// old; outbox depth, evaluation time and pruned rows show in the metrics.
func TestRetention(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newHarness(t, func(c *alert.Config) {
		c.Retention = 24 * time.Hour
		c.Metrics = alert.NewMetrics(reg)
		c.FlapDamping = -1
		c.RepeatInterval = -1
	})
	web := h.host("web-1", "")
	db := h.host("db-1", "")
	h.run(time.Minute, web)
	h.report(db, nil)
	h.run(2*time.Minute, web, db) // db-1 silent, then back: resolves at once (no damping)
	h.run(3*time.Minute, db)      // web-1 goes silent
	h.wantEmails("FIRING: db-1 is silent", "RESOLVED: db-1", "FIRING: web-1 is silent")
	// No Sender: the three emails wait in the outbox.
	h.run(3*time.Minute+20*time.Second, db)
	if v, _ := metricValue(t, reg, "vigil_alert_outbox_depth", ""); v != 3 {
		t.Errorf("outbox depth %v, want 3", v)
	}
	if v, n := metricValue(t, reg, "vigil_alert_evaluation_seconds", ""); n != 1 || v < 200 {
		t.Errorf("evaluation histogram: %d series, %v cycles; want one per tick", n, v)
	}

	// A day later: db-1's resolved alert goes, web-1's firing one stays; the emails are unsent
	// and stay, however old.
	h.clock.set(t0.Add(26 * time.Hour))
	h.report(db, nil)
	h.tick()
	all, err := h.st.ListAlerts(h.ctx, alert.AlertFilter{})
	if err != nil || len(all) != 1 || all[0].Key != "silence/"+web || all[0].State != alert.StateFiring {
		t.Fatalf("alerts left %+v, %v; want only web-1's firing one", all, err)
	}
	if ns := h.notifications(); len(ns) != 3 {
		t.Fatalf("%d emails after a day, want the 3 unsent ones", len(ns))
	}
	// Once sent (at t0+3m), they are a day old too: the next prune deletes them.
	for range 3 {
		claimed, err := h.st.ClaimNotifications(h.ctx, "o", h.clock.Now(), time.Minute, 1)
		if err != nil || len(claimed) != 1 {
			t.Fatalf("claim: %+v, %v", claimed, err)
		}
		if err := h.st.FinishNotification(h.ctx, claimed[0].ID, "o", alert.NotifySent, t0.Add(3*time.Minute), ""); err != nil {
			t.Fatal(err)
		}
	}
	if as, ns, err := h.eng.Prune(h.ctx); err != nil || as != 0 || ns != 3 {
		t.Fatalf("Prune = %d alerts, %d emails, %v; want 0, 3", as, ns, err)
	}
	if v, _ := metricValue(t, reg, "vigil_alert_pruned_total", "kind=alerts"); v != 1 {
		t.Errorf("pruned alerts metric %v, want 1", v)
	}
	if v, _ := metricValue(t, reg, "vigil_alert_pruned_total", "kind=notifications"); v != 3 {
		t.Errorf("pruned notifications metric %v, want 3", v)
	}
	if _, err := alert.NewEngine(alert.Config{Store: h.st, Retention: 90 * time.Second}); !errors.Is(err, alert.ErrConfig) {
		t.Errorf("Retention 90s: %v, want refused", err)
	}
}

// TestAuditRetention: the leader's Tick deletes audit entries older than AuditRetention and
// keeps newer ones; the count shows in vigil_audit_pruned_total; a retention below the minimum
// is refused.
func TestAuditRetention(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newHarness(t, func(c *alert.Config) {
		c.AuditRetention = 48 * time.Hour
		c.Metrics = alert.NewMetrics(reg)
	})
	// An engine with the harness's store as audit pruner.
	cfg := h.cfg
	cfg.Audit = h.st.(alert.AuditPruner) // the SQLite store
	eng, err := alert.NewEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, age := range []time.Duration{72 * time.Hour, 49 * time.Hour, 47 * time.Hour, time.Hour} {
		if err := h.st.AppendAudit(h.ctx, server.AuditEntry{Time: t0.Add(-age), Actor: "admin", Action: "group.create", Target: age.String()}); err != nil {
			t.Fatal(err)
		}
	}
	if err := eng.Tick(h.ctx); err != nil {
		t.Fatal(err)
	}
	left, err := h.st.ListAudit(h.ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var targets []string // of this test's entries (the harness's own are recent)
	for _, a := range left {
		if a.Action == "group.create" {
			targets = append(targets, a.Target)
		}
	}
	if len(targets) != 2 || targets[0] != "1h0m0s" || targets[1] != "47h0m0s" {
		t.Fatalf("audit entries left: %v; want the 1h and 47h old ones", targets)
	}
	if v, _ := metricValue(t, reg, "vigil_audit_pruned_total", ""); v != 2 {
		t.Errorf("vigil_audit_pruned_total = %v, want 2", v)
	}
	if _, err := alert.NewEngine(alert.Config{Store: h.st, AuditRetention: 30 * time.Minute}); !errors.Is(err, alert.ErrConfig) {
		t.Errorf("AuditRetention 30m: %v, want refused", err)
	}
}
