package app

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigilhq/vigil/server/alert"
	"github.com/vigilhq/vigil/server/pgstore"
	"github.com/vigilhq/vigil/server/sqlitestore"
)

// Both stores apply --audit-retention.
var (
	_ alert.AuditPruner = (*sqlitestore.Store)(nil)
	_ alert.AuditPruner = (*pgstore.Store)(nil)
)

// AlertTuning adjusts alerting beyond the flags. Zero values take alert's defaults: evaluation
// every 1s, fleet scan every 10s, outbox poll every 5s, leadership retry every 5s, flap damping
// 1m, reminders every 4h, group collapse above half of a group (at least 3 hosts), SMTP retries
// from 10s backing off to 10m. Tests make them small.
type AlertTuning struct {
	EvalInterval, ScanInterval, SendInterval, LeaderRetry time.Duration
	FlapDamping, RepeatInterval                           time.Duration
	RetryBase, RetryMax                                   time.Duration
	GroupShare                                            float64
	GroupMinHosts                                         int
	// SMTPTLSConfig is the base TLS configuration for the SMTP connection (RootCAs of a private
	// CA). Defaults to the system roots.
	SMTPTLSConfig *tls.Config
	// Now replaces the clock (tests). Defaults to time.Now.
	Now func() time.Time
	// Disabled turns alerting off (benchmarks of other parts).
	Disabled bool
}

// alerting is the server's alert engine, sender and leadership.
type alerting struct {
	store   alert.Store
	leader  alert.Leader
	sender  *alert.Sender
	runner  *alert.Runner
	metrics *alert.Metrics
}

// prepareAlerting checks the alert settings and builds the sender, so a bad --smtp-url or
// --alert-retention fails the start before anything listens. The password in the URL is never
// logged. Alerting's series go to reg.
func (s *Server) prepareAlerting(reg prometheus.Registerer) error {
	cfg := s.cfg
	if cfg.Alert.Disabled {
		return nil
	}
	if cfg.AlertRetention != 0 && cfg.AlertRetention < alert.MinRetention {
		return fmt.Errorf("--alert-retention %s: must be at least %s", cfg.AlertRetention, alert.MinRetention)
	}
	if cfg.AuditRetention != 0 && cfg.AuditRetention < alert.MinRetention {
		return fmt.Errorf("--audit-retention %s: must be at least %s", cfg.AuditRetention, alert.MinRetention)
	}
	s.alerting.metrics = alert.NewMetrics(reg)
	st, ok := s.store.(alert.Store)
	if !ok {
		s.log.Warn("The store does not implement alerting; alerting is off.")
		return nil
	}
	s.alerting.store = st
	s.alerting.leader = alert.Solo{}
	if pg, ok := s.store.(*pgstore.Store); ok {
		s.alerting.leader = pg.NewLeader("alert")
	}
	if cfg.SMTPURL == "" {
		s.log.Warn("No --smtp-url: alert emails are queued and listed (vigilctl notifications ls) but not sent.")
		return nil
	}
	from := cfg.SMTPFrom
	if from == "" {
		host := "localhost"
		if u, err := url.Parse(cfg.PublicURL); err == nil && u.Hostname() != "" {
			host = u.Hostname()
		}
		from = "vigil@" + host
	}
	sender, err := alert.NewSender(alert.SenderConfig{
		Store: st, URL: cfg.SMTPURL, From: from, TLSConfig: cfg.Alert.SMTPTLSConfig, Logger: s.log, Now: cfg.Alert.Now,
		RetryBase: cfg.Alert.RetryBase, RetryMax: cfg.Alert.RetryMax, Metrics: s.alerting.metrics,
	})
	if err != nil {
		return fmt.Errorf("alert email: %w", err)
	}
	s.alerting.sender = sender
	s.log.Info("Alert emails go out by SMTP.", "smtp_url", alert.RedactURL(cfg.SMTPURL), "from", from, "recipients", len(cfg.AlertEmails))
	return nil
}

// startAlerting starts the engine and the sender; they work only while this replica leads.
func (s *Server) startAlerting(ctx context.Context) {
	a := &s.alerting
	if a.store == nil {
		return
	}
	publicURL := s.cfg.PublicURL
	if publicURL == "" {
		publicURL = s.URL
	}
	t := s.cfg.Alert
	ecfg := alert.Config{
		Store: a.store, Logger: s.log, Now: t.Now, Recipients: s.cfg.AlertEmails, PublicURL: publicURL,
		ScanInterval: t.ScanInterval, FlapDamping: t.FlapDamping, RepeatInterval: t.RepeatInterval,
		GroupShare: t.GroupShare, GroupMinHosts: t.GroupMinHosts,
		Retention: s.cfg.AlertRetention, Metrics: a.metrics, AuditRetention: s.cfg.AuditRetention,
		// Reports this replica refused for its own overload are not the hosts' silence.
		Overload: s.svc,
	}
	if p, ok := s.store.(alert.AuditPruner); ok {
		ecfg.Audit = p
	} else {
		s.log.Warn("The store cannot delete old audit entries; --audit-retention is not applied.")
	}
	if a.sender != nil {
		ecfg.OnQueued = a.sender.Wake
	}
	eng, err := alert.NewEngine(ecfg)
	if err == nil {
		a.runner, err = alert.StartRunner(ctx, alert.RunnerConfig{
			Engine: eng, Sender: a.sender, Leader: a.leader,
			EvalInterval: t.EvalInterval, SendInterval: t.SendInterval, LeaderRetry: t.LeaderRetry,
		})
	}
	if err != nil {
		s.log.Error("Alerting could not start.", "err", err) // only on a programming error: cfg was checked
	}
}

// stopAlerting stops the engine and sender (an email being sent finishes) and gives up leadership.
func (s *Server) stopAlerting() {
	if s.alerting.runner != nil {
		s.alerting.runner.Stop()
		s.alerting.runner = nil
	}
}

// AlertLeading reports whether this replica currently runs alerting (tests).
func (s *Server) AlertLeading() bool {
	return s.alerting.runner != nil && s.alerting.runner.Leading()
}
