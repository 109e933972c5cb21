package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/vigilhq/vigil/server"
)

func testEnrollmentTokens(t *testing.T, f *fixture) {
	f.group("web")
	exp := time.Date(2026, 11, 22, 10, 0, 0, 987654321, time.FixedZone("CET", 3600))
	var made []server.EnrollmentToken
	for i, g := range []string{server.DefaultGroup, "web", "web"} {
		tok := server.EnrollmentToken{
			ID: fmt.Sprintf("et-%d", i), Group: g, ExpiresAt: exp, MaxUses: i + 1,
			CreatedAt: t0.Add(time.Duration(i) * time.Second), CreatedBy: "alice", Hash: fmt.Sprintf("hash-%d", i),
		}
		if err := f.s.CreateEnrollmentToken(f.ctx, tok, audit("enrollment-token.create", tok.ID)); err != nil {
			t.Fatalf("CreateEnrollmentToken %d: %v", i, err)
		}
		f.wantAudit("enrollment-token.create", tok.ID)
		made = append(made, tok)
	}

	got, err := f.s.ListEnrollmentTokens(f.ctx)
	if err != nil {
		t.Fatalf("ListEnrollmentTokens: %v", err)
	}
	if len(got) != len(made) {
		t.Fatalf("ListEnrollmentTokens returned %d tokens, want %d", len(got), len(made))
	}
	for i, g := range got {
		w := made[len(made)-1-i] // newest first
		if g.ID != w.ID || g.Group != w.Group || g.MaxUses != w.MaxUses || g.Uses != 0 || g.CreatedBy != w.CreatedBy || g.Revoked || g.Hash != w.Hash {
			t.Errorf("token %d = %+v, want %+v", i, g, w)
		}
		checkTime(t, "ExpiresAt", g.ExpiresAt, w.ExpiresAt)
		checkTime(t, "CreatedAt", g.CreatedAt, w.CreatedAt)
	}

	before := f.lastAudit()
	for _, tt := range []struct {
		name string
		tok  server.EnrollmentToken
		want error
	}{
		{"unknown group", server.EnrollmentToken{ID: "et-x", Group: "nope", Hash: "hash-x", CreatedAt: t0}, server.ErrNotFound},
		{"duplicate hash", server.EnrollmentToken{ID: "et-y", Group: "web", Hash: "hash-0", CreatedAt: t0}, server.ErrConflict},
		{"duplicate id", server.EnrollmentToken{ID: "et-0", Group: "web", Hash: "hash-y", CreatedAt: t0}, server.ErrConflict},
	} {
		err := f.s.CreateEnrollmentToken(f.ctx, tt.tok, audit("enrollment-token.create", tt.tok.ID))
		wantErr(t, "CreateEnrollmentToken "+tt.name, err, tt.want)
	}
	f.noNewAudit(before, "failed CreateEnrollmentToken")

	for range 2 { // idempotent
		if err := f.s.RevokeEnrollmentToken(f.ctx, "et-1", audit("enrollment-token.revoke", "et-1")); err != nil {
			t.Fatalf("RevokeEnrollmentToken: %v", err)
		}
		f.wantAudit("enrollment-token.revoke", "et-1")
	}
	wantErr(t, "RevokeEnrollmentToken unknown", f.s.RevokeEnrollmentToken(f.ctx, "et-nope", audit("enrollment-token.revoke", "et-nope")), server.ErrNotFound)
	got, _ = f.s.ListEnrollmentTokens(f.ctx)
	for _, g := range got {
		if g.Revoked != (g.ID == "et-1") {
			t.Errorf("token %s Revoked = %v", g.ID, g.Revoked)
		}
	}
}

