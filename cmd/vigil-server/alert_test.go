package main

import (
	"flag"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/vigilhq/vigil/server/app"
)

func TestAlertFlags(t *testing.T) {
	parse := func(args []string, env map[string]string) (app.Config, error) {
		var cfg app.Config
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		addAlertFlags(fs, &cfg)
		err := parseWithEnv(fs, args, func(k string) string { return env[k] })
		return cfg, err
	}
	cfg, err := parse([]string{"--alert-email", "a@example.com", "--alert-email", "b@example.com", "--smtp-url", "smtps://u:p@mail:465"},
		map[string]string{"VIGIL_ALERT_EMAIL": "ignored@example.com", "VIGIL_SMTP_FROM": "vigil@example.com"})
	if err != nil || !slices.Equal(cfg.AlertEmails, []string{"a@example.com", "b@example.com"}) || cfg.SMTPURL != "smtps://u:p@mail:465" || cfg.SMTPFrom != "vigil@example.com" {
		t.Errorf("flags: %+v, %v", cfg, err)
	}
	cfg, err = parse(nil, map[string]string{"VIGIL_ALERT_EMAIL": "a@example.com, b@example.com", "VIGIL_SMTP_URL": "smtp://relay:25"})
	if err != nil || !slices.Equal(cfg.AlertEmails, []string{"a@example.com", "b@example.com"}) || cfg.SMTPURL != "smtp://relay:25" {
		t.Errorf("env: %+v, %v", cfg, err)
	}
	if _, err := parse([]string{"--alert-email", "Ops <ops@example.com>"}, nil); err == nil {
		t.Error("a display-name address was accepted")
	}
	if cfg, err := parse(nil, nil); err != nil || cfg.AlertRetention != 90*24*time.Hour {
		t.Errorf("default --alert-retention = %s, %v; want 90 days", cfg.AlertRetention, err)
	}
	if cfg, err := parse(nil, map[string]string{"VIGIL_ALERT_RETENTION": "720h"}); err != nil || cfg.AlertRetention != 30*24*time.Hour {
		t.Errorf("VIGIL_ALERT_RETENTION = %s, %v", cfg.AlertRetention, err)
	}
	if _, err := parse([]string{"--alert-retention", "90d"}, nil); err == nil {
		t.Error("--alert-retention 90d (not a Go duration) was accepted")
	}
	if cfg, err := parse(nil, nil); err != nil || cfg.AuditRetention != 365*24*time.Hour {
		t.Errorf("default --audit-retention = %s, %v; want 365 days", cfg.AuditRetention, err)
	}
	if cfg, err := parse(nil, map[string]string{"VIGIL_AUDIT_RETENTION": "2160h"}); err != nil || cfg.AuditRetention != 90*24*time.Hour {
		t.Errorf("VIGIL_AUDIT_RETENTION = %s, %v", cfg.AuditRetention, err)
	}
}
