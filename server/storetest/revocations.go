package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/vigilhq/vigil/server"
)

// credentialGenerations is what server.Service polls to learn of revocations and deletions made
// by other replicas.
type credentialGenerations interface {
	HostCredentialGeneration(ctx context.Context) (int64, error)
}

// testHostCredentialGeneration: the generation rises with every revocation and deletion of a
// host, including a revocation and a deletion of an already revoked host between two reads (which
// leave the count of revoked hosts unchanged), and stays put for enrollments, report commits and
// other host changes, which must not throw the replicas' credential caches away.
func testHostCredentialGeneration(t *testing.T, f *fixture) {
	cg, ok := f.s.(credentialGenerations)
	if !ok {
		t.Fatal("the store does not implement HostCredentialGeneration: replicas could not learn of each other's revocations")
	}
	gen := func() int64 {
		t.Helper()
		n, err := cg.HostCredentialGeneration(f.ctx)
		if err != nil {
			t.Fatalf("HostCredentialGeneration: %v", err)
		}
		return n
	}
	x, _ := f.host("x", server.DefaultGroup)
	y, _ := f.host("y", server.DefaultGroup)
	z, _ := f.host("z", server.DefaultGroup)
	g0 := gen()

	if err := f.s.RevokeHost(f.ctx, y.ID, audit("host.revoke", y.ID)); err != nil {
		t.Fatal(err)
	}
	g1 := gen()
	if g1 <= g0 {
		t.Fatalf("generation %d after a revocation, want above %d", g1, g0)
	}
	// Revoke x and delete the revoked y: the revoked count is back where it was, the generation
	// is not.
	if err := f.s.RevokeHost(f.ctx, x.ID, audit("host.revoke", x.ID)); err != nil {
		t.Fatal(err)
	}
	if err := f.s.DeleteHost(f.ctx, y.ID, audit("host.delete", y.ID)); err != nil {
		t.Fatal(err)
	}
	g2 := gen()
	if g2 <= g1 {
		t.Fatalf("generation %d after a revocation and a deletion of a revoked host, want above %d", g2, g1)
	}
	// Deleting a host that was never revoked ends its credential too.
	if err := f.s.DeleteHost(f.ctx, z.ID, audit("host.delete", z.ID)); err != nil {
		t.Fatal(err)
	}
	g3 := gen()
	if g3 <= g2 {
		t.Fatalf("generation %d after deleting a host, want above %d", g3, g2)
	}

	// Writes that leave every credential valid leave the generation alone.
	w, _ := f.host("w", server.DefaultGroup)
	f.commit(batch(w.ID, t0.Add(time.Second), 1, 2, 3))
	f.commit(batch(w.ID, t0.Add(2*time.Second), 4))
	g := f.group("elsewhere")
	if err := f.s.MoveHost(f.ctx, w.ID, g.Name, audit("host.move", w.ID)); err != nil {
		t.Fatal(err)
	}
	if n := gen(); n != g3 {
		t.Fatalf("generation %d after an enrollment, report commits and a move, want %d", n, g3)
	}

	// A failed deletion (no such host) or revocation changes nothing, the generation included.
	if err := f.s.DeleteHost(f.ctx, y.ID, audit("host.delete", y.ID)); err == nil {
		t.Fatal("DeleteHost of a deleted host succeeded")
	}
	if err := f.s.RevokeHost(f.ctx, "h-missing", audit("host.revoke", "h-missing")); err == nil {
		t.Fatal("RevokeHost of a missing host succeeded")
	}
	if n := gen(); n != g3 {
		t.Fatalf("generation %d after failed revocation and deletion, want %d", n, g3)
	}
}
