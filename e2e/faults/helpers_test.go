// Package faults is Vigil's fault suite (`make test-faults`): real vigil-server, vigil-agent and
// vigil-updater processes, built for the run, put through the faults a fleet meets — a database
// restarted, a server killed -9, SMTP down and flapping, a full disk, slow and idle clients, a stuck
// supervisor, the agent's and the updater's wall clocks stepped (vigil_fakeclock builds, see
// clock_test.go) — each test checking that nothing acknowledged is lost or duplicated. Each passing
// test logs one RELIABILITY line; ./reltable turns them into docs/RELIABILITY.md.
//
// Durations: short by default (as `make test` runs it); VIGIL_FAULTS=long (`make test-faults`)
// repeats each fault more often.
package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilhq/vigil/e2e/e2eproc"
	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/sqlitestore"
	"github.com/vigilhq/vigil/wire"
)

// The helpers that run Vigil's real binaries as processes (build, start vigil-server, wait on
// logs) are package e2eproc's, shared with package e2e; these are the fault suite's own.

func TestMain(m *testing.M) { os.Exit(e2eproc.Main(m)) }

// reliabilityPrefix starts each result line the reliability table is built from (see
// ./reltable and `make reliability`).
const reliabilityPrefix = "RELIABILITY "

// result is one row of docs/RELIABILITY.md: a fault or attack, how often it was applied, and what
// was checked afterwards.
type result struct {
	Fault  string `json:"fault"`
	Tried  string `json:"tried"`
	Result string `json:"result"`
}

// record logs r for the reliability table. Call it only once the test's assertions have passed:
// a failed test's row is reported as failed by the table generator anyway.
func record(t *testing.T, r result) {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(reliabilityPrefix + string(b))
}

// rounds returns how often to repeat a fault: short under `make test`, long when VIGIL_FAULTS=long.
func rounds(short, long int) int {
	if os.Getenv("VIGIL_FAULTS") == "long" {
		return long
	}
	return short
}

// reportPoster is a synthetic host that posts one report per request, each seq retried until the
// server acknowledges it: the acknowledged seqs are exactly what the server promised to keep.
type reportPoster struct {
	srv   *e2eproc.Server
	cred  string
	acked uint64 // highest AckedSeq the server answered
	posts int    // requests answered 200
	fails int    // requests that failed (server down, 503, …) and were retried
}

// post sends seq (retrying the same seq on failure until ctx ends) and records the ack.
func (p *reportPoster) post(ctx context.Context, seq uint64, boot time.Time) error {
	return p.postAt(ctx, seq, boot, 0)
}

