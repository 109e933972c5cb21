package faults

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/vigilhq/vigil/e2e/e2eproc"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"testing"
	"time"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/apiclient"
	"github.com/vigilhq/vigil/wire"
)

// TestServerKillDuringRollout kills vigil-server (SQLite) with SIGKILL at random moments of a
// staged rollout (one canary, then waves of half the group, soak 2 s) of 8 synthetic hosts that
// poll for their desired version, post trial and commit events (with IDs, retried until taken)
// and report, as updaters and agents do. After every restart the rollout is the same one at a stage
// no lower than before; no host is ever told the new version beyond what the rollout admitted;
// and the rollout completes with every host on the new version.
func TestServerKillDuringRollout(t *testing.T) {
	e2eproc.SkipShort(t)
	t.Parallel()
	kills := rounds(2, 5)
	const n, from, to = 8, "1.0.0", "2.0.0"
	srv := e2eproc.StartServer(t, e2eproc.ServerConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	admin := srv.Client()
	if _, err := admin.CreateGroup(ctx, api.CreateGroupRequest{Name: "edge"}); err != nil {
		t.Fatal(err)
	}
	type host struct {
		id, name, version string
		p                 *reportPoster
		seq               uint64
	}
	var hs []*host
	for i := range n {
		tok, err := admin.CreateEnrollmentToken(ctx, api.CreateEnrollmentTokenRequest{Group: "edge", TTL: "1h", MaxUses: 1})
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("edge-%02d", i)
		id, cred := e2eproc.EnrollHost(ctx, t, srv, tok.Token, name, from)
		hs = append(hs, &host{id: id, name: name, version: from, p: &reportPoster{srv: srv, cred: cred}})
	}
	boot := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	report := func(h *host) {
		h.seq++
		if err := h.p.postAt(ctx, h.seq, boot, 0); err != nil {
			t.Fatalf("%s: report: %v", h.name, err)
		}
	}
	for _, h := range hs {
		report(h)
	}
	if _, err := admin.SetRolloutPolicy(ctx, "edge", api.RolloutPolicy{Canaries: 1, WavePercent: 50, Soak: api.Duration(2 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.SetPin(ctx, "edge", api.Pin{Version: to, Force: true}); err != nil {
		t.Fatal(err)
	}

	// desired asks the server for h's version; false while the server is down.
	desired := func(h *host) (wire.UpdateDesired, bool) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/v1/updates/desired", nil)
		req.Header.Set("Authorization", "Bearer "+h.p.cred)
		resp, err := srv.HTTP.Do(req)
		if err != nil {
			return wire.UpdateDesired{}, false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var d wire.UpdateDesired
		if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &d) != nil {
			return wire.UpdateDesired{}, false
		}
		return d, true
	}
	// event posts one update event, the same ID again until the server takes it.
	event := func(h *host, phase, result string) {
		var id [16]byte
		rand.Read(id[:])
		e := wire.UpdateEvent{ID: hex.EncodeToString(id[:]), FromVersion: h.version, ToVersion: to, Phase: phase, Result: result, Time: time.Now().UTC()}
		for e2eproc.PostJSON(ctx, srv, "/api/v1/updates/events", h.p.cred, e, http.StatusNoContent, nil) != nil {
			if ctx.Err() != nil {
				t.Fatalf("%s: update event: %v", h.name, ctx.Err())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	rollout := func() (api.Rollout, bool) {
		rs, err := admin.ListRollouts(ctx, apiclient.RolloutFilter{Group: "edge", Limit: 1})
		if err != nil || len(rs) == 0 {
			return api.Rollout{}, false
		}
		return rs[0], true
	}

	var id string
	lastStage, killed := -1, 0
	nextKill := time.Now().Add(time.Duration(2000+mrand.IntN(4000)) * time.Millisecond)
	deadline := time.Now().Add(6 * time.Minute)
	for {
		if time.Now().After(deadline) {
			r, _ := rollout()
			t.Fatalf("the rollout did not complete: %+v", r)
		}
		for _, h := range hs {
			d, ok := desired(h)
			if ok && d.Version == to && h.version != to {
				event(h, wire.PhaseTrial, wire.ResultStarted)
				event(h, wire.PhaseCommit, wire.ResultOK)
				h.version = to
			}
			report(h)
		}
		r, ok := rollout()
		if ok {
			onNew := 0
			for _, h := range hs {
				if h.version == to {
					onNew++
				}
			}
			switch {
			case id == "":
				id = r.ID
			case r.ID != id:
				t.Fatalf("rollout %s after a restart, was %s", r.ID, id)
			}
			if r.Stage < lastStage {
				t.Fatalf("rollout went back from stage %d to %d", lastStage, r.Stage)
			}
			lastStage = r.Stage
			if onNew > r.Progress.Admitted && r.State != api.RolloutCompleted {
				t.Fatalf("%d hosts were told %s, the rollout admitted %d (stage %d)", onNew, to, r.Progress.Admitted, r.Stage)
			}
			if r.State == api.RolloutHalted || r.State == api.RolloutAborted {
				t.Fatalf("rollout %s: %s", r.State, r.Reason)
			}
			if r.State == api.RolloutCompleted && onNew == n {
				break
			}
		}
		if killed < kills && time.Now().After(nextKill) {
			srv.Kill()
			killed++
			t.Logf("kill -9 #%d of vigil-server at rollout stage %d", killed, lastStage)
			time.Sleep(time.Duration(500+mrand.IntN(1500)) * time.Millisecond)
			srv.Start(t)
			nextKill = time.Now().Add(time.Duration(2000+mrand.IntN(4000)) * time.Millisecond)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if killed < kills {
		t.Logf("the rollout completed after %d of %d planned kills", killed, kills)
	}
	if killed == 0 {
		t.Fatal("the rollout completed before any kill: nothing was tested")
	}
	record(t, result{
		Fault:  "vigil-server killed -9 during a staged rollout (SQLite)",
		Tried:  fmt.Sprintf("%d kills at random stages; 8 hosts, 1 canary then waves of 50 %%, soak 2 s", killed),
		Result: fmt.Sprintf("same rollout after every restart, stage never went back, no host told the new version beyond the admitted ones; completed with all %d hosts on %s", n, to),
	})
}
