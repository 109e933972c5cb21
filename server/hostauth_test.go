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

// TestCredentialPollSeesRevokeAndDelete: replica b has x, y and z cached and has seen y revoked.
// Replica a then revokes x and deletes the revoked y (the count of revoked hosts ends where it
// was) and deletes z, which was never revoked; the next poll on b, run here by hand in place of
// its ticker, must refuse x and z, and keep accepting w.
func TestCredentialPollSeesRevokeAndDelete(t *testing.T) {
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "vigil.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	a := newReplica(t, st)
	// b polls only when the test says so: not started, so no ticker runs.
	b, err := server.New(server.Config{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
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
	x, y, z, w := enroll("x"), enroll("y"), enroll("z"), enroll("w")
	if err := a.RevokeHost(ctx, admin, y.HostID); err != nil {
		t.Fatal(err)
	}
	if !b.PollCredentials(ctx) {
		t.Fatal("the store offers no credential generation to poll")
	}
	for _, h := range []wire.EnrollResponse{x, z, w} {
		if got, err := b.AuthenticateHost(ctx, h.Credential); err != nil || got.ID != h.HostID {
			t.Fatalf("AuthenticateHost = %v, %v", got.ID, err)
		}
	}

	// All within one poll interval of b.
	if err := a.RevokeHost(ctx, admin, x.HostID); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteHost(ctx, admin, y.HostID); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteHost(ctx, admin, z.HostID); err != nil {
		t.Fatal(err)
	}
	b.PollCredentials(ctx)

	if _, err := b.AuthenticateHost(ctx, x.Credential); !errors.Is(err, server.ErrHostRevoked) {
		t.Errorf("revoked x on the other replica after one poll: %v, want ErrHostRevoked", err)
	}
	if _, err := b.AuthenticateHost(ctx, z.Credential); !errors.Is(err, server.ErrUnauthorized) {
		t.Errorf("deleted z on the other replica after one poll: %v, want ErrUnauthorized", err)
	}
	if got, err := b.AuthenticateHost(ctx, w.Credential); err != nil || got.ID != w.HostID {
		t.Errorf("untouched w on the other replica: %v, %v", got.ID, err)
	}
}