// postAt is post from a host whose clock is off by offset.
func (p *reportPoster) postAt(ctx context.Context, seq uint64, boot time.Time, offset time.Duration) error {
	for {
		r := wire.Report{Seq: seq, Time: time.Now().Add(offset).UTC(), AgentVersion: "1.0.0", IntervalSeconds: 1, BootTime: boot}
		var ack wire.Ack
		err := e2eproc.PostJSON(ctx, p.srv, "/api/v1/reports", p.cred, wire.ReportBatch{Reports: []wire.Report{r}}, http.StatusOK, &ack)
		if err == nil {
			p.posts++
			p.acked = max(p.acked, ack.AckedSeq)
			if ack.AckedSeq >= seq {
				return nil
			}
		} else {
			p.fails++
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ingestLoad is a real agent reporting every second beside n synthetic hosts that post back to
// back, each seq retried until acknowledged (startIngestLoad).
type ingestLoad struct {
	agent   *e2eproc.Process
	posters []*reportPoster
	ids     []string // the synthetic hosts' ids, as posters
	stop    chan struct{}
	wg      sync.WaitGroup
}

// startIngestLoad enrolls and starts the agent and n synthetic hosts against srv.
func startIngestLoad(ctx context.Context, t *testing.T, srv *e2eproc.Server, n int) *ingestLoad {
	t.Helper()
	agentBin := e2eproc.Build(t, "vigil-agent", "1.0.0-faults")
	l := &ingestLoad{stop: make(chan struct{})}
	l.agent = e2eproc.StartProcess(t, "vigil-agent", agentBin, []string{"VIGIL_LOG_LEVEL=debug"},
		"--server", srv.URL, "--ca", srv.CAFile, "--enroll-token", srv.EnrollToken(t),
		"--state-dir", t.TempDir(), "--interval", "1s")
	for i := range n {
		id, cred := enrollHost(ctx, t, srv, fmt.Sprintf("synthetic-%d", i))
		l.ids = append(l.ids, id)
		l.posters = append(l.posters, &reportPoster{srv: srv, cred: cred})
	}
	// Synthetic load: each host posts seq 1, 2, 3, … back to back until stopped.
	boot := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	for _, p := range l.posters {
		l.wg.Go(func() {
			for seq := uint64(1); ; seq++ {
				select {
				case <-l.stop:
					return
				default:
				}
				if p.post(ctx, seq, boot) != nil {
					return
				}
			}
		})
	}
	return l
}

// Stop stops the synthetic hosts (the agent keeps running) and waits for them.
func (l *ingestLoad) Stop() {
	close(l.stop)
	l.wg.Wait()
}

// enrollHost enrolls a synthetic host by name and returns its id and credential.
func enrollHost(ctx context.Context, t *testing.T, s *e2eproc.Server, name string) (id, cred string) {
	t.Helper()
	return e2eproc.EnrollHost(ctx, t, s, s.EnrollToken(t), name, "1.0.0")
}

var (
	spooledRE = regexp.MustCompile(`msg="Report spooled\." seq=(\d+)`)
	ackedRE   = regexp.MustCompile(`msg="Report acknowledged\." seq=(\d+)`)
)

// logSeqs returns the seqs a debug-level agent log names with re, in order.
func logSeqs(t *testing.T, logFile string, re *regexp.Regexp) []uint64 {
	t.Helper()
	b, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	for _, line := range strings.Split(string(b), "\n") {
		if m := re.FindStringSubmatch(line); m != nil {
			seq, _ := strconv.ParseUint(m[1], 10, 64)
			seqs = append(seqs, seq)
		}
	}
	return seqs
}

// lastSeq returns the last seq a debug-level agent log names with re, 0 if none.
func lastSeq(t *testing.T, logFile string, re *regexp.Regexp) uint64 {
	t.Helper()
	s := logSeqs(t, logFile, re)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)-1]
}

// storedSeqs opens the stopped server's SQLite store and counts each stored seq of hostID.
func storedSeqs(ctx context.Context, t *testing.T, dataDir, hostID string) map[uint64]int {
	t.Helper()
	store, err := sqlitestore.Open(ctx, filepath.Join(dataDir, "vigil.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	return countSeqs(ctx, t, store, hostID)
}

// sampleLister is the part of a store countSeqs reads (both stores implement it).
type sampleLister interface {
	ListSamples(ctx context.Context, hostID string, from, to time.Time, limit int) ([]server.Sample, error)
}

// countSeqs counts each stored seq of hostID, times from a clock ahead included.
func countSeqs(ctx context.Context, t *testing.T, store sampleLister, hostID string) map[uint64]int {
	t.Helper()
	samples, err := store.ListSamples(ctx, hostID, time.Time{}, time.Now().Add(2*wire.MaxClockAhead), 0)
	if err != nil {
		t.Fatal(err)
	}
	n := map[uint64]int{}
	for _, s := range samples {
		n[s.Seq]++
	}
	return n
}

// checkExactlyOnce fails t unless every seq in 1..acked is stored exactly once and nothing above
// it twice. allowedGaps are seqs known never to have been sent (reserved, then kill -9). It returns
// the number of acknowledged reports checked.
func checkExactlyOnce(t *testing.T, host string, stored map[uint64]int, acked uint64, allowedGaps map[uint64]bool) int {
	t.Helper()
	for seq, n := range stored {
		if n != 1 {
			t.Errorf("%s: seq %d stored %d times", host, seq, n)
		}
	}
	checked := 0
	for seq := uint64(1); seq <= acked; seq++ {
		if stored[seq] == 0 && !allowedGaps[seq] {
			t.Errorf("%s: seq %d was acknowledged (acked seq %d) but is not stored", host, seq, acked)
		}
		checked++
	}
	return checked
}
