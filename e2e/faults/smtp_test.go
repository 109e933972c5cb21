package faults

import (
	"context"
	"fmt"
	"github.com/vigilhq/vigil/e2e/e2eproc"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/server/alert/alerttest"
	"github.com/vigilhq/vigil/wire"
)

// TestSMTPFlappingStorm: an alert storm (every host goes silent at once, one email per host)
// meets an SMTP server that is down when the storm starts, then flaps — up and down every couple
// of seconds, each stop cutting the connections in flight — then stays up. Every notification
// must arrive, under its own Message-ID, exactly one distinct email per host: lost 0. A stop that
// lands between the SMTP server keeping a message and its 250 reply makes the sender send it
// again with the same Message-ID (at-least-once, as with any SMTP relay; mail systems drop the
// repeat): such repeats are counted and reported, and must be fewer than the stops.
func TestSMTPFlappingStorm(t *testing.T) {
	e2eproc.SkipShort(t)
	t.Parallel()
	hosts := rounds(12, 40)
	flaps := rounds(4, 10)
	smtpSrv, err := alerttest.Start(alerttest.Options{Delay: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(smtpSrv.Stop)
	srv := e2eproc.StartServer(t, e2eproc.ServerConfig{Args: []string{"--smtp-url", "smtp://" + smtpSrv.Addr(),
		"--smtp-from", "vigil@example.com", "--alert-email", "ops@example.com"}})
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	admin := srv.Client()

	// Only the silence rule: synthetic reports must not trip thresholds and add emails.
	e2eproc.OnlySilenceRule(ctx, t, admin)
	// Groups of two (group collapse needs three late hosts): one email per host. Grace 1 s.
	const perGroup = 2
	type host struct{ name, cred string }
	var hs []host
	for g := range (hosts + perGroup - 1) / perGroup {
		group := fmt.Sprintf("grp-%02d", g)
		if _, err := admin.CreateGroup(ctx, api.CreateGroupRequest{Name: group, Grace: "1s"}); err != nil {
			t.Fatalf("create group %s: %v", group, err)
		}
		et, err := admin.CreateEnrollmentToken(ctx, api.CreateEnrollmentTokenRequest{Group: group, TTL: "1h", MaxUses: perGroup})
		if err != nil {
			t.Fatal(err)
		}
		for i := range perGroup {
			name := fmt.Sprintf("host-%02d", g*perGroup+i)
			_, cred := e2eproc.EnrollHost(ctx, t, srv, et.Token, name, "1.0.0")
			hs = append(hs, host{name: name, cred: cred})
		}
	}
	hosts = len(hs)

	// SMTP goes down, then every host reports for a few seconds and stops at once.
	smtpSrv.Stop()
	boot := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	for seq := uint64(1); seq <= 3; seq++ {
		round := time.Now()
		for _, h := range hs {
			r := wire.Report{Seq: seq, Time: time.Now().UTC(), AgentVersion: "1.0.0", IntervalSeconds: 1, BootTime: boot}
			if err := e2eproc.PostJSON(ctx, srv, "/api/v1/reports", h.cred, wire.ReportBatch{Reports: []wire.Report{r}}, http.StatusOK, nil); err != nil {
				t.Fatalf("report %s seq %d: %v", h.name, seq, err)
			}
		}
		time.Sleep(time.Second - time.Since(round))
	}

	// Down until the first sends have failed (the outbox shows retries), then flap.
	e2eproc.WaitFor(t, 90*time.Second, "alert emails to fail while SMTP is down", func() (bool, error) {
		ns, err := admin.ListNotifications(ctx, 1000)
		if err != nil {
			return false, err
		}
		for _, n := range ns {
			if n.Status == api.NotifyRetrying {
				return true, nil
			}
		}
		return false, fmt.Errorf("%d notifications, none retrying", len(ns))
	})
	if n := len(smtpSrv.Messages()); n != 0 {
		t.Fatalf("%d emails arrived while SMTP was down", n)
	}
	for range flaps {
		if err := smtpSrv.Resume(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second)
		smtpSrv.Stop()
		time.Sleep(2 * time.Second)
	}
	atFlapEnd := len(smtpSrv.Messages())
	if err := smtpSrv.Resume(); err != nil {
		t.Fatal(err)
	}

	var ns []api.Notification
	e2eproc.WaitFor(t, 5*time.Minute, "every notification to be sent", func() (bool, error) {
		var err error
		if ns, err = admin.ListNotifications(ctx, 1000); err != nil {
			return false, err
		}
		for _, n := range ns {
			if n.Status != api.NotifySent {
				return false, fmt.Errorf("notification %d (%s) is %s", n.ID, n.Subject, n.Status)
			}
		}
		return len(ns) >= hosts, fmt.Errorf("%d notifications", len(ns))
	})
	if !srv.Running() {
		t.Fatalf("vigil-server exited: %v", srv.Err())
	}

	counts := smtpSrv.CountByMessageID()
	msgs := smtpSrv.Messages()
	if len(ns) != hosts {
		t.Errorf("outbox holds %d notifications, want %d", len(ns), hosts)
	}
	for _, n := range ns {
		if counts[n.MessageID] == 0 {
			t.Errorf("email %q (Message-ID %s) never arrived", n.Subject, n.MessageID)
		}
	}
	perHost := map[string]map[string]bool{}
	for _, m := range msgs {
		if m.MessageID == "" || !strings.HasPrefix(m.Subject, "[vigil] FIRING: ") {
			t.Errorf("unexpected email %q (Message-ID %q)", m.Subject, m.MessageID)
		}
		for _, h := range hs {
			if strings.Contains(m.Subject, h.name+" ") || strings.HasSuffix(m.Subject, h.name) {
				if perHost[h.name] == nil {
					perHost[h.name] = map[string]bool{}
				}
				perHost[h.name][m.MessageID] = true
			}
		}
	}
	for _, h := range hs {
		if len(perHost[h.name]) != 1 {
			t.Errorf("host %s: %d distinct emails, want 1", h.name, len(perHost[h.name]))
		}
	}
	if len(counts) != hosts {
		t.Errorf("%d distinct Message-IDs, want %d", len(counts), hosts)
	}
	repeats := len(msgs) - len(counts)
	if repeats >= flaps {
		t.Errorf("%d repeated deliveries (same Message-ID) for %d SMTP stops", repeats, flaps)
	}
	if t.Failed() {
		return
	}
	t.Logf("%d emails, %d distinct Message-IDs; %d arrived during the flapping; %d repeated with the same Message-ID", len(msgs), len(counts), atFlapEnd, repeats)
	record(t, result{
		Fault:  "SMTP down, then flapping, during an alert storm",
		Tried:  fmt.Sprintf("storm of %d emails; SMTP down at the start, then %d stop/resume cycles of 2 s", hosts, flaps),
		Result: fmt.Sprintf("%d of %d emails arrived, each under one Message-ID: lost 0, duplicated alerts 0 (%d SMTP-level repeats with the same Message-ID)", len(counts), hosts, repeats),
	})
}
