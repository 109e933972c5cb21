package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/vigilhq/vigil/server"
)

// auditPruner is implemented by both stores (vigil-server --audit-retention).
type auditPruner interface {
	PruneAudit(ctx context.Context, before time.Time) (int64, error)
}

// testAuditRetention: PruneAudit deletes exactly the entries older than the cutoff, keeps the
// rest intact, and refuses a zero cutoff (which would mean "delete nothing" or "everything").
func testAuditRetention(t *testing.T, f *fixture) {
	p, ok := f.s.(auditPruner)
	if !ok {
		t.Fatalf("%T does not implement PruneAudit", f.s)
	}
	for i := range 5 {
		if err := f.s.AppendAudit(f.ctx, server.AuditEntry{Time: t0.Add(time.Duration(i) * time.Hour), Actor: "a", Action: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.PruneAudit(f.ctx, time.Time{}); err == nil {
		t.Error("PruneAudit with a zero cutoff succeeded")
	}
	n, err := p.PruneAudit(f.ctx, t0.Add(2*time.Hour)) // deletes t0 and t0+1h; t0+2h is not older
	if err != nil || n != 2 {
		t.Fatalf("PruneAudit = %d, %v; want 2", n, err)
	}
	got, err := f.s.ListAudit(f.ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("%d entries left, want 3", len(got))
	}
	checkTime(t, "oldest kept", got[2].Time, t0.Add(2*time.Hour))
	if n, err := p.PruneAudit(f.ctx, t0.Add(2*time.Hour)); err != nil || n != 0 {
		t.Errorf("PruneAudit again = %d, %v; want 0", n, err)
	}
}