func testEnroll(t *testing.T, f *fixture) {
	f.group("db")
	now := t0.Add(time.Hour)
	tests := []struct {
		name    string
		setup   func() string // returns the token hash to enroll with
		uses    int           // successful enrollments to attempt before the checked one
		want    error
		wantGrp string
	}{
		{"valid", func() string { return f.token("db", 1, now.Add(time.Minute)).Hash }, 0, nil, "db"},
		{"default group", func() string { return f.token(server.DefaultGroup, 1, now.Add(time.Minute)).Hash }, 0, nil, server.DefaultGroup},
		{"unknown", func() string { return "hash-unknown" }, 0, server.ErrTokenInvalid, ""},
		{"expired", func() string { return f.token("db", 5, now.Add(-time.Microsecond)).Hash }, 0, server.ErrTokenInvalid, ""},
		{"expires now", func() string { return f.token("db", 5, now).Hash }, 0, server.ErrTokenInvalid, ""},
		{"no expiry", func() string { return f.token("db", 5, time.Time{}).Hash }, 0, nil, "db"},
		{"used up", func() string { return f.token("db", 2, now.Add(time.Minute)).Hash }, 2, server.ErrTokenInvalid, ""},
		{"last use", func() string { return f.token("db", 3, now.Add(time.Minute)).Hash }, 2, nil, "db"},
		{"unlimited", func() string { return f.token("db", 0, now.Add(time.Minute)).Hash }, 7, nil, "db"},
		{"revoked", func() string {
			tok := f.token("db", 5, now.Add(time.Minute))
			if err := f.s.RevokeEnrollmentToken(f.ctx, tok.ID, audit("enrollment-token.revoke", tok.ID)); err != nil {
				t.Fatal(err)
			}
			return tok.Hash
		}, 0, server.ErrTokenInvalid, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hash := tt.setup()
			for i := range tt.uses {
				if _, err := f.s.Enroll(f.ctx, hash, now, server.Host{ID: randomID("h-"), Hostname: fmt.Sprintf("pre-%d", i), EnrolledAt: now}, randomID("cred-")); err != nil {
					t.Fatalf("Enroll use %d: %v", i, err)
				}
			}
			in := server.Host{
				ID: randomID("h-"), Hostname: "db-1", MachineID: "mid", OS: "linux", Arch: "arm64",
				Group: "ignored", EnrolledAt: now, AgentVersion: "1.2.3", IntervalSeconds: 10,
			}
			cred := randomID("cred-")
			h, err := f.s.Enroll(f.ctx, hash, now, in, cred)
			if tt.want != nil {
				wantErr(t, "Enroll", err, tt.want)
				if _, err := f.s.GetHost(f.ctx, in.ID); !errors.Is(err, server.ErrNotFound) {
					t.Errorf("refused enrollment stored a host (GetHost err %v)", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Enroll: %v", err)
			}
			if h.ID != in.ID || h.Hostname != in.Hostname || h.MachineID != in.MachineID || h.OS != in.OS || h.Arch != in.Arch ||
				h.Group != tt.wantGrp || h.AgentVersion != in.AgentVersion || h.Revoked || h.AckedSeq != 0 || h.Latest != nil {
				t.Errorf("Enroll returned %+v", h)
			}
			checkTime(t, "EnrolledAt", h.EnrolledAt, now)
			checkTime(t, "LastSeen", h.LastSeen, time.Time{})
			g := f.getHost(in.ID)
			if g.Group != tt.wantGrp || g.Hostname != in.Hostname || g.AgentVersion != in.AgentVersion {
				t.Errorf("GetHost after Enroll = %+v", g)
			}
			checkTime(t, "stored EnrolledAt", g.EnrolledAt, now)
			byCred, err := f.s.HostByCredential(f.ctx, cred)
			if err != nil || byCred.ID != in.ID {
				t.Errorf("HostByCredential = %+v, %v", byCred, err)
			}
		})
	}

	t.Run("uses counted", func(t *testing.T) {
		tok := f.token("db", 3, now.Add(time.Minute))
		f.host2(tok.Hash, now)
		f.host2(tok.Hash, now)
		if got := f.tokenUses(tok.ID); got != 2 {
			t.Errorf("Uses = %d, want 2", got)
		}
	})

	t.Run("conflict consumes nothing", func(t *testing.T) {
		tok := f.token("db", 3, now.Add(time.Minute))
		h, cred := f.host2(tok.Hash, now)
		for _, tt := range []struct {
			name string
			host server.Host
			cred string
		}{
			{"same credential", server.Host{ID: randomID("h-"), Hostname: "x", EnrolledAt: now}, cred},
			{"same id", server.Host{ID: h.ID, Hostname: "x", EnrolledAt: now}, randomID("cred-")},
		} {
			_, err := f.s.Enroll(f.ctx, tok.Hash, now, tt.host, tt.cred)
			wantErr(t, "Enroll with "+tt.name, err, server.ErrConflict)
		}
		if got := f.tokenUses(tok.ID); got != 1 {
			t.Errorf("Uses = %d after failed enrollments, want 1", got)
		}
	})
}

func (f *fixture) host2(tokenHash string, now time.Time) (server.Host, string) {
	f.t.Helper()
	cred := randomID("cred-")
	h, err := f.s.Enroll(f.ctx, tokenHash, now, server.Host{ID: randomID("h-"), Hostname: "h", EnrolledAt: now}, cred)
	if err != nil {
		f.t.Fatalf("Enroll: %v", err)
	}
	return h, cred
}

func (f *fixture) tokenUses(id string) int {
	f.t.Helper()
	ts, err := f.s.ListEnrollmentTokens(f.ctx)
	if err != nil {
		f.t.Fatalf("ListEnrollmentTokens: %v", err)
	}
	for _, tok := range ts {
		if tok.ID == id {
			return tok.Uses
		}
	}
	f.t.Fatalf("token %s not listed", id)
	return 0
}

// testEnrollConcurrent races 20 enrollments for a token with 5 uses: exactly 5 may win.
func testEnrollConcurrent(t *testing.T, f *fixture) {
	const maxUses, racers = 5, 20
	f.group("race")
	tok := f.token("race", maxUses, t0.Add(time.Hour))
	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		results = make(chan error, racers)
	)
	for i := range racers {
		wg.Go(func() {
			<-start
			_, err := f.s.Enroll(f.ctx, tok.Hash, t0, server.Host{ID: fmt.Sprintf("race-%02d", i), Hostname: fmt.Sprintf("race-%02d", i), EnrolledAt: t0}, fmt.Sprintf("cred-race-%02d", i))
			results <- err
		})
	}
	close(start)
	wg.Wait()
	close(results)
	ok, refused := 0, 0
	for err := range results {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, server.ErrTokenInvalid):
			refused++
		default:
			t.Errorf("Enroll: unexpected error %v", err)
		}
	}
	if ok != maxUses || refused != racers-maxUses {
		t.Errorf("%d enrollments succeeded and %d were refused, want %d and %d", ok, refused, maxUses, racers-maxUses)
	}
	if got := f.tokenUses(tok.ID); got != maxUses {
		t.Errorf("token Uses = %d, want %d", got, maxUses)
	}
	if g := f.getGroup("race"); g.Hosts != maxUses {
		t.Errorf("group has %d hosts, want %d", g.Hosts, maxUses)
	}
}
