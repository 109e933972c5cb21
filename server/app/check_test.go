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
