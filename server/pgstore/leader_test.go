package pgstore

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestLeader elects one of two replicas, hands leadership over on Release, and loses it when the
// lock's session dies (as when the process crashes or its connection drops).
func TestLeader(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	a, b := s.NewLeader("alert"), s.NewLeader("alert")
	defer a.Release(ctx)
	defer b.Release(ctx)
	if ok, err := a.TryAcquire(ctx); !ok || err != nil {
		t.Fatalf("first replica: %v, %v", ok, err)
	}
	if ok, err := b.TryAcquire(ctx); ok || err != nil {
		t.Fatalf("second replica while the first leads: %v, %v", ok, err)
	}
	if ok, _ := a.TryAcquire(ctx); !ok {
		t.Fatal("leader lost leadership on a check")
	}
	// Another job name is another election.
	other := s.NewLeader("retention")
	defer other.Release(ctx)
	if ok, _ := other.TryAcquire(ctx); !ok {
		t.Error("another job's leadership is taken by the alert leader")
	}

	// Kill a's session: a notices on its next check, b takes over.
	conn, err := pgx.Connect(ctx, postgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend($1)`, a.BackendPID()); err != nil {
		t.Fatal(err)
	}
	if ok, err := a.TryAcquire(ctx); ok || err == nil {
		t.Fatalf("leader whose session died still leads: %v, %v", ok, err)
	}
	// pg_terminate_backend only signals: the dead session's lock goes when its backend has exited.
	var ok bool
	for deadline := time.Now().Add(10 * time.Second); !ok && err == nil && time.Now().Before(deadline); {
		if ok, err = b.TryAcquire(ctx); !ok && err == nil {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if !ok || err != nil {
		t.Fatalf("second replica after the leader died: %v, %v", ok, err)
	}
	// Release hands over.
	b.Release(ctx)
	if ok, err := a.TryAcquire(ctx); !ok || err != nil {
		t.Fatalf("first replica after release: %v, %v", ok, err)
	}
}
