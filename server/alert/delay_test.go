package alert_test

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/alert"
	"github.com/vigilhq/vigil/server/alert/alerttest"
	"github.com/vigilhq/vigil/wire"
)

// TestSilenceEmailDelay measures, with the real clock, the real Runner (default 1s evaluation
// and 10s scan) and a real SMTP server, how long after a host's deadline (last report + interval
// + grace) its silence email reaches the SMTP server — while 100,000 other hosts are in the
// store and all of them "report" (their seq moves) every 10s, so the rules have the whole fleet
// to evaluate. Goal: under 2s. Set VIGIL_ALERT_DELAY_ROUNDS for more rounds.
func TestSilenceEmailDelay(t *testing.T) {
	// A measurement, not a check: it runs from `make bench` (VIGIL_BENCH=1), never in `make test`.
	if os.Getenv("VIGIL_BENCH") == "" {
		t.Skip("a benchmark with 100,000 hosts in real time; run with VIGIL_BENCH=1 (make bench)")
	}
	rounds := 5
	if v := os.Getenv("VIGIL_ALERT_DELAY_ROUNDS"); v != "" {
		if _, err := fmtSscan(v, &rounds); err != nil {
			t.Fatal(err)
		}
	}
	for _, bs := range []struct {
		name string
		open func(t *testing.T) benchStore
	}{
		{"sqlite", func(t *testing.T) benchStore { return seedSQLite(t, benchHosts, time.Now().Add(24*time.Hour)) }},
		{"postgres", func(t *testing.T) benchStore { return seedPostgres(t, benchHosts, time.Now().Add(24*time.Hour)) }},
	} {
		t.Run(bs.name, func(t *testing.T) {
			st := bs.open(t)
			ctx := t.Context()
			smtpSrv, err := alerttest.Start(alerttest.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer smtpSrv.Stop()
			sender, err := alert.NewSender(alert.SenderConfig{Store: st, URL: "smtp://" + smtpSrv.Addr(), From: "vigil@example.com", Logger: quietLog()})
			if err != nil {
				t.Fatal(err)
			}
			eng, err := alert.NewEngine(alert.Config{Store: st, Logger: quietLog(), Recipients: []string{"ops@example.com"},
				FlapDamping: time.Second, OnQueued: sender.Wake})
			if err != nil {
				t.Fatal(err)
			}
			runner, err := alert.StartRunner(ctx, alert.RunnerConfig{Engine: eng, Sender: sender})
			if err != nil {
				t.Fatal(err)
			}
			defer runner.Stop()

			// The fleet reports: every host's seq moves every 10s.
			fleetCtx, stopFleet := context.WithCancel(ctx)
			defer stopFleet()
			go func() {
				tk := time.NewTicker(10 * time.Second)
				defer tk.Stop()
				for seq := 2; ; seq++ {
					select {
					case <-fleetCtx.Done():
						return
					case <-tk.C:
						switch st.(type) {
						case *sqliteStore:
							// In slices, as group commits would: SQLite has one writer, and one
							// 100,000-row UPDATE would hold ingest up for seconds.
							for lo := 0; lo < benchHosts && fleetCtx.Err() == nil; lo += 5000 {
								_ = execSQLite(t, st, `UPDATE hosts SET acked_seq = ? WHERE rowid > ? AND rowid <= ? AND id LIKE 'h%'`, seq, lo, lo+5000)
							}
						default:
							_ = execPostgresCtx(fleetCtx, st, `UPDATE hosts SET acked_seq = $1 WHERE id LIKE 'h%'`, seq)
						}
					}
				}
			}()

			tok := server.EnrollmentToken{ID: "tok", Group: server.DefaultGroup, MaxUses: 1, CreatedAt: time.Now(), Hash: "tokhash"}
			if err := st.CreateEnrollmentToken(ctx, tok, server.AuditEntry{Action: "t"}); err != nil {
				t.Fatal(err)
			}
			host, err := st.Enroll(ctx, tok.Hash, time.Now(), server.Host{ID: "measured", Hostname: "measured", IntervalSeconds: 1}, "cred")
			if err != nil {
				t.Fatal(err)
			}
			seq := uint64(0)
			report := func() time.Time {
				seq++
				now := time.Now()
				r := wire.Report{Seq: seq, Time: now, IntervalSeconds: 1, BootTime: now.Add(-time.Hour)}
				if _, err := st.CommitReports(ctx, []server.HostReports{{HostID: host.ID, Reports: []wire.Report{r}, Received: now}}); err != nil {
					t.Error(err)
				}
				return now
			}
			var delays []time.Duration
			for round := range rounds {
				// Report for a few seconds (also resolves the previous round's alert), then stop.
				var last time.Time
				for range 4 {
					last = report()
					time.Sleep(time.Second)
				}
				last = report()
				deadline := last.Add(time.Second + 3*time.Second) // interval 1s + grace 3 intervals
				var silent alerttest.Message
				found := func(m []alerttest.Message) bool {
					for _, x := range m {
						if x.Received.After(last) && strings.Contains(x.Subject, "is silent") {
							silent = x
							return true
						}
					}
					return false
				}
				if msgs, ok := smtpSrv.Wait(30*time.Second, found); !ok {
					t.Fatalf("round %d: no silence email; got %d", round, len(msgs))
				}
				d := silent.Received.Sub(deadline)
				delays = append(delays, d)
				t.Logf("round %d: silence email %s after the deadline", round, d.Round(time.Millisecond))
				// Come back, and keep reporting until the recovery email arrives: a host back for a
				// moment only may be silent again before a loaded engine has seen it.
				report()
				back := make(chan struct{})
				reporterDone := make(chan struct{})
				go func() {
					defer close(reporterDone)
					for {
						select {
						case <-back:
							return
						case <-time.After(500 * time.Millisecond):
							report()
						}
					}
				}()
				recovered := func(m []alerttest.Message) bool {
					for _, x := range m {
						if x.Received.After(silent.Received) && strings.Contains(x.Subject, "reporting again") {
							return true
						}
					}
					return false
				}
				_, ok := smtpSrv.Wait(30*time.Second, recovered)
				close(back)
				<-reporterDone
				if !ok {
					t.Fatalf("round %d: no recovery email", round)
				}
			}
			slices.Sort(delays)
			med := delays[len(delays)/2]
			t.Logf("%s, %d hosts: delay from deadline to SMTP: median %s, max %s over %d rounds",
				bs.name, benchHosts, med.Round(time.Millisecond), delays[len(delays)-1].Round(time.Millisecond), len(delays))
			if med > 2*time.Second {
				t.Errorf("median delay %s exceeds the 2s goal", med)
			}
		})
	}
}
