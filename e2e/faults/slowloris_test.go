package faults

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/vigilhq/vigil/e2e/e2eproc"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vigilhq/vigil/wire"
)

// connGauge counts connections open now, the most open at once, and every dial.
type connGauge struct{ open, peak, dials atomic.Int64 }

func (g *connGauge) opened() {
	g.dials.Add(1)
	n := g.open.Add(1)
	for p := g.peak.Load(); n > p && !g.peak.CompareAndSwap(p, n); p = g.peak.Load() {
	}
}

// TestSlowlorisAndIdleConnections holds 10,000 idle TCP connections (connected, never a byte
// sent) and 200 slowloris connections (TLS done, then request headers one byte a second, never
// finished) against vigil-server, each reopened as soon as the server cuts it, while 20 hosts
// report every second. Every report must be accepted (200): no 503, no timeout, no refused
// connection. The server cuts both kinds after its header timeout (10 s) — the numbers of
// connections opened, held at once and cut are logged.
func TestSlowlorisAndIdleConnections(t *testing.T) {
	e2eproc.SkipShort(t)
	t.Parallel()
	const idle, slow, hosts = 10000, 200, 20
	attack := time.Duration(rounds(20, 90)) * time.Second

	// Both ends of every connection live on this machine: the test's and the server's descriptors.
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	need := uint64(idle + slow + 1000)
	if lim.Cur < need {
		lim.Cur = min(max(need, lim.Cur), lim.Max)
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			t.Logf("raise RLIMIT_NOFILE: %v", err)
		}
	}
	if lim.Cur < need {
		t.Skipf("RLIMIT_NOFILE hard limit %d is below the %d descriptors needed (raise it with ulimit -Hn)", lim.Max, need)
	}

	srv := e2eproc.StartServer(t, e2eproc.ServerConfig{})
	addr := strings.TrimPrefix(srv.URL, "https://")
	ctx, cancel := context.WithTimeout(context.Background(), attack+5*time.Minute)
	defer cancel()
	type host struct {
		cred string
		ok   int
	}
	hs := make([]*host, hosts)
	for i := range hs {
		_, cred := enrollHost(ctx, t, srv, fmt.Sprintf("host-%02d", i))
		hs[i] = &host{cred: cred}
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var idleG, slowG connGauge
	var cutIdle, cutSlow atomic.Int64
	dialErrs := atomic.Int64{}
	// Idle holders: connect, send nothing, reconnect when the server cuts. A few workers each own
	// a share of the connections and sweep them (a 1 ms read finds a cut one), rather than a
	// goroutine per connection: the race detector allows at most 8,128 live goroutines.
	const workers = 32
	for w := range workers {
		wg.Go(func() {
			n := idle / workers
			if w < idle%workers {
				n++
			}
			conns := make([]net.Conn, n)
			dial := func(i int) {
				c, err := net.DialTimeout("tcp", addr, 30*time.Second)
				if err != nil {
					dialErrs.Add(1)
					return
				}
				conns[i] = c
				idleG.opened()
			}
			defer func() {
				for _, c := range conns {
					if c != nil {
						c.Close()
					}
				}
			}()
			buf := make([]byte, 1)
			for {
				for i, c := range conns {
					select {
					case <-stop:
						return
					default:
					}
					if c == nil {
						dial(i)
						continue
					}
					c.SetReadDeadline(time.Now().Add(time.Millisecond))
					if _, err := c.Read(buf); err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
						continue // still open
					}
					c.Close()
					conns[i] = nil
					idleG.open.Add(-1)
					cutIdle.Add(1)
					dial(i)
				}
				select {
				case <-stop:
					return
				case <-time.After(500 * time.Millisecond):
				}
			}
		})
	}
	// Slowloris: a TLS connection that sends its request headers a byte a second.
	tlsCfg := srv.HTTP.Transport.(*http.Transport).TLSClientConfig
	for range slow {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, err := tls.DialWithDialer(&net.Dialer{Timeout: 30 * time.Second}, "tcp", addr, tlsCfg)
				if err != nil {
					dialErrs.Add(1)
					time.Sleep(time.Second)
					continue
				}
				slowG.opened()
				req := "POST /api/v1/reports HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/json\r\nX-Padding: " + strings.Repeat("a", 10000)
				cut := false
				for i := 0; i < len(req) && !cut; i++ {
					c.SetWriteDeadline(time.Now().Add(5 * time.Second))
					if _, err := c.Write([]byte{req[i]}); err != nil {
						cut = true
						break
					}
					select {
					case <-stop:
						c.Close()
						slowG.open.Add(-1)
						return
					case <-time.After(time.Second):
					}
				}
				slowG.open.Add(-1)
				c.Close()
				cutSlow.Add(1)
			}
		})
	}
	// Wait until the attack is in place: every idle connection opened once.
	e2eproc.WaitFor(t, 3*time.Minute, "10,000 idle connections", func() (bool, error) {
		return idleG.dials.Load() >= idle && slowG.dials.Load() >= slow, fmt.Errorf("%d idle and %d slow dialled", idleG.dials.Load(), slowG.dials.Load())
	})
	t.Logf("attack in place: %d idle and %d slowloris connections open", idleG.open.Load(), slowG.open.Load())

	// Hosts report every second for the attack's duration; each report must be accepted.
	boot := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	var failures []string
	var mu sync.Mutex
	var hwg sync.WaitGroup
	end := time.Now().Add(attack)
	for i, h := range hs {
		hwg.Go(func() {
			for seq := uint64(1); time.Now().Before(end); seq++ {
				round := time.Now()
				r := wire.Report{Seq: seq, Time: time.Now().UTC(), AgentVersion: "1.0.0", IntervalSeconds: 1, BootTime: boot}
				rctx, c := context.WithTimeout(ctx, 30*time.Second)
				err := e2eproc.PostJSON(rctx, srv, "/api/v1/reports", h.cred, wire.ReportBatch{Reports: []wire.Report{r}}, http.StatusOK, nil)
				c()
				if err != nil {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("host-%02d seq %d: %v", i, seq, err))
					mu.Unlock()
				} else {
					h.ok++
				}
				time.Sleep(time.Second - time.Since(round))
			}
		})
	}
	hwg.Wait()
	heldAtEnd := idleG.open.Load()
	if peak := idleG.peak.Load(); peak < idle {
		t.Errorf("at most %d idle connections were held at once, want %d", peak, idle)
	}
	close(stop)
	wg.Wait()

	if !srv.Running() {
		t.Fatalf("vigil-server exited: %v", srv.Err())
	}
	for _, f := range failures {
		t.Error(f)
	}
	total := 0
	for _, h := range hs {
		total += h.ok
	}
	if total == 0 {
		t.Fatal("no report was accepted")
	}
	if t.Failed() {
		return
	}
	held := fmt.Sprintf("%d idle connections opened (%d reopened after the server cut them), at most %d held at once, %d at the end; %d slowloris connections opened, %d cut by the server; %d dial errors",
		idleG.dials.Load(), cutIdle.Load(), idleG.peak.Load(), heldAtEnd, slowG.dials.Load(), cutSlow.Load(), dialErrs.Load())
	t.Log(held)
	record(t, result{
		Fault:  "slowloris and idle connections against vigil-server",
		Tried:  fmt.Sprintf("%d idle TCP + %d slowloris TLS connections for %s, each reopened when cut; %s", idle, slow, attack, held),
		Result: fmt.Sprintf("%d hosts kept reporting every second: %d reports accepted, 0 refused (no 503)", hosts, total),
	})
}
