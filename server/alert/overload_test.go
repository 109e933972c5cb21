package alert_test

import (
	"testing"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/alert"
)

// TestServerOverloadHoldsSilence: while ingest turns reports away for the server's own overload
// (server.Service.NoteOverload), no host is taken for silent: deadlines count from the last
// refusal, as they count from the server's start after downtime. A host that stays silent after
// the overload ended is alerted one interval plus grace later, and a host that kept reporting
// is never alerted.
func TestServerOverloadHoldsSilence(t *testing.T) {
	var svc *server.Service
	h := newHarness(t, func(c *alert.Config) {
		var err error
		svc, err = server.New(server.Config{Store: c.Store.(store), Logger: quietLog(), Now: c.Now})
		if err != nil {
			t.Fatal(err)
		}
		c.Overload = svc
	})
	quiet := h.host("web-1", "")
	busy := h.host("web-2", "")
	// Without the overload web-1 would fire at t0+41s (10s interval + 30s grace). The server
	// sheds reports from t0+25s to t0+35s; web-2's reports in that window are refused.
	h.run(25*time.Second, busy)
	for at := 25 * time.Second; at <= 35*time.Second; at += time.Second {
		h.clock.set(t0.Add(at))
		svc.NoteOverload()
		h.tick()
	}
	h.run(75*time.Second, busy)
	h.wantEmails()
	if _, ok := h.openAlerts()["silence/"+busy]; ok {
		t.Fatalf("a host turned away by the overload has an alert: %v", h.openAlerts())
	}
	h.run(76*time.Second, busy)
	h.wantEmails("firing: FIRING: web-1 is silent")
	if st := h.openAlerts()["silence/"+quiet]; st != alert.StateFiring {
		t.Fatalf("web-1 state %q, want firing", st)
	}
}
