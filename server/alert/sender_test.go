package alert_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigilhq/vigil/server/alert"
	"github.com/vigilhq/vigil/server/alert/alerttest"
)

func TestParseSMTPURL(t *testing.T) {
	for _, tt := range []struct {
		url  string
		want alert.SMTPTarget
		err  bool
	}{
		{"smtp://relay.local", alert.SMTPTarget{Scheme: "smtp", Host: "relay.local", Port: 25}, false},
		{"smtp+starttls://u:p%40ss@mail.example.com", alert.SMTPTarget{Scheme: "smtp+starttls", Host: "mail.example.com", Port: 587, User: "u", Pass: "p@ss"}, false},
		{"smtps://u:secret@mail.example.com:2465", alert.SMTPTarget{Scheme: "smtps", Host: "mail.example.com", Port: 2465, User: "u", Pass: "secret"}, false},
		{"http://mail.example.com", alert.SMTPTarget{}, true},
		{"smtps://u:secret@:465", alert.SMTPTarget{}, true},
		{"smtp://u:secret@host:99999", alert.SMTPTarget{}, true},
	} {
		got, err := alert.ParseSMTPURL(tt.url)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseSMTPURL(%q) = %+v, %v", tt.url, got, err)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("error reveals the password: %v", err)
		}
	}
	if got := alert.RedactURL("smtps://u:secret@mail.example.com:465"); strings.Contains(got, "secret") {
		t.Errorf("RedactURL kept the password: %s", got)
	}
}

// selfSigned returns a server certificate for 127.0.0.1 and a client config trusting it.
func selfSigned(t *testing.T) (*tls.Config, *tls.Config) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, &tls.Config{RootCAs: pool}
}

