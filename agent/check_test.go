package agent

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vigilhq/vigil/agent/anomaly"
	"github.com/vigilhq/vigil/agent/check"
	"github.com/vigilhq/vigil/wire"
)

// TestChecksDoNotDelayReports runs the agent with a check whose target accepts connections and
// never answers (timeout half an hour) beside a fast one: reports keep coming every interval with
// the fast check's results, the hanging one is absent until its timeout, and the agent stops at
// once. Real sockets, real time: the bounds below only stop a broken test.
func TestChecksDoNotDelayReports(t *testing.T) {
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		var held []net.Conn
		for {
			c, err := silent.Accept()
			if err != nil {
				for _, c := range held {
					c.Close()
				}
				return
			}
			held = append(held, c)
		}
	}()
	up, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()

	srv := newFakeServer()
	srv.reports = make(chan wire.Report, 64)
	cfg := testConfig(t, srv)
	cfg.Checks = []check.Spec{
		{Name: "hangs", Kind: wire.CheckHTTP, Target: "http://" + silent.Addr().String() + "/", Interval: time.Hour, Timeout: 30 * time.Minute},
		{Name: "db", Kind: wire.CheckTCP, Target: up.Addr().String(), Interval: time.Second},
	}
	a := newAgent(t, cfg)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()

	withCheck := 0
	for withCheck < 2 {
		select {
		case rep := <-srv.reports:
			for _, c := range rep.Checks {
				if c.Name == "hangs" {
					t.Fatalf("report %d carries a result of the hanging check: %+v", rep.Seq, c)
				}
				if c.Name == "db" {
					if !c.OK || c.Kind != wire.CheckTCP || c.Unit != wire.UnitMillis {
						t.Errorf("report %d: db check %+v, want ok with a latency", rep.Seq, c)
					}
					withCheck++
				}
			}
		case <-time.After(time.Minute):
			t.Fatalf("%d reports with the fast check's result in a minute; a hanging check held them up", withCheck)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Run did not return while a check hangs")
	}
}

// TestAnomalyBaselinesPersist: with anomaly hints on, the agent learns its baselines while it
// runs and saves them in its state directory when it stops, so a restart does not relearn.
func TestAnomalyBaselinesPersist(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newFakeServer()
		cfg := testConfig(t, srv)
		cfg.Anomaly = &anomaly.Config{Location: time.UTC}
		runFor(t, newAgent(t, cfg), 30*time.Second)
		d, err := anomaly.New(anomaly.Config{Interval: cfg.Interval, Location: time.UTC})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Load(filepath.Join(cfg.StateDir, "anomaly.json")); err != nil {
			t.Fatalf("the agent's saved baselines: %v", err)
		}
		data, err := os.ReadFile(filepath.Join(cfg.StateDir, "anomaly.json"))
		if err != nil || !strings.Contains(string(data), `"memory.used_pct":{"level":`) || strings.Contains(string(data), `"memory.used_pct":{"level":0,`) {
			t.Errorf("saved baselines %s, %v: want the memory level learnt", data, err)
		}
	})
}
