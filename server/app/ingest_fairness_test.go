package app_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/server/alert"
	"github.com/vigilhq/vigil/server/app"
	"github.com/vigilhq/vigil/wire"
)

// TestOneHostCannotStopIngestion is the end-to-end regression test of the red-team finding "one
// host can stop ingestion for the whole fleet": one host credential holds 40 slow report bodies
// (more than the 32 decode slots) while 50 other hosts keep reporting every 250 ms. None of the
// 50 gets a 503 or any other refusal, and none of them is alerted as silent. As a positive
// control the slow host itself, whose reports never complete, does go silent and is alerted: the
// engine was running and able to fire all along.
func TestOneHostCannotStopIngestion(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	const (
		goodHosts   = 50
		slowBodies  = 40
		reportEvery = 250 * time.Millisecond
	)
	s, _ := startWith(t, app.Config{Alert: fastAlerts()}, "")
	ctx := t.Context()
	onlySilenceRules(t, s.admin)
	// Interval 1s (from the reports) and grace 5s: a host is silent 6 s after its last report.
	grace := "5s"
	if _, err := s.admin.UpdateGroup(ctx, "default", api.GroupSettings{Grace: &grace}); err != nil {
		t.Fatal(err)
	}
	tok, err := s.admin.CreateEnrollmentToken(ctx, api.CreateEnrollmentTokenRequest{MaxUses: goodHosts + 1})
	if err != nil {
		t.Fatal(err)
	}
	tr := s.client.Transport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = goodHosts + 10
	hc := &http.Client{Timeout: 30 * time.Second, Transport: tr}
	enroll := func(name string) wire.EnrollResponse {
		b, _ := json.Marshal(wire.EnrollRequest{EnrollmentToken: tok.Token, Hostname: name, OS: "linux", Arch: "amd64", AgentVersion: "1.0.0"})
		resp, err := hc.Post(s.URL+"/api/v1/enroll", "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var er wire.EnrollResponse
		if resp.StatusCode != http.StatusCreated || json.NewDecoder(resp.Body).Decode(&er) != nil {
			t.Fatalf("enroll %s: %d", name, resp.StatusCode)
		}
		return er
	}
	post := func(cred string, seq uint64) (int, error) {
		b, _ := json.Marshal(wire.ReportBatch{Reports: []wire.Report{{
			Seq: seq, Time: time.Now().UTC().Truncate(time.Millisecond), AgentVersion: "1.0.0", IntervalSeconds: 1,
			CPU: &wire.CPU{Cores: 2, BusyPct: 5},
		}}})
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/api/v1/reports", bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+cred)
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}

	slow := enroll("slow")
	if st, err := post(slow.Credential, 1); st != http.StatusOK {
		t.Fatalf("slow host's first report: %d %v", st, err)
	}
	good := make([]wire.EnrollResponse, goodHosts)
	isGood := map[string]bool{}
	for i := range good {
		good[i] = enroll(fmt.Sprintf("good-%02d", i))
		isGood[good[i].HostID] = true
		if st, err := post(good[i].Credential, 1); st != http.StatusOK {
			t.Fatalf("first report of %d: %d %v", i, st, err)
		}
	}

	// The slow host: 40 connections, each sending headers and a few bytes of a 1000-byte body,
	// then nothing; when the server gives up on one, it opens another.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var slowStatus sync.Map // status → *atomic.Int64
	count := func(status int) {
		v, _ := slowStatus.LoadOrStore(status, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
	}
	tlsConf := tr.TLSClientConfig.Clone()
	tlsConf.NextProtos = []string{"http/1.1"} // the requests below are written by hand
	addr := s.URL[len("https://"):]
	for range slowBodies {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				conn, err := tls.Dial("tcp", addr, tlsConf)
				if err != nil {
					count(-1)
					return
				}
				fmt.Fprintf(conn, "POST /api/v1/reports HTTP/1.1\r\nHost: vigil\r\nAuthorization: Bearer %s\r\n"+
					"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"reports\":[", slow.Credential)
				got := make(chan int, 1)
				go func() {
					resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
					if err != nil {
						got <- -1
						return
					}
					resp.Body.Close()
					got <- resp.StatusCode
				}()
				select {
				case st := <-got:
					count(st)
				case <-stop:
				}
				conn.Close()
				select { // not a handshake flood: this test is about held bodies
				case <-stop:
					return
				case <-time.After(500 * time.Millisecond):
				}
			}
		})
	}

	// The 50 hosts report until the slow host's silence alert has fired (and a little longer).
	var refused, failed atomic.Int64
	var firstRefusal atomic.Value
	for i := range good {
		wg.Go(func() {
			for seq := uint64(2); ; seq++ {
				select {
				case <-stop:
					return
				case <-time.After(reportEvery):
				}
				st, err := post(good[i].Credential, seq)
				switch {
				case err != nil:
					failed.Add(1)
					firstRefusal.CompareAndSwap(nil, err.Error())
				case st != http.StatusOK:
					refused.Add(1)
					firstRefusal.CompareAndSwap(nil, fmt.Sprintf("status %d", st))
				}
			}
		})
	}
	slowFired := func() bool {
		as, err := s.admin.ListAlerts(ctx, false, slow.HostID, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range as {
			if a.Kind == alert.KindSilence && a.State == alert.StateFiring {
				return true
			}
		}
		return false
	}
	waitFor(t, 25*time.Second, "the slow host's silence alert", slowFired)
	time.Sleep(time.Second) // the 50 keep reporting past the moment they would have been silent
	close(stop)
	wg.Wait()

	if n := refused.Load() + failed.Load(); n != 0 {
		t.Errorf("%d reports of the 50 hosts refused (%d) or failed (%d); first: %v", n, refused.Load(), failed.Load(), firstRefusal.Load())
	}
	as, err := s.admin.ListAlerts(ctx, false, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range as {
		if isGood[a.HostID] && (a.State == alert.StateFiring || !a.FiredAt.IsZero()) {
			t.Errorf("silence alert fired for a host that kept reporting: %+v", a)
		}
	}
	var tooMany int64
	if v, ok := slowStatus.Load(http.StatusTooManyRequests); ok {
		tooMany = v.(*atomic.Int64).Load()
	}
	if tooMany < slowBodies-4 {
		t.Errorf("the slow host got %d answers 429 for %d bodies, want at least %d (its in-flight cap is 4)", tooMany, slowBodies, slowBodies-4)
	}
	slowStatus.Range(func(k, v any) bool {
		t.Logf("slow host: status %v × %d", k, v.(*atomic.Int64).Load())
		return true
	})
}
