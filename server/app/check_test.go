package app_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/server/alert"
	"github.com/vigilhq/vigil/server/alert/alerttest"
	"github.com/vigilhq/vigil/server/app"
	"github.com/vigilhq/vigil/wire"
)

// TestCheckAlertEndToEnd runs the real server, a real vigil-agent process with an HTTP health
// check in its agent.yaml and a real SMTP server: the checked site fails, the check rule fires
// after its `for` and the email arrives; the site recovers, and the RESOLVED email arrives.
func TestCheckAlertEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds and runs vigil-agent")
	}
	var healthy atomic.Bool
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !healthy.Load() {
			http.Error(w, "database down", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, `{"status":"ok"}`)
	}))
	defer site.Close()

	smtpSrv, err := alerttest.Start(alerttest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer smtpSrv.Stop()
	s, _ := startWith(t, app.Config{
		SMTPURL: "smtp://" + smtpSrv.Addr(), SMTPFrom: "vigil@example.com", AlertEmails: []string{"ops@example.com"},
		PublicURL: "https://vigil.example.com", Alert: fastAlerts(),
	}, "")
	ctx := t.Context()
	onlySilenceRules(t, s.admin)
	rule, err := s.admin.CreateRule(ctx, api.Rule{Name: "site down", Kind: api.KindCheck, Match: "site", For: api.Duration(2 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.admin.CreateRule(ctx, api.Rule{Kind: api.KindCheck, Match: "not a name"}); err == nil {
		t.Error("a check rule matching an impossible check name was accepted")
	}
	tok, err := s.admin.CreateEnrollmentToken(ctx, api.CreateEnrollmentTokenRequest{MaxUses: 1})
	if err != nil {
		t.Fatal(err)
	}
	ag := newAgent(t, s, tok.Token)
	cfgFile := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(cfgFile, []byte("checks:\n"+
		"  - name: site\n    kind: http\n    target: "+site.URL+"/health\n    body_contains: '\"ok\"'\n    interval: 1s\n    timeout: 500ms\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ag.args = append(ag.args, "--config", cfgFile)
	ag.start()

	// The site fails: one FIRING email once the check has failed for the rule's 2s.
	msgs, ok := smtpSrv.Wait(60*time.Second, func(m []alerttest.Message) bool { return countSubject(m, "site down") >= 1 })
	if !ok || countSubject(msgs, "FIRING") != 1 {
		t.Fatalf("while the site fails: %q", subjects(msgs))
	}
	if raw := string(msgs[0].Raw); !strings.Contains(raw, "http check site failing: status 503, want 200") {
		t.Errorf("firing email does not say what failed:\n%s", raw)
	}
	hs, err := s.admin.ListHosts(ctx, "")
	if err != nil || len(hs) != 1 || hs[0].Latest == nil {
		t.Fatalf("hosts %+v, %v", hs, err)
	}
	host := hs[0]
	if cs := host.Latest.Checks; len(cs) != 1 || cs[0].Name != "site" || cs[0].OK || cs[0].Kind != "http" {
		t.Errorf("the host's latest report carries checks %+v, want the failing site check", cs)
	}
	as, err := s.admin.ListAlerts(ctx, true, host.ID, 10)
	if err != nil || len(as) != 1 || as[0].RuleID != rule.ID || as[0].Subject != "site" || as[0].State != alert.StateFiring {
		t.Fatalf("open alerts %+v, %v", as, err)
	}

	// The site recovers: one RESOLVED email after the flap damping.
	healthy.Store(true)
	msgs, ok = smtpSrv.Wait(60*time.Second, func(m []alerttest.Message) bool { return len(m) >= 2 })
	if !ok || len(msgs) != 2 || !strings.Contains(msgs[1].Subject, "RESOLVED") || !strings.Contains(msgs[1].Subject, "site down") {
		t.Fatalf("after the site recovered: %q", subjects(msgs))
	}
	got, err := s.admin.GetHost(ctx, host.ID)
	if err != nil || got.Latest == nil || len(got.Latest.Checks) != 1 || !got.Latest.Checks[0].OK || got.Latest.Checks[0].Message != "status 200" {
		t.Errorf("host after recovery: %+v, %v", got.Latest, err)
	}
	for id, n := range smtpSrv.CountByMessageID() {
		if n != 1 {
			t.Errorf("Message-ID %s arrived %d times", id, n)
		}
	}
}

// TestReportChecksValidated: the server stores a report's health check results as sent and refuses,
// with 400 and what is wrong, a report whose checks break the bounds; a report without checks (an
// older agent) is taken as before.
func TestReportChecksValidated(t *testing.T) {
	s, _ := startWith(t, app.Config{}, "")
	cred := s.enrollQuiet(t, "web-1")
	now := time.Now().UTC().Truncate(time.Millisecond)
	good := wire.CheckResult{Name: "site", Kind: wire.CheckHTTP, OK: true, Value: 3.5, Unit: wire.UnitMillis, Message: "status 200", CheckedAt: now}
	seq := uint64(0)
	send := func(checks []wire.CheckResult) (int, string) {
		seq++
		status, body := s.post(t, "/api/v1/reports", cred, wire.ReportBatch{Reports: []wire.Report{{Seq: seq, Time: now, Checks: checks}}}, true)
		if status != http.StatusOK {
			seq-- // refused: the seq is free again
		}
		return status, string(body)
	}
	if status, body := send(nil); status != http.StatusOK {
		t.Fatalf("report without checks: %d %s", status, body)
	}
	many := make([]wire.CheckResult, wire.MaxChecks+1)
	for i := range many {
		many[i] = good
		many[i].Name = fmt.Sprintf("c%d", i)
	}
	for _, tt := range []struct {
		name   string
		checks []wire.CheckResult
		says   string
	}{
		{"too many", many, "65 checks, at most 64"},
		{"bad name", []wire.CheckResult{func() wire.CheckResult { c := good; c.Name = "../etc"; return c }()}, "is not a check name"},
		{"name twice", []wire.CheckResult{good, good}, "repeats checks[0]"},
		{"long message", []wire.CheckResult{func() wire.CheckResult { c := good; c.Message = strings.Repeat("m", 257); return c }()}, "message longer than 256 bytes"},
		{"bad kind", []wire.CheckResult{func() wire.CheckResult { c := good; c.Kind = "<b>"; return c }()}, "kind"},
		{"no time", []wire.CheckResult{func() wire.CheckResult { c := good; c.CheckedAt = time.Time{}; return c }()}, "checked_at is required"},
	} {
		status, body := send(tt.checks)
		if status != http.StatusBadRequest || !strings.Contains(body, tt.says) {
			t.Errorf("%s: %d %s, want 400 saying %q", tt.name, status, body, tt.says)
		}
	}
	future := good
	future.Name, future.Kind, future.Unit = "quic-edge", "quic", "ms" // a newer agent's kind
	if status, body := send([]wire.CheckResult{good, future}); status != http.StatusOK {
		t.Fatalf("good checks: %d %s", status, body)
	}
	hs, err := s.admin.ListHosts(t.Context(), "")
	if err != nil || len(hs) != 1 || hs[0].Latest == nil {
		t.Fatalf("hosts %+v, %v", hs, err)
	}
	if got := hs[0].Latest.Checks; len(got) != 2 || got[0] != good || got[1] != future {
		t.Errorf("stored checks %+v, want %+v and %+v", got, good, future)
	}
}