// queue stores one firing alert with one email to ops@example.com and returns the email.
func queue(t *testing.T, st alert.Store, key string, at time.Time) alert.Notification {
	t.Helper()
	n := alert.Notification{Key: key, AlertKey: "a/" + key, Event: alert.EventFiring, To: []string{"ops@example.com"},
		Subject: "[vigil] FIRING: " + key, Text: "web-1 is silent.\n", HTML: "<p>web-1 is silent.</p>",
		MessageID: alert.MessageID(key, "https://vigil.example.com"), CreatedAt: at, NextAttempt: at}
	a := &alert.Alert{Key: "a/" + key, State: alert.StateFiring, StartedAt: at}
	if err := st.SaveAlert(t.Context(), a, alert.AlertEvent{Time: at}, []alert.Notification{n}); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSenderSMTP(t *testing.T) {
	serverTLS, clientTLS := selfSigned(t)
	for _, tt := range []struct {
		name   string
		opts   alerttest.Options
		scheme string
	}{
		{"plain", alerttest.Options{}, "smtp://"},
		{"plain with auth", alerttest.Options{User: "vigil", Pass: "s3cret"}, "smtp://vigil:s3cret@"},
		{"starttls", alerttest.Options{TLS: serverTLS, STARTTLS: true, User: "vigil", Pass: "s3cret"}, "smtp+starttls://vigil:s3cret@"},
		{"smtps", alerttest.Options{TLS: serverTLS, User: "vigil", Pass: "s3cret"}, "smtps://vigil:s3cret@"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := alerttest.Start(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Stop()
			st := openSQLite(t)
			n := queue(t, st, "k1", time.Now())
			s, err := alert.NewSender(alert.SenderConfig{Store: st, URL: tt.scheme + srv.Addr(), From: "vigil@example.com",
				TLSConfig: clientTLS, Logger: quietLog(), Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			sent, err := s.Drain(t.Context(), nil)
			if err != nil || sent != 1 {
				ns, _ := st.ListNotifications(t.Context(), 0, 0)
				t.Fatalf("Drain = %d, %v; outbox %+v", sent, err, ns)
			}
			msgs := srv.Messages()
			if len(msgs) != 1 {
				t.Fatalf("server got %d messages", len(msgs))
			}
			m := msgs[0]
			if m.MessageID != n.MessageID || m.Subject != n.Subject || m.From != "vigil@example.com" || m.To[0] != "ops@example.com" {
				t.Errorf("message %+v", m)
			}
			raw := string(m.Raw)
			if !strings.Contains(raw, "text/plain") || !strings.Contains(raw, "text/html") || m.Header.Get("Auto-Submitted") != "auto-generated" {
				t.Errorf("message lacks a text and an HTML part or headers:\n%s", raw)
			}
			// Nothing left to send: not twice.
			if sent, _ := s.Drain(t.Context(), nil); sent != 0 || len(srv.Messages()) != 1 {
				t.Errorf("second Drain sent %d", sent)
			}
		})
	}
}

func TestSenderWrongPassword(t *testing.T) {
	srv, err := alerttest.Start(alerttest.Options{User: "vigil", Pass: "right"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	st := openSQLite(t)
	queue(t, st, "k1", time.Now())
	s, _ := alert.NewSender(alert.SenderConfig{Store: st, URL: "smtp://vigil:wrong@" + srv.Addr(), From: "vigil@example.com", Logger: quietLog()})
	if sent, err := s.Drain(t.Context(), nil); sent != 0 || err != nil {
		t.Fatalf("Drain = %d, %v", sent, err)
	}
	ns, _ := st.ListNotifications(t.Context(), 0, 0)
	if ns[0].Status != alert.NotifyRetrying || strings.Contains(ns[0].LastError, "wrong") {
		t.Errorf("notification %+v (the error must not echo the password)", ns[0])
	}
}

// TestSenderRetries fails deliveries while "SMTP is down", with backoff, then delivers once.
func TestSenderRetries(t *testing.T) {
	st := openSQLite(t)
	clock := &fakeClock{now: t0}
	queue(t, st, "k1", t0)
	var (
		mu   sync.Mutex
		down = true
		got  []string
	)
	s, err := alert.NewSender(alert.SenderConfig{Store: st, Logger: quietLog(), Now: clock.Now, RetryBase: 10 * time.Second, RetryMax: time.Minute,
		Send: func(ctx context.Context, n alert.Notification) error {
			mu.Lock()
			defer mu.Unlock()
			if down {
				return errors.New("connection refused")
			}
			got = append(got, n.Key)
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	var nexts []time.Duration
	for range 4 {
		if sent, err := s.Drain(t.Context(), nil); sent != 0 || err != nil {
			t.Fatalf("Drain while down = %d, %v", sent, err)
		}
		ns, _ := st.ListNotifications(t.Context(), 0, 0)
		nexts = append(nexts, ns[0].NextAttempt.Sub(clock.Now()))
		// Not due again before its next attempt.
		if sent, _ := s.Drain(t.Context(), nil); sent != 0 {
			t.Fatal("retried before the backoff passed")
		}
		clock.set(ns[0].NextAttempt)
	}
	// Backoff doubles from 10s (plus up to 10% jitter), capped at 1m.
	for i, want := range []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, time.Minute} {
		if nexts[i] < want || nexts[i] > want+want/10+time.Millisecond {
			t.Errorf("backoff %d = %s, want %s..+10%%", i, nexts[i], want)
		}
	}
	mu.Lock()
	down = false
	mu.Unlock()
	if sent, err := s.Drain(t.Context(), nil); sent != 1 || err != nil {
		t.Fatalf("Drain after recovery = %d, %v", sent, err)
	}
	if sent, _ := s.Drain(t.Context(), nil); sent != 0 || len(got) != 1 {
		t.Errorf("sent %v, want k1 once", got)
	}
	ns, _ := st.ListNotifications(t.Context(), 0, 0)
	if ns[0].Status != alert.NotifySent || ns[0].Attempts != 5 {
		t.Errorf("notification %+v", ns[0])
	}
}

// TestSenderNoRecipientsAndExpiry skips emails nobody would get and emails too old to help.
func TestSenderNoRecipientsAndExpiry(t *testing.T) {
	st := openSQLite(t)
	clock := &fakeClock{now: t0}
	a := &alert.Alert{Key: "a", State: alert.StateFiring, StartedAt: t0}
	if err := st.SaveAlert(t.Context(), a, alert.AlertEvent{Time: t0}, []alert.Notification{
		{Key: "nobody", Subject: "x", CreatedAt: t0, NextAttempt: t0},
		{Key: "old", To: []string{"ops@example.com"}, Subject: "y", CreatedAt: t0.Add(-48 * time.Hour), NextAttempt: t0},
	}); err != nil {
		t.Fatal(err)
	}
	calls := 0
	s, _ := alert.NewSender(alert.SenderConfig{Store: st, Logger: quietLog(), Now: clock.Now,
		Send: func(context.Context, alert.Notification) error { calls++; return nil }})
	if _, err := s.Drain(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	ns, _ := st.ListNotifications(t.Context(), 0, 0)
	for _, n := range ns {
		if n.Status != alert.NotifySkipped {
			t.Errorf("%s: %+v", n.Key, n)
		}
	}
	if calls != 0 {
		t.Errorf("sent %d", calls)
	}
}

// TestSendersShareOutbox drains one outbox with two senders at once (two replicas in a
// split-brain moment): every email goes exactly once.
func TestSendersShareOutbox(t *testing.T) {
	st := openSQLite(t)
	for i := range 40 {
		queue(t, st, "k"+string(rune('a'+i%26))+string(rune('a'+i/26)), time.Now())
	}
	var (
		mu    sync.Mutex
		count = map[string]int{}
	)
	send := func(_ context.Context, n alert.Notification) error {
		mu.Lock()
		count[n.MessageID]++
		mu.Unlock()
		return nil
	}
	var wg sync.WaitGroup
	for range 2 {
		s, _ := alert.NewSender(alert.SenderConfig{Store: st, Logger: quietLog(), Send: send, Batch: 3})
		wg.Go(func() {
			if _, err := s.Drain(t.Context(), nil); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if len(count) != 40 {
		t.Errorf("%d distinct emails sent, want 40", len(count))
	}
	for id, n := range count {
		if n != 1 {
			t.Errorf("%s sent %d times", id, n)
		}
	}
}

// TestSenderLeaseCoversDelivery: a slow SMTP server (each delivery close to the timeout) must
// not make a sender deliver an email whose claim already expired, because another replica may
// have claimed and sent it meanwhile. Replica B drains the outbox during every delivery of A.
func TestSenderLeaseCoversDelivery(t *testing.T) {
	st := openSQLite(t)
	clock := &fakeClock{now: t0}
	for i := range 8 {
		queue(t, st, fmt.Sprintf("k%d", i), t0)
	}
	var (
		mu    sync.Mutex
		count = map[string]int{}
	)
	record := func(n alert.Notification) {
		mu.Lock()
		count[n.Key]++
		mu.Unlock()
	}
	b, err := alert.NewSender(alert.SenderConfig{Store: st, Logger: quietLog(), Now: clock.Now, Owner: "b",
		Send: func(_ context.Context, n alert.Notification) error { record(n); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	a, err := alert.NewSender(alert.SenderConfig{Store: st, Logger: quietLog(), Now: clock.Now, Owner: "a",
		Lease: 2 * time.Minute, Timeout: 30 * time.Second,
		Send: func(ctx context.Context, n alert.Notification) error {
			// B runs while A's delivery is in progress, at A's start time and after it.
			if _, err := b.Drain(context.WithoutCancel(ctx), nil); err != nil {
				t.Errorf("replica b: %v", err)
			}
			clock.set(clock.Now().Add(29 * time.Second)) // a slow server, just within the timeout
			record(n)
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if _, err := a.Drain(t.Context(), nil); err != nil {
			t.Fatalf("replica a: %v", err)
		}
		clock.set(clock.Now().Add(time.Second))
	}
	if _, err := b.Drain(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	if len(count) != 8 {
		t.Errorf("%d distinct emails sent, want 8: %v", len(count), count)
	}
	for k, n := range count {
		if n != 1 {
			t.Errorf("%s sent %d times", k, n)
		}
	}
}

func TestSenderLeaseMustExceedTimeout(t *testing.T) {
	st := openSQLite(t)
	send := func(context.Context, alert.Notification) error { return nil }
	if _, err := alert.NewSender(alert.SenderConfig{Store: st, Send: send, Lease: time.Minute, Timeout: time.Minute}); err == nil {
		t.Error("a lease no longer than the timeout was accepted: nothing could ever be sent")
	}
	if _, err := alert.NewSender(alert.SenderConfig{Store: st, Send: send, Timeout: 5 * time.Minute}); err != nil {
		t.Errorf("a long timeout with the default lease: %v", err)
	}
}

// finishFlaky fails the first FinishNotification, as a database blip right after the SMTP
// server accepted an email would.
type finishFlaky struct {
	alert.Store
	mu     sync.Mutex
	failed bool
}

func (f *finishFlaky) FinishNotification(ctx context.Context, id int64, owner, outcome string, at time.Time, note string) error {
	f.mu.Lock()
	fail := !f.failed
	f.failed = true
	f.mu.Unlock()
	if fail {
		return errors.New("connection reset by peer (simulated)")
	}
	return f.Store.FinishNotification(ctx, id, owner, outcome, at, note)
}

// TestSenderRecordsAfterStoreBlip: an email the SMTP server accepted is recorded as sent even if
// the first attempt to record it fails, so it is not sent again when its claim expires.
func TestSenderRecordsAfterStoreBlip(t *testing.T) {
	sq := openSQLite(t)
	st := &finishFlaky{Store: sq}
	clock := &fakeClock{now: t0}
	queue(t, sq, "k1", t0)
	sends := 0
	s, err := alert.NewSender(alert.SenderConfig{Store: st, Logger: quietLog(), Now: clock.Now,
		Send: func(context.Context, alert.Notification) error { sends++; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Drain(t.Context(), nil); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	clock.set(t0.Add(time.Hour)) // long after the claim expired
	if _, err := s.Drain(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	ns, _ := sq.ListNotifications(t.Context(), 0, 0)
	if sends != 1 || !st.failed || ns[0].Status != alert.NotifySent {
		t.Errorf("sent %d times (want 1), status %s", sends, ns[0].Status)
	}
}

// TestSenderCutBeforeReply is the case behind a once-flaky end-to-end test: the SMTP server keeps
// a message and the connection dies before its 250 reply. The sender never learned the server
// accepted it, so it must not mark it sent: it retries, and the second copy carries the same
// Message-ID (the one duplicate SMTP cannot avoid, which mail clients fold by Message-ID). Once
// the 250 arrived, nothing is sent again.
func TestSenderCutBeforeReply(t *testing.T) {
	srv, err := alerttest.Start(alerttest.Options{ReplyDelay: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	st := openSQLite(t)
	n := queue(t, st, "k1", time.Now())
	reg := prometheus.NewRegistry()
	s, err := alert.NewSender(alert.SenderConfig{Store: st, URL: "smtp://" + srv.Addr(), From: "vigil@example.com",
		Logger: quietLog(), Timeout: 5 * time.Second, RetryBase: time.Millisecond, RetryMax: time.Millisecond,
		Metrics: alert.NewMetrics(reg)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan int)
	go func() {
		sent, err := s.Drain(t.Context(), nil)
		if err != nil {
			t.Errorf("Drain: %v", err)
		}
		done <- sent
	}()
	if _, ok := srv.Wait(5*time.Second, func(m []alerttest.Message) bool { return len(m) == 1 }); !ok {
		t.Fatal("the server never got the message")
	}
	srv.Stop() // inside ReplyDelay: kept, not acknowledged
	if sent := <-done; sent != 0 {
		t.Fatalf("Drain = %d sent, want 0: the 250 never came", sent)
	}
	ns, _ := st.ListNotifications(t.Context(), 0, 0)
	if ns[0].Status != alert.NotifyRetrying {
		t.Fatalf("status %s after a cut before the reply, want retrying", ns[0].Status)
	}
	if err := srv.Resume(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // past the 1ms backoff
	if sent, err := s.Drain(t.Context(), nil); sent != 1 || err != nil {
		t.Fatalf("Drain after resume = %d, %v", sent, err)
	}
	if sent, _ := s.Drain(t.Context(), nil); sent != 0 {
		t.Errorf("sent again after the 250: %d", sent)
	}
	if c := srv.CountByMessageID(); len(c) != 1 || c[n.MessageID] != 2 {
		t.Errorf("messages by Message-ID %v, want %s twice", c, n.MessageID)
	}
	ns, _ = st.ListNotifications(t.Context(), 0, 0)
	if ns[0].Status != alert.NotifySent || ns[0].Attempts != 2 {
		t.Errorf("notification %+v", ns[0])
	}
	if v, _ := metricValue(t, reg, "vigil_alert_send_failures_total", ""); v != 1 {
		t.Errorf("send failures metric %v, want 1", v)
	}
	if v, _ := metricValue(t, reg, "vigil_alert_emails_sent_total", ""); v != 1 {
		t.Errorf("emails sent metric %v, want 1", v)
	}
}
