package server_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/sqlitestore"
	"github.com/vigilhq/vigil/wire"
)

var admin = server.Principal{Name: "test", Role: server.RoleAdmin}

func newReplica(t *testing.T, st server.Store) *server.Service {
	t.Helper()
	svc, err := server.New(server.Config{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		RevocationPoll: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	svc.Start(ctx)
	t.Cleanup(func() { cancel(); svc.Close() })
	return svc
}

// TestRevokeInvalidatesCachedCredential: a host's credential is cached for minutes, yet a
// revocation takes effect at once on the replica that revoked it and, through the revocation
// poll, on another replica sharing the database.
func TestRevokeInvalidatesCachedCredential(t *testing.T) {
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "vigil.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	a, b := newReplica(t, st), newReplica(t, st)

	enroll := func(name string) wire.EnrollResponse {
		tok, _, err := a.CreateEnrollmentToken(ctx, admin, "", 0, 1)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := a.Enroll(ctx, wire.EnrollRequest{EnrollmentToken: tok, Hostname: name, OS: "linux", Arch: "amd64", AgentVersion: "1.0.0"})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	h1, h2 := enroll("one"), enroll("two")
	for _, svc := range []*server.Service{a, b} {
		for _, h := range []wire.EnrollResponse{h1, h2} {
			if got, err := svc.AuthenticateHost(ctx, h.Credential); err != nil || got.ID != h.HostID {
				t.Fatalf("AuthenticateHost = %v, %v", got.ID, err)
			}
		}
	}

	// On the replica that revokes: at once.
	if err := a.RevokeHost(ctx, admin, h1.HostID); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AuthenticateHost(ctx, h1.Credential); !errors.Is(err, server.ErrHostRevoked) {
		t.Fatalf("revoked host on the revoking replica: %v, want ErrHostRevoked", err)
	}
	if _, err := a.AuthenticateHost(ctx, h2.Credential); err != nil {
		t.Fatalf("another host after a revocation: %v", err)
	}
	// On the other replica, whose cache still holds it: within a poll.
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := b.AuthenticateHost(ctx, h1.Credential)
		if errors.Is(err, server.ErrHostRevoked) {
			break
		}
		if err != nil {
			t.Fatalf("other replica: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the other replica still accepts the revoked credential after 20s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := b.AuthenticateHost(ctx, h2.Credential); err != nil {
		t.Fatalf("another host on the other replica: %v", err)
	}
}
