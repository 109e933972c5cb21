package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/apiclient"
	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/wire"
)

func wantCode(t *testing.T, what string, err error, status int) {
	t.Helper()
	var he *apiclient.Error
	if !errors.As(err, &he) || he.Status != status {
		t.Errorf("%s: err = %v, want HTTP %d", what, err, status)
	}
}

// TestUsersAndTokenOwnership: an admin manages users over the API with clear refusals for bad
// input; tokens belong to a user and never exceed the user's role (refused at creation, 403 after
// a demotion, 401 after removal); a user may change their own password only with the current one;
// and every change is in the audit log with who, from where, before and after, filterable.
func TestUsersAndTokenOwnership(t *testing.T) {
	e := newReleaseEnv(t, false)
	ctx := context.Background()
	pw := "correct horse battery"

	for _, c := range []struct {
		req    api.CreateUserRequest
		status int
	}{
		{api.CreateUserRequest{Name: "carol", Role: server.RoleOperator, Password: "short"}, http.StatusBadRequest},
		{api.CreateUserRequest{Name: "carol", Role: "superuser", Password: pw}, http.StatusBadRequest},
		{api.CreateUserRequest{Name: "Carol Smith", Role: server.RoleOperator, Password: pw}, http.StatusBadRequest},
	} {
		_, err := e.admin.CreateUser(ctx, c.req)
		wantCode(t, "create "+c.req.Name+"/"+c.req.Role, err, c.status)
	}
	carol, err := e.admin.CreateUser(ctx, api.CreateUserRequest{Name: "carol", Role: server.RoleOperator, Password: pw})
	if err != nil || carol.Name != "carol" || carol.Role != server.RoleOperator {
		t.Fatalf("CreateUser = %+v, %v", carol, err)
	}
	_, err = e.admin.CreateUser(ctx, api.CreateUserRequest{Name: "carol", Role: server.RoleViewer, Password: pw})
	wantCode(t, "duplicate user", err, http.StatusConflict)
	_, err = e.viewer.ListUsers(ctx)
	wantCode(t, "viewer lists users", err, http.StatusForbidden)

	// A token for carol above her role is refused; at her role it works and acts as her.
	_, err = e.admin.CreateToken(ctx, api.CreateTokenRequest{Name: "ci", Role: server.RoleAdmin, Owner: "carol"})
	wantCode(t, "token above owner's role", err, http.StatusForbidden)
	_, err = e.admin.CreateToken(ctx, api.CreateTokenRequest{Name: "ci", Role: server.RoleRelease, Owner: "carol"})
	wantCode(t, "release token for an operator", err, http.StatusForbidden)
	tok, err := e.admin.CreateToken(ctx, api.CreateTokenRequest{Name: "ci", Role: server.RoleOperator, Owner: "carol"})
	if err != nil || tok.Owner != "carol" || tok.OwnerID != carol.ID {
		t.Fatalf("CreateToken for carol = %+v, %v", tok, err)
	}
	asCarol := apiclient.New(e.base, tok.Token, e.hc)
	// Carol's own token may make tokens at most at her role, and only for herself.
	_, err = asCarol.CreateToken(ctx, api.CreateTokenRequest{Name: "escalate", Role: server.RoleAdmin})
	wantCode(t, "operator creates an admin token", err, http.StatusForbidden)
	_, err = asCarol.CreateToken(ctx, api.CreateTokenRequest{Name: "other", Role: server.RoleViewer, Owner: "admin"})
	wantCode(t, "operator creates a token for someone else", err, http.StatusForbidden)
	sub, err := asCarol.CreateToken(ctx, api.CreateTokenRequest{Name: "read-only", Role: server.RoleViewer})
	if err != nil || sub.Owner != "carol" {
		t.Fatalf("carol's viewer token = %+v, %v", sub, err)
	}
	if ts, err := asCarol.ListTokens(ctx); err != nil || len(ts) != 2 {
		t.Errorf("carol lists %d tokens (%v), want her 2", len(ts), err)
	}
	if err := asCarol.RevokeToken(ctx, tokIDOf(t, e, "admin-token")); err == nil {
		t.Errorf("carol revoked the admin's token")
	}
	if _, err := asCarol.CreateGroup(ctx, api.CreateGroupRequest{Name: "web"}); err != nil {
		t.Fatalf("carol creates a group: %v", err)
	}
	if _, err := asCarol.SetPin(ctx, "web", api.Pin{Version: "1.2.3", Force: true}); err != nil {
		t.Fatalf("carol pins: %v", err)
	}
	// Host changes record the state before.
	etok, _, err := e.svc.CreateEnrollmentToken(ctx, server.Principal{Role: server.RoleAdmin}, "", time.Hour, 1)
	if err != nil {
		t.Fatal(err)
	}
	h, err := e.svc.Enroll(ctx, wire.EnrollRequest{EnrollmentToken: etok, Hostname: "web-1", MachineID: strings.Repeat("b", 32), OS: "linux", Arch: "amd64", AgentVersion: "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := asCarol.MoveHost(ctx, h.HostID, "web"); err != nil {
		t.Fatal(err)
	}
	if err := asCarol.RevokeHost(ctx, h.HostID); err != nil {
		t.Fatal(err)
	}
	hostAudit, err := e.admin.SearchAudit(ctx, api.AuditQuery{Target: "host/" + h.HostID})
	if err != nil || len(hostAudit) != 2 || hostAudit[1].Before != "group=default" || hostAudit[1].After != "group=web" ||
		!strings.Contains(hostAudit[0].Before, "hostname=web-1 group=web revoked=false") || hostAudit[0].After != "revoked" {
		t.Errorf("host audit = %+v, %v", hostAudit, err)
	}
	_, err = e.rel.CreateUser(ctx, api.CreateUserRequest{Name: "mallory", Role: server.RoleAdmin, Password: pw})
	wantCode(t, "release engineer creates a user", err, http.StatusForbidden)

	// A user changes their own password only with the current one; never another's.
	err = asCarol.SetPassword(ctx, "carol", api.SetPasswordRequest{CurrentPassword: "wrong password!", Password: "a brand new password"})
	wantCode(t, "own password with a wrong current one", err, http.StatusForbidden)
	err = asCarol.SetPassword(ctx, "admin", api.SetPasswordRequest{Password: "a brand new password"})
	wantCode(t, "another user's password", err, http.StatusForbidden)
	if err := asCarol.SetPassword(ctx, "carol", api.SetPasswordRequest{CurrentPassword: pw, Password: "a brand new password"}); err != nil {
		t.Fatalf("own password: %v", err)
	}

	// Demoting carol below her token's role stops the token (403 saying why); removing her
	// revokes it.
	if _, err := e.admin.SetUserRole(ctx, "carol", server.RoleViewer); err != nil {
		t.Fatal(err)
	}
	_, err = asCarol.ListHosts(ctx, "")
	wantCode(t, "token above its demoted owner", err, http.StatusForbidden)
	if _, err := apiclient.New(e.base, sub.Token, e.hc).ListHosts(ctx, ""); err != nil {
		t.Errorf("carol's viewer token after the demotion: %v", err)
	}
	if err := e.admin.DeleteUser(ctx, "carol"); err != nil {
		t.Fatal(err)
	}
	_, err = apiclient.New(e.base, sub.Token, e.hc).ListHosts(ctx, "")
	wantCode(t, "token of a removed user", err, http.StatusUnauthorized)
	wantCode(t, "remove a missing user", e.admin.DeleteUser(ctx, "carol"), http.StatusNotFound)

	// The audit log: who, from where, before and after; filters.
	pins, err := e.admin.SearchAudit(ctx, api.AuditQuery{Action: "group.pin"})
	if err != nil || len(pins) != 1 {
		t.Fatalf("audit of pins = %+v, %v", pins, err)
	}
	if p := pins[0]; p.User != "carol" || p.TokenID != tok.ID || p.Address != "127.0.0.1" || p.Before != "unpinned" || p.After != "version=1.2.3" {
		t.Errorf("pin audit entry = %+v", p)
	}
	byCarol, err := e.admin.SearchAudit(ctx, api.AuditQuery{Actor: "carol"})
	if err != nil {
		t.Fatal(err)
	}
	var acts []string
	for _, a := range byCarol {
		acts = append(acts, a.Action)
	}
	if want := []string{"user.password", "host.revoke", "host.move", "group.pin", "group.create", "api_token.create"}; len(acts) != len(want) {
		t.Errorf("carol's audit = %v, want %v", acts, want)
	}
	users, err := e.admin.SearchAudit(ctx, api.AuditQuery{Target: "user/carol", Action: "user."})
	if err != nil || len(users) != 4 || users[1].Action != "user.set_role" || users[1].Before != "role=operator" || users[1].After != "role=viewer" {
		t.Errorf("audit of user/carol = %+v, %v", users, err)
	}
	if got, err := e.admin.SearchAudit(ctx, api.AuditQuery{Target: "user/carol", Since: time.Now().Add(time.Hour)}); err != nil || len(got) != 0 {
		t.Errorf("audit since an hour from now = %d entries, %v", len(got), err)
	}
	err = e.admin.Do(ctx, http.MethodGet, "/api/v1/audit?since=yesterday", nil, nil)
	wantCode(t, "audit with a bad time", err, http.StatusBadRequest)
	err = e.admin.Do(ctx, http.MethodGet, "/api/v1/audit?limit=5000", nil, nil)
	wantCode(t, "audit with a too large limit", err, http.StatusBadRequest)
}

func tokIDOf(t *testing.T, e *releaseEnv, name string) string {
	t.Helper()
	ts, err := e.admin.ListTokens(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range ts {
		if tk.Name == name {
			return tk.ID
		}
	}
	t.Fatalf("no token %s", name)
	return ""
}
