package app_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/apiclient"
	"github.com/vigilhq/vigil/server/alert"
	"github.com/vigilhq/vigil/server/alert/alerttest"
	"github.com/vigilhq/vigil/server/app"
	"github.com/vigilhq/vigil/server/storetest"
	"github.com/vigilhq/vigil/wire"
)

// fastAlerts is alert tuning for tests: evaluation every 100ms, flap damping 2s, SMTP retries
// from 200ms.
func fastAlerts() app.AlertTuning {
	return app.AlertTuning{
		EvalInterval: 100 * time.Millisecond, ScanInterval: 500 * time.Millisecond, SendInterval: 200 * time.Millisecond,
		LeaderRetry: 200 * time.Millisecond, FlapDamping: 2 * time.Second, RetryBase: 200 * time.Millisecond, RetryMax: time.Second,
	}
}

// startWith starts a server with cfg (DataDir, Listen, logging and limits filled in) and returns
// it with an admin client; token, when set, is the admin token to use (a second replica finds
// tokens already made and writes none).
func startWith(t *testing.T, cfg app.Config, token string) (*testServer, string) {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	cfg.Listen, cfg.Version = "127.0.0.1:0", "test"
	if os.Getenv("VIGIL_TEST_LOG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	cfg.HostRate, cfg.HostBurst = 1000, 1000
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	srv, err := app.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	caPEM, err := os.ReadFile(srv.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	if token == "" {
		b, err := os.ReadFile(filepath.Join(cfg.DataDir, app.AdminTokenFile))
		if err != nil {
			t.Fatalf("admin token: %v", err)
		}
		token = strings.TrimSpace(string(b))
	}
	return &testServer{Server: srv, client: hc, admin: apiclient.New(srv.URL, token, hc), token: token}, token
}

// onlySilenceRules deletes the default rules other than the silence one, so a real host's disk
// or load cannot add emails to what a test counts.
func onlySilenceRules(t *testing.T, c *apiclient.Client) {
	t.Helper()
	rs, err := c.ListRules(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.Kind != alert.KindSilence {
			if err := c.DeleteRule(t.Context(), r.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
}

var agentBuild struct {
	once sync.Once
	path string
	err  error
}

// agentBinary builds cmd/vigil-agent once per test run.
func agentBinary(t *testing.T) string {
	t.Helper()
	agentBuild.once.Do(func() {
		dir, err := os.MkdirTemp("", "vigil-alert-e2e-")
		if err != nil {
			agentBuild.err = err
			return
		}
		agentBuild.path = filepath.Join(dir, "vigil-agent")
		out, err := exec.Command("go", "build", "-o", agentBuild.path, "github.com/vigilhq/vigil/cmd/vigil-agent").CombinedOutput()
		if err != nil {
			agentBuild.err = fmt.Errorf("go build vigil-agent: %v\n%s", err, out)
		}
	})
	if agentBuild.err != nil {
		t.Fatal(agentBuild.err)
	}
	return agentBuild.path
}

// agent is a vigil-agent process.
type agent struct {
	t    *testing.T
	args []string
	cmd  *exec.Cmd
	log  *os.File
}

func newAgent(t *testing.T, s *testServer, token string) *agent {
	stateDir := t.TempDir()
	logf, err := os.Create(filepath.Join(stateDir, "agent.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logf.Close() })
	a := &agent{t: t, log: logf, args: []string{"--server", s.URL, "--ca", s.CAFile, "--enroll-token", token,
		"--state-dir", stateDir, "--interval", "1s"}}
	t.Cleanup(a.stop)
	return a
}

func (a *agent) start() {
	a.t.Helper()
	a.cmd = exec.Command(agentBinary(a.t), a.args...)
	a.cmd.Stdout, a.cmd.Stderr = a.log, a.log
	if err := a.cmd.Start(); err != nil {
		a.t.Fatal(err)
	}
}

func (a *agent) stop() {
	if a.cmd == nil {
		return
	}
	a.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { a.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		a.cmd.Process.Kill()
		<-done
	}
	a.cmd = nil
}

// waitFor polls cond every 50ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func subjects(msgs []alerttest.Message) string {
	var s []string
	for _, m := range msgs {
		s = append(s, m.Subject)
	}
	return strings.Join(s, " | ")
}

func countSubject(msgs []alerttest.Message, sub string) int {
	n := 0
	for _, m := range msgs {
		if strings.Contains(m.Subject, sub) {
			n++
		}
	}
	return n
}

// TestAlertEmailsEndToEnd runs the real server, a real vigil-agent process and a real SMTP
// server: stopping the agent sends exactly one silence email, starting it exactly one recovery
// email with the duration, and an email due while the SMTP server is down arrives once it is
// back, exactly once.
func TestAlertEmailsEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds and runs vigil-agent")
	}
	// ReplyDelay widens the window between the SMTP server keeping a message and its 250 reply,
	// so a test that cuts SMTP inside it fails every time, not once under load.
	smtpSrv, err := alerttest.Start(alerttest.Options{ReplyDelay: 300 * time.Millisecond})
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
	tok, err := s.admin.CreateEnrollmentToken(ctx, api.CreateEnrollmentTokenRequest{MaxUses: 1})
	if err != nil {
		t.Fatal(err)
	}
	ag := newAgent(t, s, tok.Token)
	ag.start()
	var hostID string
	reported := func(n uint64) func() bool {
		return func() bool {
			hs, err := s.admin.ListHosts(ctx, "")
			if err == nil && len(hs) == 1 && hs[0].AckedSeq >= n && hs[0].IntervalSeconds == 1 {
				hostID = hs[0].ID
				return true
			}
			return false
		}
	}
	// The agent adopts the server's interval (10s) when it enrolls; restarted, it keeps its
	// --interval 1s.
	waitFor(t, 30*time.Second, "the agent to enroll", func() bool {
		hs, err := s.admin.ListHosts(ctx, "")
		return err == nil && len(hs) == 1 && hs[0].AckedSeq >= 1
	})
	ag.stop()
	ag.start()
	waitFor(t, 30*time.Second, "the agent's reports every second", reported(3))

	// Stop the agent: one silence email (interval 1s + grace 3s after its last report).
	ag.stop()
	stopped := time.Now()
	msgs, ok := smtpSrv.Wait(20*time.Second, func(m []alerttest.Message) bool { return len(m) >= 1 })
	if !ok || countSubject(msgs, "is silent") != 1 {
		t.Fatalf("after stopping the agent: %q", subjects(msgs))
	}
	t.Logf("silence email %s after the agent stopped", time.Since(stopped).Round(time.Millisecond))
	// The body is quoted-printable: join its soft line breaks before looking for the link.
	unfolded := strings.NewReplacer("=\r\n", "", "=\n", "").Replace(string(msgs[0].Raw))
	if m := msgs[0]; m.To[0] != "ops@example.com" || !strings.Contains(unfolded, "https://vigil.example.com/hosts/"+hostID) ||
		!strings.Contains(unfolded, "["+hostID[:8]+"]") {
		t.Errorf("silence email:\n%s", m.Raw)
	}

	// Start it again: one recovery email saying how long it was silent.
	time.Sleep(time.Second) // let the silence last a little beyond the deadline
	ag.start()
	msgs, ok = smtpSrv.Wait(30*time.Second, func(m []alerttest.Message) bool { return len(m) >= 2 })
	if !ok || countSubject(msgs, "is reporting again after") != 1 {
		t.Fatalf("after restarting the agent: %q", subjects(msgs))
	}
	if !strings.Contains(string(msgs[1].Raw), "was silent for") {
		t.Errorf("recovery email does not state the duration:\n%s", msgs[1].Raw)
	}

	// SMTP down during an alert: the email waits, then arrives once. The SMTP server keeps a
	// message a moment before it replies 250 (ReplyDelay); cutting it in that window would make
	// the sender, which never saw the 250, rightly send the recovery email again (same
	// Message-ID). So the outage starts only once the outbox says the sender saw the 250.
	waitFor(t, 10*time.Second, "the recovery email to be recorded as sent", func() bool {
		ns, err := s.admin.ListNotifications(ctx, 10)
		return err == nil && len(ns) == 2 && ns[0].Status == alert.NotifySent && ns[1].Status == alert.NotifySent
	})
	smtpSrv.Stop()
	ag.stop()
	waitFor(t, 20*time.Second, "a failed delivery attempt", func() bool {
		ns, err := s.admin.ListNotifications(ctx, 10)
		return err == nil && len(ns) == 3 && ns[0].Status == alert.NotifyRetrying
	})
	time.Sleep(time.Second) // more failed attempts
	if err := smtpSrv.Resume(); err != nil {
		t.Fatal(err)
	}
	msgs, ok = smtpSrv.Wait(20*time.Second, func(m []alerttest.Message) bool { return len(m) >= 3 })
	if !ok || countSubject(msgs, "is silent") != 2 {
		t.Fatalf("after SMTP came back: %q", subjects(msgs))
	}
	// Nothing more, and nothing twice.
	time.Sleep(2 * time.Second)
	msgs = smtpSrv.Messages()
	if len(msgs) != 3 {
		t.Errorf("emails: %q, want silent, recovered, silent", subjects(msgs))
	}
	for id, n := range smtpSrv.CountByMessageID() {
		if n != 1 {
			t.Errorf("Message-ID %s arrived %d times", id, n)
		}
	}
	ns, err := s.admin.ListNotifications(ctx, 10)
	if err != nil || len(ns) != 3 {
		t.Fatalf("notifications %+v, %v", ns, err)
	}
	for _, n := range ns {
		if n.Status != alert.NotifySent {
			t.Errorf("notification %d status %s", n.ID, n.Status)
		}
	}
	as, err := s.admin.ListAlerts(ctx, false, hostID, 10)
	if err != nil || len(as) != 2 || as[0].State != alert.StateFiring || as[1].State != alert.StateResolved || as[1].Reason != alert.ReasonUnknown {
		t.Errorf("alerts %+v, %v", as, err)
	}
}

// TestAlertLeaderFailover runs two replicas on one PostgreSQL schema. During an alert storm (30
// hosts silent at once, no group collapse, a slow SMTP server) the leader is shut down; the other
// replica takes over, and every email arrives exactly once (counted by Message-ID).
func TestAlertLeaderFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	dbURL := storetest.PostgresURL(t, "apptest")
	smtpSrv, err := alerttest.Start(alerttest.Options{Delay: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer smtpSrv.Stop()
	tune := fastAlerts()
	tune.GroupShare = 1 // every host its own email: a storm
	cfg := app.Config{DatabaseURL: dbURL, SMTPURL: "smtp://" + smtpSrv.Addr(), SMTPFrom: "vigil@example.com",
		AlertEmails: []string{"ops@example.com"}, PublicURL: "https://vigil.example.com", Alert: tune}
	a, token := startWith(t, cfg, "")
	waitFor(t, 10*time.Second, "the first replica to lead", a.AlertLeading)
	b, _ := startWith(t, cfg, token)
	time.Sleep(500 * time.Millisecond)
	if b.AlertLeading() {
		t.Fatal("both replicas lead")
	}
	ctx := t.Context()
	onlySilenceRules(t, b.admin)

	const hosts = 30
	var creds []string
	for i := range hosts {
		creds = append(creds, b.enrollQuiet(t, fmt.Sprintf("storm-%02d", i)))
	}
	for seq := uint64(1); seq <= 2; seq++ {
		for _, c := range creds {
			r := wire.Report{Seq: seq, Time: time.Now().UTC(), IntervalSeconds: 1, BootTime: time.Now().Add(-time.Hour).UTC()}
			if status, body := b.post(t, "/api/v1/reports", c, wire.ReportBatch{Reports: []wire.Report{r}}, false); status != http.StatusOK {
				t.Fatalf("report: %d %s", status, body)
			}
		}
	}
	// All go silent; kill the leader once a few emails are out.
	if _, ok := smtpSrv.Wait(30*time.Second, func(m []alerttest.Message) bool { return len(m) >= 5 }); !ok {
		t.Fatalf("storm emails did not start: %q", subjects(smtpSrv.Messages()))
	}
	if err := a.Shutdown(context.Background()); err != nil {
		t.Fatalf("shut the leader down: %v", err)
	}
	killedAt := len(smtpSrv.Messages())
	waitFor(t, 10*time.Second, "the second replica to take over", b.AlertLeading)
	_, ok := smtpSrv.Wait(60*time.Second, func(m []alerttest.Message) bool { return len(m) >= hosts })
	time.Sleep(time.Second) // a duplicate, if any, would arrive right behind
	msgs := smtpSrv.Messages()
	counts := smtpSrv.CountByMessageID()
	t.Logf("leader shut down after %d of %d emails; %d emails, %d distinct Message-IDs", killedAt, hosts, len(msgs), len(counts))
	if !ok || len(counts) != hosts {
		t.Errorf("%d distinct emails, want %d: %q", len(counts), hosts, subjects(msgs))
	}
	for id, n := range counts {
		if n != 1 {
			t.Errorf("Message-ID %s arrived %d times", id, n)
		}
	}
	if len(msgs) != hosts {
		t.Errorf("%d emails, want %d", len(msgs), hosts)
	}
	ns, err := b.admin.ListNotifications(ctx, 100)
	if err != nil || len(ns) != hosts {
		t.Fatalf("outbox %d, %v", len(ns), err)
	}
}

// enrollQuiet enrolls a host and returns its credential.
func (s *testServer) enrollQuiet(t *testing.T, hostname string) string {
	t.Helper()
	tok, err := s.admin.CreateEnrollmentToken(t.Context(), api.CreateEnrollmentTokenRequest{MaxUses: 1})
	if err != nil {
		t.Fatal(err)
	}
	status, body := s.post(t, "/api/v1/enroll", "", wire.EnrollRequest{EnrollmentToken: tok.Token, Hostname: hostname, OS: "linux", Arch: "amd64", AgentVersion: "1.0.0"}, false)
	if status != http.StatusCreated {
		t.Fatalf("enroll: %d %s", status, body)
	}
	var resp wire.EnrollResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatal(err)
	}
	return resp.Credential
}

// TestAlertAPI exercises rules, silences, alerts and notifications through the HTTP API: role
// checks, validation, and the audit trail.
func TestAlertAPI(t *testing.T) {
	s, _ := startWith(t, app.Config{Alert: fastAlerts()}, "")
	ctx := t.Context()
	rs, err := s.admin.ListRules(ctx)
	if err != nil || len(rs) != 7 {
		t.Fatalf("default rules %d, %v", len(rs), err)
	}
	r, err := s.admin.CreateRule(ctx, api.Rule{Kind: alert.KindDisk, Threshold: 80, Match: "/var", Group: "default", For: api.Duration(2 * time.Minute)})
	if err != nil || r.ID == "" || r.Name != "Disk used above 80% (/var) for 2m" {
		t.Fatalf("CreateRule = %+v, %v", r, err)
	}
	for _, bad := range []api.Rule{
		{Kind: "nope"}, {Kind: alert.KindCPU, Threshold: 150}, {Kind: alert.KindSilence, For: api.Duration(time.Minute)},
		{Kind: alert.KindCPU, Threshold: 90, Match: "x"}, {Kind: alert.KindProcess, Threshold: 1},
	} {
		if _, err := s.admin.CreateRule(ctx, bad); !apiclient.IsCode(err, api.CodeInvalid) {
			t.Errorf("CreateRule(%+v) = %v, want invalid", bad, err)
		}
	}
	if err := s.admin.DeleteRule(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.admin.DeleteRule(ctx, r.ID); !apiclient.IsCode(err, api.CodeNotFound) {
		t.Errorf("second DeleteRule = %v", err)
	}
	sil, err := s.admin.CreateSilence(ctx, api.CreateSilenceRequest{Group: "default", Duration: "2h", Comment: "kernel updates"})
	if err != nil || sil.EndsAt.Sub(sil.StartsAt) != 2*time.Hour {
		t.Fatalf("CreateSilence = %+v, %v", sil, err)
	}
	if _, err := s.admin.CreateSilence(ctx, api.CreateSilenceRequest{Duration: "1h"}); !apiclient.IsCode(err, api.CodeInvalid) {
		t.Errorf("silence without scope: %v", err)
	}
	if ss, err := s.admin.ListSilences(ctx, false); err != nil || len(ss) != 1 || ss[0].Comment != "kernel updates" {
		t.Errorf("ListSilences = %+v, %v", ss, err)
	}
	if err := s.admin.DeleteSilence(ctx, sil.ID); err != nil {
		t.Fatal(err)
	}
	audit, err := s.admin.ListAudit(ctx, 10)
	if err != nil || len(audit) < 3 || audit[0].Action != "silence.delete" || audit[1].Action != "silence.create" || audit[2].Action != "rule.delete" {
		t.Errorf("audit %+v, %v", audit, err)
	}
	if as, err := s.admin.ListAlerts(ctx, true, "", 0); err != nil || len(as) != 0 {
		t.Errorf("ListAlerts = %+v, %v", as, err)
	}
	if ns, err := s.admin.ListNotifications(ctx, 0); err != nil || len(ns) != 0 {
		t.Errorf("ListNotifications = %+v, %v", ns, err)
	}
	if _, err := s.admin.GetAlert(ctx, 12345); !apiclient.IsCode(err, api.CodeNotFound) {
		t.Errorf("GetAlert missing = %v", err)
	}
	// A viewer may read but not write.
	var tok api.CreateTokenResponse
	if err := s.admin.Do(ctx, http.MethodPost, "/api/v1/tokens", api.CreateTokenRequest{Name: "v", Role: "viewer"}, &tok); err != nil {
		t.Fatal(err)
	}
	viewer := apiclient.New(s.URL, tok.Token, s.client)
	if _, err := viewer.ListRules(ctx); err != nil {
		t.Errorf("viewer ListRules: %v", err)
	}
	if _, err := viewer.CreateRule(ctx, api.Rule{Kind: alert.KindCPU, Threshold: 95}); !apiclient.IsCode(err, api.CodeForbidden) {
		t.Errorf("viewer CreateRule = %v, want forbidden", err)
	}
}

// TestAlertRetentionAndMetrics: a typo in --alert-retention (90s meant as 90 days) or
// --audit-retention fails the start instead of wiping the history, and /metrics carries
// alerting's series (evaluation time, outbox depth, send failures) and audit retention's.
func TestAlertRetentionAndMetrics(t *testing.T) {
	_, err := app.Start(context.Background(), app.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Version: "test",
		AlertRetention: 90 * time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err == nil || !strings.Contains(err.Error(), "--alert-retention") {
		t.Fatalf("Start with --alert-retention 90s = %v, want refused", err)
	}
	_, err = app.Start(context.Background(), app.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Version: "test",
		AuditRetention: 30 * time.Minute, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err == nil || !strings.Contains(err.Error(), "--audit-retention") {
		t.Fatalf("Start with --audit-retention 30m = %v, want refused", err)
	}
	s, _ := startWith(t, app.Config{Alert: fastAlerts()}, "")
	waitFor(t, 10*time.Second, "alerting's first cycle", s.AlertLeading)
	var body string
	waitFor(t, 10*time.Second, "alerting series in /metrics", func() bool {
		resp, err := s.get(s.URL+"/metrics", s.token)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return strings.Contains(body, "vigil_alert_evaluation_seconds_count")
	})
	for _, want := range []string{"vigil_alert_outbox_depth 0", "vigil_alert_send_failures_total 0", "vigil_alert_emails_sent_total 0", "vigil_audit_pruned_total 0"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
