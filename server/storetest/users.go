package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/vigilhq/vigil/server"
)

func (f *fixture) user(name, role string) server.User {
	f.t.Helper()
	u := server.User{ID: randomID("u-"), Name: name, Role: role, PasswordHash: "$argon2id$test$" + name,
		PasswordChangedAt: t0, CreatedAt: t0}
	if err := f.s.CreateUser(f.ctx, u, audit("user.create", "user/"+name)); err != nil {
		f.t.Fatalf("CreateUser %s: %v", name, err)
	}
	return server.User{ID: u.ID, Name: name, Role: role, PasswordHash: u.PasswordHash,
		PasswordChangedAt: t0.Truncate(time.Microsecond), CreatedAt: t0.Truncate(time.Microsecond)}
}

// testUsers: users are created once per name, found by name and ID, listed by name, change role
// and password (which ends their sessions), and deleting one ends its sessions and revokes its
// tokens; every change is audited in the same transaction.
func testUsers(t *testing.T, f *fixture) {
	bob := f.user("bob", server.RoleOperator)
	alice := f.user("alice", server.RoleAdmin)
	f.wantAudit("user.create", "user/alice")
	if err := f.s.CreateUser(f.ctx, server.User{ID: randomID("u-"), Name: "bob", Role: server.RoleViewer, PasswordHash: "x",
		PasswordChangedAt: t0, CreatedAt: t0}, audit("user.create", "user/bob2")); !errors.Is(err, server.ErrConflict) {
		t.Errorf("second bob: err = %v, want ErrConflict", err)
	}
	if a := f.lastAudit(); a.Target == "user/bob2" {
		t.Errorf("a refused create was audited")
	}
	if got, err := f.s.UserByName(f.ctx, "bob"); err != nil || got != bob {
		t.Errorf("UserByName(bob) = %+v, %v; want %+v", got, err, bob)
	}
	if got, err := f.s.UserByID(f.ctx, alice.ID); err != nil || got != alice {
		t.Errorf("UserByID(alice) = %+v, %v; want %+v", got, err, alice)
	}
	for _, err := range []error{
		func() error { _, err := f.s.UserByName(f.ctx, "carol"); return err }(),
		func() error { _, err := f.s.UserByID(f.ctx, "nope"); return err }(),
		f.s.SetUserRole(f.ctx, "nope", server.RoleViewer, audit("user.set_role", "user/nope")),
		f.s.SetUserPassword(f.ctx, "nope", "h", t0, audit("user.password", "user/nope")),
		f.s.DeleteUser(f.ctx, "nope", audit("user.delete", "user/nope")),
		f.s.CreateSession(f.ctx, server.Session{IDHash: randomID("s-"), UserID: "nope", CreatedAt: t0, LastSeen: t0}),
	} {
		if !errors.Is(err, server.ErrNotFound) {
			t.Errorf("on a missing user: err = %v, want ErrNotFound", err)
		}
	}
	us, err := f.s.ListUsers(f.ctx)
	if err != nil || len(us) != 2 || us[0].Name != "alice" || us[1].Name != "bob" {
		t.Fatalf("ListUsers = %+v, %v", us, err)
	}
	if err := f.s.SetUserRole(f.ctx, bob.ID, server.RoleViewer, audit("user.set_role", "user/bob")); err != nil {
		t.Fatal(err)
	}
	f.wantAudit("user.set_role", "user/bob")
	if got, _ := f.s.UserByID(f.ctx, bob.ID); got.Role != server.RoleViewer {
		t.Errorf("role after SetUserRole = %q", got.Role)
	}

	// Sessions.
	s1 := server.Session{IDHash: randomID("s-"), UserID: bob.ID, CreatedAt: t0, LastSeen: t0, Address: "192.0.2.1"}
	s2 := server.Session{IDHash: randomID("s-"), UserID: bob.ID, CreatedAt: t0, LastSeen: t0}
	s3 := server.Session{IDHash: randomID("s-"), UserID: alice.ID, CreatedAt: t0, LastSeen: t0}
	for _, s := range []server.Session{s1, s2, s3} {
		if err := f.s.CreateSession(f.ctx, s); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
	}
	got, err := f.s.SessionByHash(f.ctx, s1.IDHash)
	if err != nil || got.UserID != bob.ID || got.Address != "192.0.2.1" || !got.CreatedAt.Equal(t0.Truncate(time.Microsecond)) {
		t.Errorf("SessionByHash = %+v, %v", got, err)
	}
	later := t0.Add(time.Minute)
	if err := f.s.TouchSession(f.ctx, s1.IDHash, later); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.s.SessionByHash(f.ctx, s1.IDHash); !got.LastSeen.Equal(later.Truncate(time.Microsecond)) {
		t.Errorf("LastSeen after touch = %v, want %v", got.LastSeen, later)
	}
	if err := f.s.DeleteSession(f.ctx, s1.IDHash); err != nil {
		t.Fatal(err)
	}
	if err := f.s.DeleteSession(f.ctx, s1.IDHash); err != nil {
		t.Errorf("second DeleteSession: %v", err)
	}
	if _, err := f.s.SessionByHash(f.ctx, s1.IDHash); !errors.Is(err, server.ErrNotFound) {
		t.Errorf("deleted session: err = %v", err)
	}
	// A password change ends every session of that user, and only of that user.
	if err := f.s.SetUserPassword(f.ctx, bob.ID, "newhash", later, audit("user.password", "user/bob")); err != nil {
		t.Fatal(err)
	}
	f.wantAudit("user.password", "user/bob")
	if got, _ := f.s.UserByID(f.ctx, bob.ID); got.PasswordHash != "newhash" || !got.PasswordChangedAt.Equal(later.Truncate(time.Microsecond)) {
		t.Errorf("after SetUserPassword: %+v", got)
	}
	if _, err := f.s.SessionByHash(f.ctx, s2.IDHash); !errors.Is(err, server.ErrNotFound) {
		t.Errorf("bob's session survived a password change: err = %v", err)
	}
	if _, err := f.s.SessionByHash(f.ctx, s3.IDHash); err != nil {
		t.Errorf("alice's session ended with bob's password change: %v", err)
	}

	// Stale sessions: idle or too old.
	idle := server.Session{IDHash: randomID("s-"), UserID: alice.ID, CreatedAt: t0.Add(time.Hour), LastSeen: t0.Add(time.Hour)}
	old := server.Session{IDHash: randomID("s-"), UserID: alice.ID, CreatedAt: t0, LastSeen: t0.Add(3 * time.Hour)}
	fresh := server.Session{IDHash: randomID("s-"), UserID: alice.ID, CreatedAt: t0.Add(2 * time.Hour), LastSeen: t0.Add(3 * time.Hour)}
	for _, s := range []server.Session{idle, old, fresh} {
		if err := f.s.CreateSession(f.ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	// s3 (created and seen at t0), idle and old go; fresh stays.
	n, err := f.s.DeleteStaleSessions(f.ctx, t0.Add(2*time.Hour), t0.Add(90*time.Minute))
	if err != nil || n != 3 {
		t.Errorf("DeleteStaleSessions = %d, %v; want 3", n, err)
	}
	if _, err := f.s.SessionByHash(f.ctx, fresh.IDHash); err != nil {
		t.Errorf("fresh session deleted: %v", err)
	}

	// Deleting a user ends its sessions and revokes its tokens, not others'.
	mine := server.APIToken{ID: randomID("t-"), Name: "ci", Role: server.RoleViewer, Hash: randomID("h-"), CreatedAt: t0, Owner: alice.ID}
	theirs := server.APIToken{ID: randomID("t-"), Name: "ops", Role: server.RoleViewer, Hash: randomID("h-"), CreatedAt: t0, Owner: bob.ID}
	for _, tok := range []server.APIToken{mine, theirs} {
		if err := f.s.CreateAPIToken(f.ctx, tok, audit("api_token.create", tok.ID)); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := f.s.APITokenByHash(f.ctx, mine.Hash); got.Owner != alice.ID {
		t.Errorf("token owner = %q, want %q", got.Owner, alice.ID)
	}
	if err := f.s.DeleteUser(f.ctx, alice.ID, audit("user.delete", "user/alice-last")); !errors.Is(err, server.ErrLastAdmin) {
		t.Fatalf("deleting the only admin: err = %v, want ErrLastAdmin", err)
	}
	if a := f.lastAudit(); a.Target == "user/alice-last" {
		t.Errorf("a refused delete was audited")
	}
	f.user("root", server.RoleAdmin)
	if err := f.s.DeleteUser(f.ctx, alice.ID, audit("user.delete", "user/alice")); err != nil {
		t.Fatal(err)
	}
	f.wantAudit("user.delete", "user/alice")
	if _, err := f.s.UserByName(f.ctx, "alice"); !errors.Is(err, server.ErrNotFound) {
		t.Errorf("deleted user found: %v", err)
	}
	if _, err := f.s.SessionByHash(f.ctx, fresh.IDHash); !errors.Is(err, server.ErrNotFound) {
		t.Errorf("deleted user's session survived: %v", err)
	}
	if got, _ := f.s.APITokenByHash(f.ctx, mine.Hash); !got.Revoked {
		t.Errorf("deleted user's token not revoked")
	}
	if got, _ := f.s.APITokenByHash(f.ctx, theirs.Hash); got.Revoked {
		t.Errorf("another user's token revoked")
	}
}

// testLastAdmin: demoting or deleting the last admin is refused, also when two changes race for
// the last two admins: exactly one of them wins.
func testLastAdmin(t *testing.T, f *fixture) {
	a1, a2 := f.user("a1", server.RoleAdmin), f.user("a2", server.RoleAdmin)
	f.user("op", server.RoleOperator)
	for round := 0; round < 5; round++ {
		errs := make(chan error, 2)
		start := make(chan struct{})
		for _, id := range []string{a1.ID, a2.ID} {
			go func() {
				<-start
				if round%2 == 0 {
					errs <- f.s.SetUserRole(f.ctx, id, server.RoleViewer, audit("user.set_role", "user/"+id))
				} else {
					errs <- f.s.DeleteUser(f.ctx, id, audit("user.delete", "user/"+id))
				}
			}()
		}
		close(start)
		e1, e2 := <-errs, <-errs
		if (e1 == nil) == (e2 == nil) || !(errors.Is(e1, server.ErrLastAdmin) || errors.Is(e2, server.ErrLastAdmin)) {
			t.Fatalf("round %d: racing changes to the last two admins: %v and %v; want one ErrLastAdmin", round, e1, e2)
		}
		us, err := f.s.ListUsers(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		admins := 0
		for _, u := range us {
			if u.Role == server.RoleAdmin {
				admins++
			}
		}
		if admins != 1 {
			t.Fatalf("round %d: %d admins left, want 1", round, admins)
		}
		// Restore two admins for the next round.
		a1, a2 = f.user(randomID("a"), server.RoleAdmin), server.User{}
		for _, u := range us {
			if u.Role == server.RoleAdmin {
				a2 = u
			}
		}
	}
	if err := f.s.SetUserRole(f.ctx, a2.ID, server.RoleAdmin, audit("user.set_role", "user/same")); err != nil {
		t.Errorf("keeping an admin an admin: %v", err)
	}
}

// testSearchAudit: the audit keeps who, from where, before and after, and SearchAudit filters by
// actor (user, token or actor text), action (exact or "prefix."), target (exact or "prefix/"),
// time and page.
func testSearchAudit(t *testing.T, f *fixture) {
	entries := []server.AuditEntry{
		{Time: t0, Actor: "alice", User: "alice", Action: "user.create", Target: "user/bob", Address: "192.0.2.7", After: "role=operator"},
		{Time: t0.Add(time.Minute), Actor: "ci (token abcdef12)", User: "bob", TokenID: "abcdef1234", Action: "group.pin", Target: "group/web",
			Before: "unpinned", After: "version=1.2.3", Address: "2001:db8::1"},
		{Time: t0.Add(2 * time.Minute), Actor: "alice", User: "alice", Action: "user.set_role", Target: "user/bob", Before: "role=operator", After: "role=viewer"},
		{Time: t0.Add(3 * time.Minute), Actor: "legacy", Action: "group.create", Target: "group/db"},
	}
	for _, e := range entries {
		if err := f.s.AppendAudit(f.ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	all, err := f.s.SearchAudit(f.ctx, server.AuditFilter{})
	if err != nil || len(all) != 4 {
		t.Fatalf("SearchAudit(all) = %d entries, %v", len(all), err)
	}
	got := all[2] // the pin, newest first
	got.ID = 0
	want := entries[1]
	want.Time = want.Time.Truncate(time.Microsecond)
	if got != want {
		t.Errorf("stored entry = %+v\nwant %+v", got, want)
	}
	cases := []struct {
		name string
		f    server.AuditFilter
		want []string // actions, newest first
	}{
		{"actor user", server.AuditFilter{Actor: "alice"}, []string{"user.set_role", "user.create"}},
		{"actor owner", server.AuditFilter{Actor: "bob"}, []string{"group.pin"}},
		{"actor token", server.AuditFilter{Actor: "abcdef1234"}, []string{"group.pin"}},
		{"actor text", server.AuditFilter{Actor: "legacy"}, []string{"group.create"}},
		{"action", server.AuditFilter{Action: "group.pin"}, []string{"group.pin"}},
		{"action prefix", server.AuditFilter{Action: "user."}, []string{"user.set_role", "user.create"}},
		{"action no prefix match without dot", server.AuditFilter{Action: "user"}, nil},
		{"target", server.AuditFilter{Target: "user/bob"}, []string{"user.set_role", "user.create"}},
		{"target prefix", server.AuditFilter{Target: "group/"}, []string{"group.create", "group.pin"}},
		{"since", server.AuditFilter{Since: t0.Add(2 * time.Minute)}, []string{"group.create", "user.set_role"}},
		{"until", server.AuditFilter{Until: t0.Add(time.Minute)}, []string{"user.create"}},
		{"window", server.AuditFilter{Since: t0.Add(time.Minute), Until: t0.Add(3 * time.Minute)}, []string{"user.set_role", "group.pin"}},
		{"combined", server.AuditFilter{Actor: "alice", Target: "user/bob", Action: "user.create"}, []string{"user.create"}},
		{"limit", server.AuditFilter{Limit: 1}, []string{"group.create"}},
		{"before", server.AuditFilter{Before: all[1].ID, Limit: 2}, []string{"group.pin", "user.create"}},
	}
	for _, c := range cases {
		es, err := f.s.SearchAudit(f.ctx, c.f)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		var acts []string
		for _, e := range es {
			acts = append(acts, e.Action)
		}
		if len(acts) != len(c.want) {
			t.Errorf("%s: got %v, want %v", c.name, acts, c.want)
			continue
		}
		for i := range acts {
			if acts[i] != c.want[i] {
				t.Errorf("%s: got %v, want %v", c.name, acts, c.want)
				break
			}
		}
	}
}
