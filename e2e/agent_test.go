package e2e

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/server/sqlitestore"
	"github.com/vigilhq/vigil/wire"
)

// TestAgentExactlyOnce runs the real vigil-server and vigil-agent processes (interval 1 s) through
// a server outage — SIGTERM, ~5 s down, restart on the same data directory and port — and a
// kill -9 of the agent followed by a restart. Then, reading the server's SQLite store after
// shutdown, it checks that every report the agent spooled arrived exactly once, that no seq was
// used twice, and that the outage was recorded with its true time span and the class "connect".
func TestAgentExactlyOnce(t *testing.T) {
	skipShort(t)
	srv := startServer(t, serverConfig{})
	agentBin := buildBinary(t, "vigil-agent", "1.0.0-e2e")
	stateDir := t.TempDir()
	agent := startProcess(t, "vigil-agent", agentBin, []string{"VIGIL_LOG_LEVEL=debug"},
		"--server", srv.URL, "--ca", srv.CAFile, "--enroll-token", srv.EnrollToken(t),
		"--state-dir", stateDir, "--interval", "1s")

	ctx := context.Background()
	var host api.Host
	acked := func() uint64 {
		hosts, err := srv.Client().ListHosts(ctx, "")
		if err != nil || len(hosts) != 1 {
			return 0
		}
		host = hosts[0]
		return host.AckedSeq
	}
	waitAcked := func(min uint64, what string) uint64 {
		t.Helper()
		var got uint64
		waitFor(t, 60*time.Second, what, func() (bool, error) {
			if !agent.Running() {
				t.Fatalf("vigil-agent exited: %v", agent.Err())
			}
			got = acked()
			return got >= min, nil
		})
		return got
	}

	before := waitAcked(5, "the first reports")
	t.Logf("acked seq %d before the outage", before)

	// Server outage.
	srv.Stop(t, 30*time.Second)
	down := time.Now()
	time.Sleep(5 * time.Second)
	srv.Start(t)
	up := time.Now()
	afterOutage := waitAcked(before+8, "the reports spooled during the outage")
	t.Logf("server down %s; acked seq %d after the restart", up.Sub(down).Round(time.Millisecond), afterOutage)

	// kill -9 of the agent in the middle of its run, then a restart on the same state directory.
	time.Sleep(1300 * time.Millisecond)
	agent.Kill()
	killed := acked()
	agent.Start(t)
	final := waitAcked(killed+5, "reports after the agent's restart")
	// The server acknowledges across the seqs the killed agent had leased but not used, so the
	// first report after the restart may already pass the mark: wait for a few more.
	final = waitAcked(final+4, "more reports after the agent's restart")
	agent.Stop(t, 30*time.Second)
	final = max(final, acked())
	hostID := host.ID
	srv.Stop(t, 30*time.Second)

	// Read what the server stored, after its shutdown.
	store, err := sqlitestore.Open(ctx, filepath.Join(srv.DataDir, "vigil.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	samples, err := store.ListSamples(ctx, hostID, time.Time{}, time.Now().Add(time.Hour), 0)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[uint64]int{}
	var last uint64
	for i, s := range samples {
		stored[s.Seq]++
		last = max(last, s.Seq)
		if i > 0 && s.Seq <= samples[i-1].Seq {
			t.Errorf("sample seq %d (time %s) after seq %d (time %s): times and seqs disagree",
				s.Seq, s.Time.Format(time.StampMilli), samples[i-1].Seq, samples[i-1].Time.Format(time.StampMilli))
		}
	}
	for seq, n := range stored {
		if n != 1 {
			t.Errorf("seq %d stored %d times", seq, n)
		}
	}
	if last < final {
		t.Errorf("highest stored seq %d, but the server acked %d", last, final)
	}

	// What the agent says it spooled (its debug log, across both runs): no seq twice, and every
	// one of them stored.
	spooled := spooledSeqs(t, agent.Log)
	seen := map[uint64]bool{}
	for _, seq := range spooled {
		if seen[seq] {
			t.Errorf("the agent spooled seq %d twice (a seq was reused)", seq)
		}
		seen[seq] = true
		if stored[seq] == 0 && seq <= final {
			t.Errorf("seq %d was spooled and is at or below the acked seq %d, but it is not stored", seq, final)
		}
	}
	// Every seq from 1 to the last arrived. The only gap allowed is the rest of the agent's seq lease
	// at the kill -9: seqs leased (persisted as used) but never spooled, which are never reused. The
	// agent leases maxLeaseSkip+1 seqs at a time (agent.Spool), so the gap is one run of at most
	// maxLeaseSkip seqs; the server acknowledges across it.
	const maxLeaseSkip = 63
	var missing []uint64
	for seq := uint64(1); seq <= last; seq++ {
		if stored[seq] == 0 {
			missing = append(missing, seq)
			if seen[seq] {
				t.Errorf("seq %d was spooled but never arrived", seq)
			}
		}
	}
	contiguous := len(missing) == 0 || missing[len(missing)-1]-missing[0] == uint64(len(missing)-1)
	if len(missing) > maxLeaseSkip || !contiguous {
		t.Errorf("seqs %v missing from 1..%d: want one run of at most %d (the rest of the lease at the kill)", missing, last, maxLeaseSkip)
	} else if len(missing) > 0 {
		t.Logf("seqs %d..%d were leased but never spooled (the rest of the lease at the kill -9)", missing[0], missing[len(missing)-1])
	}
	t.Logf("%d reports stored, seqs 1..%d; the agent logged %d spooled reports", len(samples), last, len(spooled))

	// The outage: reported by the agent with its class and a span covering the server's downtime.
	outages, err := store.ListOutages(ctx, hostID, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var found *wire.Outage
	for i, o := range outages {
		t.Logf("outage %s .. %s class %s: %s", o.Start.Format(time.StampMilli), o.End.Format(time.StampMilli), o.Class, o.Detail)
		// It starts at the first failed delivery, within a report interval or two of the stop,
		// and ends at the first delivery after the restart.
		if !o.Start.Before(down.Add(-2*time.Second)) && o.Start.Before(up) && !o.End.Before(up.Add(-time.Second)) {
			found = &outages[i]
		}
	}
	switch {
	case found == nil:
		t.Errorf("no outage covers the server's downtime %s .. %s", down.Format(time.StampMilli), up.Format(time.StampMilli))
	case found.Class != wire.OutageConnect:
		t.Errorf("outage class %q, want %q", found.Class, wire.OutageConnect)
	}
}

var spooledRE = regexp.MustCompile(`msg="Report spooled\." seq=(\d+)`)

// spooledSeqs returns the seqs the agent logged as spooled, in order.
func spooledSeqs(t *testing.T, logFile string) []uint64 {
	t.Helper()
	f, err := os.Open(logFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var seqs []uint64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := spooledRE.FindStringSubmatch(sc.Text()); m != nil {
			seq, _ := strconv.ParseUint(m[1], 10, 64)
			seqs = append(seqs, seq)
		}
	}
	if len(seqs) == 0 {
		t.Fatal("the agent logged no spooled reports (VIGIL_LOG_LEVEL=debug)")
	}
	if !slices.IsSorted(seqs) {
		t.Errorf("spooled seqs not increasing: %v", seqs)
	}
	return seqs
}
