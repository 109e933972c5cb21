package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/wire"
)

func testUpdateEvents(t *testing.T, f *fixture) {
	h, cred := f.host("updating", server.DefaultGroup)
	other, _ := f.host("other", server.DefaultGroup)
	evs := []server.UpdateEvent{
		{HostID: h.ID, ReceivedAt: t0, UpdateEvent: wire.UpdateEvent{FromVersion: "1.0.0", ToVersion: "1.1.0", Phase: wire.PhaseDownload, Result: wire.ResultStarted, Time: t0}},
		{HostID: h.ID, ReceivedAt: t0.Add(time.Second), UpdateEvent: wire.UpdateEvent{Binary: "vigil-agent", FromVersion: "1.0.0", ToVersion: "1.1.0", Phase: wire.PhaseTrial, Result: wire.ResultFailed, Reason: "not ready within 30s", Time: t0.Add(time.Second)}},
		{HostID: h.ID, ReceivedAt: t0.Add(2 * time.Second), UpdateEvent: wire.UpdateEvent{Binary: "vigil-updater", FromVersion: "1.1.0", ToVersion: "1.0.0", Phase: wire.PhaseRollback, Result: wire.ResultOK, Time: t0.Add(2 * time.Second)}},
	}
	for i, e := range evs {
		if err := f.s.AddUpdateEvent(f.ctx, e); err != nil {
			t.Fatalf("AddUpdateEvent %d: %v", i, err)
		}
		lu := f.getHost(h.ID).LastUpdate
		if lu == nil {
			t.Fatalf("no LastUpdate after event %d", i)
		}
		checkEvent(t, fmt.Sprintf("LastUpdate after event %d", i), *lu, e)
	}
	if err := f.s.AddUpdateEvent(f.ctx, server.UpdateEvent{HostID: other.ID, ReceivedAt: t0, UpdateEvent: wire.UpdateEvent{Phase: wire.PhaseCheck, Result: wire.ResultOK, Time: t0}}); err != nil {
		t.Fatalf("AddUpdateEvent other: %v", err)
	}
	err := f.s.AddUpdateEvent(f.ctx, server.UpdateEvent{HostID: "h-unknown", ReceivedAt: t0, UpdateEvent: wire.UpdateEvent{Phase: wire.PhaseCheck, Result: wire.ResultOK, Time: t0}})
	wantErr(t, "AddUpdateEvent unknown host", err, server.ErrNotFound)

	got, err := f.s.ListUpdateEvents(f.ctx, h.ID, 10)
	if err != nil {
		t.Fatalf("ListUpdateEvents: %v", err)
	}
	if len(got) != len(evs) {
		t.Fatalf("ListUpdateEvents returned %d events, want %d", len(got), len(evs))
	}
	for i := range got {
		checkEvent(t, fmt.Sprintf("event %d", i), got[i], evs[len(evs)-1-i]) // newest first
	}
	if got, _ := f.s.ListUpdateEvents(f.ctx, h.ID, 2); len(got) != 2 || got[0].Phase != wire.PhaseRollback || got[1].Phase != wire.PhaseTrial {
		t.Errorf("ListUpdateEvents limit 2 = %+v", got)
	}
	if got, err := f.s.ListUpdateEvents(f.ctx, "h-unknown", 10); err != nil || len(got) != 0 {
		t.Errorf("ListUpdateEvents unknown host = %v, %v", got, err)
	}
	if byCred, _ := f.s.HostByCredential(f.ctx, cred); byCred.LastUpdate != nil {
		t.Errorf("HostByCredential returned LastUpdate")
	}
}

func checkEvent(t *testing.T, what string, got, want server.UpdateEvent) {
	t.Helper()
	g, w := got, want
	g.Time, w.Time, g.ReceivedAt, w.ReceivedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if g != w {
		t.Errorf("%s = %+v, want %+v", what, got, want)
	}
	checkTime(t, what+" Time", got.Time, want.Time)
	checkTime(t, what+" ReceivedAt", got.ReceivedAt, want.ReceivedAt)
}

