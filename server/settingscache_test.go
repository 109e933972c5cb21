package server_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/sqlitestore"
	"github.com/vigilhq/vigil/wire"
)

// TestAgentSettingsCachedPerReplica: the answer to a report carries the host's effective agent
// settings from a cache. A change made on a replica (group settings, host settings, a move to
// another group) is in that replica's next answer at once; another replica sharing the store
// answers with what it cached until AgentSettingsTTL has passed, then with the change.
func TestAgentSettingsCachedPerReplica(t *testing.T) {
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "vigil.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	const ttl = time.Minute
	replica := func() *server.Service {
		svc, err := server.New(server.Config{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Now: clock, AgentSettingsTTL: ttl})
		if err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithCancel(ctx)
		svc.Start(cctx)
		t.Cleanup(func() { cancel(); svc.Close() })
		return svc
	}
	a, b := replica(), replica()

	tok, _, err := a.CreateEnrollmentToken(ctx, admin, "", 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	enr, err := a.Enroll(ctx, wire.EnrollRequest{EnrollmentToken: tok, Hostname: "web-1", OS: "linux", Arch: "amd64", AgentVersion: "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	seq := uint64(0)
	interval := func(svc *server.Service) int {
		t.Helper()
		h, err := svc.AuthenticateHost(ctx, enr.Credential)
		if err != nil {
			t.Fatal(err)
		}
		seq++
		ack, err := svc.Ingest(ctx, h, wire.ReportBatch{Reports: []wire.Report{{Seq: seq, Time: clock(), AgentVersion: "1.0.0", IntervalSeconds: 10}}})
		if err != nil {
			t.Fatal(err)
		}
		if ack.Config == nil {
			t.Fatal("answer without config")
		}
		return ack.Config.IntervalSeconds
	}
	if got := interval(a) + interval(b); got != 0 {
		t.Fatalf("interval without settings = %d, want 0", got)
	}

	// Group settings changed on a: a answers with them at once, b after its TTL.
	if _, err := a.SetGroupAgentSettings(ctx, admin, server.DefaultGroup, server.AgentSettings{Interval: 30 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if got := interval(a); got != 30 {
		t.Errorf("a after its own change: interval %d, want 30", got)
	}
	if got := interval(b); got != 0 {
		t.Errorf("b within its TTL: interval %d, want the cached 0", got)
	}
	advance(ttl)
	if got := interval(b); got != 30 {
		t.Errorf("b after its TTL: interval %d, want 30", got)
	}

	// Host settings changed on b: b at once.
	if err := b.SetHostAgentSettings(ctx, admin, enr.HostID, server.AgentSettings{Interval: 20 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if got := interval(b); got != 20 {
		t.Errorf("b after the host's settings: interval %d, want 20", got)
	}
	if err := b.SetHostAgentSettings(ctx, admin, enr.HostID, server.AgentSettings{}); err != nil {
		t.Fatal(err)
	}

	// A move to a group with other settings, on b: b at once.
	if _, err := b.CreateGroup(ctx, admin, server.Group{Name: "slow"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.SetGroupAgentSettings(ctx, admin, "slow", server.AgentSettings{Interval: 5 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	if got := interval(b); got != 30 {
		t.Errorf("b before the move: interval %d, want 30", got)
	}
	if err := b.MoveHost(ctx, admin, enr.HostID, "slow"); err != nil {
		t.Fatal(err)
	}
	if got := interval(b); got != 300 {
		t.Errorf("b after the move: interval %d, want 300", got)
	}
}
