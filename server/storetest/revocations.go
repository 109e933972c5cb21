package storetest

import (
	"context"
	"testing"

	"github.com/vigilhq/vigil/server"
)

// revocationCounter is what server.Service polls to learn of revocations made by other replicas.
type revocationCounter interface {
	HostRevocations(ctx context.Context) (int64, error)
}

// testHostRevocations: the number changes when a host is revoked, and only then (a repeated,
// idempotent revocation and other writes leave it alone).
func testHostRevocations(t *testing.T, f *fixture) {
	rc, ok := f.s.(revocationCounter)
	if !ok {
		t.Fatal("the store does not implement HostRevocations: replicas could not learn of each other's revocations")
	}
	count := func() int64 {
		t.Helper()
		n, err := rc.HostRevocations(f.ctx)
		if err != nil {
			t.Fatalf("HostRevocations: %v", err)
		}
		return n
	}
	h, _ := f.host("victim", server.DefaultGroup)
	f.host("bystander", server.DefaultGroup)
	before := count()
	if err := f.s.RevokeHost(f.ctx, h.ID, audit("host.revoke", h.ID)); err != nil {
		t.Fatal(err)
	}
	after := count()
	if after == before {
		t.Fatalf("HostRevocations unchanged (%d) by a revocation", after)
	}
	if err := f.s.RevokeHost(f.ctx, h.ID, audit("host.revoke", h.ID)); err != nil {
		t.Fatal(err)
	}
	f.host("newcomer", server.DefaultGroup)
	if n := count(); n != after {
		t.Fatalf("HostRevocations %d after an idempotent revocation and an enrollment, want %d", n, after)
	}
}