func testAPITokens(t *testing.T, f *fixture) {
	var made []server.APIToken
	for i, role := range []string{server.RoleAdmin, server.RoleViewer, server.RoleRelease} {
		tok := server.APIToken{ID: fmt.Sprintf("at-%d", i), Name: fmt.Sprintf("token %d", i), Role: role, CreatedAt: t0.Add(time.Duration(i) * time.Second), Hash: fmt.Sprintf("api-hash-%d", i)}
		if err := f.s.CreateAPIToken(f.ctx, tok, audit("api-token.create", tok.ID)); err != nil {
			t.Fatalf("CreateAPIToken: %v", err)
		}
		f.wantAudit("api-token.create", tok.ID)
		made = append(made, tok)
	}
	before := f.lastAudit()
	wantErr(t, "CreateAPIToken same hash", f.s.CreateAPIToken(f.ctx, server.APIToken{ID: "at-x", Role: server.RoleAdmin, Hash: "api-hash-1", CreatedAt: t0}, audit("api-token.create", "at-x")), server.ErrConflict)
	wantErr(t, "CreateAPIToken same id", f.s.CreateAPIToken(f.ctx, server.APIToken{ID: "at-1", Role: server.RoleAdmin, Hash: "api-hash-x", CreatedAt: t0}, audit("api-token.create", "at-1")), server.ErrConflict)
	f.noNewAudit(before, "failed CreateAPIToken")

	got, err := f.s.APITokenByHash(f.ctx, "api-hash-1")
	if err != nil {
		t.Fatalf("APITokenByHash: %v", err)
	}
	if got.ID != "at-1" || got.Name != "token 1" || got.Role != server.RoleViewer || got.Revoked || got.Hash != "api-hash-1" {
		t.Errorf("APITokenByHash = %+v", got)
	}
	checkTime(t, "CreatedAt", got.CreatedAt, made[1].CreatedAt)
	_, err = f.s.APITokenByHash(f.ctx, "api-hash-unknown")
	wantErr(t, "APITokenByHash unknown", err, server.ErrNotFound)

	list, err := f.s.ListAPITokens(f.ctx)
	if err != nil {
		t.Fatalf("ListAPITokens: %v", err)
	}
	var ids []string
	for _, tok := range list {
		ids = append(ids, tok.ID)
	}
	if want := []string{"at-0", "at-1", "at-2"}; !slices.Equal(ids, want) { // oldest first
		t.Errorf("ListAPITokens = %v, want %v", ids, want)
	}

	for range 2 { // idempotent
		if err := f.s.RevokeAPIToken(f.ctx, "at-0", audit("api-token.revoke", "at-0")); err != nil {
			t.Fatalf("RevokeAPIToken: %v", err)
		}
		f.wantAudit("api-token.revoke", "at-0")
	}
	before = f.lastAudit()
	wantErr(t, "RevokeAPIToken unknown", f.s.RevokeAPIToken(f.ctx, "at-unknown", audit("api-token.revoke", "at-unknown")), server.ErrNotFound)
	f.noNewAudit(before, "failed RevokeAPIToken")
	if got, err := f.s.APITokenByHash(f.ctx, "api-hash-0"); err != nil || !got.Revoked {
		t.Errorf("revoked token by hash = %+v, %v; want it with Revoked", got, err)
	}
	if got, _ := f.s.APITokenByHash(f.ctx, "api-hash-1"); got.Revoked {
		t.Errorf("revoking one token revoked another")
	}
}

func testAudit(t *testing.T, f *fixture) {
	const n = 25
	var want []server.AuditEntry
	for i := range n {
		name := fmt.Sprintf("g%02d", i)
		a := server.AuditEntry{
			Time: t0.Add(time.Duration(i) * time.Second), Actor: "alice", Action: "group.create", Target: name,
			Detail: fmt.Sprintf(`{"grace":"%ds"}`, i),
		}
		if err := f.s.CreateGroup(f.ctx, server.Group{Name: name, CreatedAt: t0}, a); err != nil {
			t.Fatalf("CreateGroup: %v", err)
		}
		want = append(want, a)
	}
	slices.Reverse(want) // newest first

	all, err := f.s.ListAudit(f.ctx, 100, 0)
	if err != nil {
		t.Fatalf("ListAudit: %v", err)
	}
	if len(all) != n {
		t.Fatalf("ListAudit returned %d entries, want %d", len(all), n)
	}
	for i, a := range all {
		w := want[i]
		if a.Actor != w.Actor || a.Action != w.Action || a.Target != w.Target || a.Detail != w.Detail {
			t.Errorf("entry %d = %+v, want %+v", i, a, w)
		}
		checkTime(t, "audit Time", a.Time, w.Time)
		if i > 0 && a.ID >= all[i-1].ID {
			t.Errorf("entry %d ID %d not below the previous %d", i, a.ID, all[i-1].ID)
		}
	}

	// Page through with before.
	var paged []server.AuditEntry
	before := int64(0)
	for {
		page, err := f.s.ListAudit(f.ctx, 10, before)
		if err != nil {
			t.Fatalf("ListAudit page: %v", err)
		}
		if len(page) == 0 {
			break
		}
		if len(page) > 10 {
			t.Fatalf("page of %d entries, limit 10", len(page))
		}
		paged = append(paged, page...)
		before = page[len(page)-1].ID
	}
	if len(paged) != n {
		t.Fatalf("paging returned %d entries, want %d", len(paged), n)
	}
	for i := range paged {
		if paged[i].ID != all[i].ID {
			t.Errorf("paged entry %d has ID %d, want %d", i, paged[i].ID, all[i].ID)
		}
	}
	if got, _ := f.s.ListAudit(f.ctx, 100, all[n-1].ID); len(got) != 0 {
		t.Errorf("ListAudit before the oldest returned %d entries", len(got))
	}
	if got, _ := f.s.ListAudit(f.ctx, 0, 0); len(got) != n {
		t.Errorf("ListAudit with no limit returned %d entries, want %d", len(got), n)
	}
}

// testContextCanceled: a canceled context makes every kind of call fail.
func testContextCanceled(t *testing.T, f *fixture) {
	h, cred := f.host("ctx", server.DefaultGroup)
	tok := f.token(server.DefaultGroup, 5, t0.Add(time.Hour))
	ctx, cancel := context.WithCancel(f.ctx)
	cancel()
	calls := []struct {
		name string
		call func() error
	}{
		{"Ping", func() error { return f.s.Ping(ctx) }},
		{"GetHost", func() error { _, err := f.s.GetHost(ctx, h.ID); return err }},
		{"HostByCredential", func() error { _, err := f.s.HostByCredential(ctx, cred); return err }},
		{"ListHosts", func() error { _, err := f.s.ListHosts(ctx, ""); return err }},
		{"ListGroups", func() error { _, err := f.s.ListGroups(ctx); return err }},
		{"ListSamples", func() error { _, err := f.s.ListSamples(ctx, h.ID, t0, t0.Add(time.Hour), 10); return err }},
		{"ListAudit", func() error { _, err := f.s.ListAudit(ctx, 10, 0); return err }},
		{"ReportsDropped", func() error { _, err := f.s.ReportsDropped(ctx, h.ID, t0); return err }},
		{"CommitReports", func() error { _, err := f.s.CommitReports(ctx, []server.HostReports{batch(h.ID, t0, 1)}); return err }},
		{"Enroll", func() error {
			_, err := f.s.Enroll(ctx, tok.Hash, t0, server.Host{ID: "h-ctx", Hostname: "x", EnrolledAt: t0}, "cred-ctx")
			return err
		}},
		{"CreateGroup", func() error {
			return f.s.CreateGroup(ctx, server.Group{Name: "ctx", CreatedAt: t0}, audit("group.create", "ctx"))
		}},
		{"DeleteSamplesBefore", func() error { _, err := f.s.DeleteSamplesBefore(ctx, t0); return err }},
	}
	for _, c := range calls {
		if err := c.call(); err == nil {
			t.Errorf("%s with a canceled context succeeded", c.name)
		}
	}
	// Nothing happened.
	if got := f.getHost(h.ID); got.AckedSeq != 0 {
		t.Errorf("canceled CommitReports acknowledged %d", got.AckedSeq)
	}
	if _, err := f.s.GetGroup(f.ctx, "ctx"); err == nil {
		t.Errorf("canceled CreateGroup created the group")
	}
	if got := f.tokenUses(tok.ID); got != 0 {
		t.Errorf("canceled Enroll used the token")
	}
}
