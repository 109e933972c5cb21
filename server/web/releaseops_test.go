package web_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/release"
	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/app"
	"github.com/vigilhq/vigil/server/tufrepo"
	"github.com/vigilhq/vigil/signing"
)

// releaseEnv is an opsEnv whose release repository is initialized with two targets keys
// (threshold 2), alice and bob.
type releaseEnv struct {
	*opsEnv
	keys map[string]*signing.Key
}

func newReleaseEnv(t *testing.T) *releaseEnv {
	t.Helper()
	// The online keys are made before the server starts, outside any request (see
	// TestReleasesPage).
	dir := t.TempDir()
	pre, err := tufrepo.Open(tufrepo.Config{DataDir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pre.OnlineKeys(); err != nil {
		t.Fatal(err)
	}
	e := &releaseEnv{opsEnv: newOpsEnv(t, func(c *app.Config) { c.DataDir = dir }), keys: map[string]*signing.Key{}}
	ctx := context.Background()
	for _, n := range []string{"root", "alice", "bob"} {
		k, err := signing.Generate("")
		if err != nil {
			t.Fatal(err)
		}
		e.keys[n] = k
	}
	online, err := e.admin.OnlineKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tuf := func(ks []api.Key) []*metadata.Key {
		out := make([]*metadata.Key, len(ks))
		for i, k := range ks {
			out[i] = &metadata.Key{Type: k.Type, Scheme: k.Scheme, Value: metadata.KeyVal{PublicKey: k.Value.Public}}
		}
		return out
	}
	root, err := release.BuildRoot(release.RootSpec{
		Expires:   time.Now().Add(365 * 24 * time.Hour),
		Root:      release.RoleKeys{Keys: []*metadata.Key{e.keys["root"].TUFKey()}, Threshold: 1},
		Targets:   release.RoleKeys{Keys: []*metadata.Key{e.keys["alice"].TUFKey(), e.keys["bob"].TUFKey()}, Threshold: 2},
		Snapshot:  release.RoleKeys{Keys: tuf(online.Snapshot)},
		Timestamp: release.RoleKeys{Keys: tuf(online.Timestamp)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if root, _, err = release.SignMetadata(ctx, root, e.keys["root"]); err != nil {
		t.Fatal(err)
	}
	if _, err := e.admin.InitRepo(ctx, root, nil); err != nil {
		t.Fatal(err)
	}
	return e
}

// stage uploads a build of version and stages it on channels (draft named version).
func (e *releaseEnv) stage(version string, channels ...string) {
	e.t.Helper()
	ctx := context.Background()
	body := []byte("agent build " + version)
	sum := sha256.Sum256(body)
	art := api.ArtifactInfo{Name: "vigil-agent-linux-amd64", Length: int64(len(body)), SHA256: hex.EncodeToString(sum[:])}
	if err := e.admin.UploadArtifact(ctx, version, art, bytes.NewReader(body)); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.admin.Stage(ctx, version, api.StageRequest{Artifacts: []api.ArtifactInfo{art}, Channels: channels}); err != nil {
		e.t.Fatal(err)
	}
}

// sign signs draft name offline with the named keys and uploads the signatures, as vigilctl
// release sign does.
func (e *releaseEnv) sign(name string, signers ...string) {
	e.t.Helper()
	ctx := context.Background()
	for _, s := range signers {
		draft, err := e.admin.Draft(ctx, name)
		if err != nil {
			e.t.Fatal(err)
		}
		signed, _, err := release.SignMetadata(ctx, draft, e.keys[s])
		if err != nil {
			e.t.Fatal(err)
		}
		if _, err := e.admin.AddSignatures(ctx, name, signed); err != nil {
			e.t.Fatal(err)
		}
	}
}

// TestReleaseActions: the releases page offers the release role (and admin) what runs online —
// publish a draft signed to the threshold, discard a draft (only with the confirmation ticked),
// draft a channel move, draft a renewal of targets — and says which steps need vigilctl and the
// offline keys. Each does what the API route does (refusals included: a draft short of its
// threshold is not published) and is audited under the user's name. An operator and a viewer
// see no actions and are refused, as is a form without the CSRF token.
func TestReleaseActions(t *testing.T) {
	e := newReleaseEnv(t)
	ctx := context.Background()
	admin := server.Principal{Name: "test", Role: server.RoleAdmin}
	e.stage("1.0.0", "beta")
	e.sign("1.0.0", "alice")

	draftRow := func(body string) string {
		return regexp.MustCompile(`(?s)<td class="actions" id="draft-1.0.0">.*?</td>`).FindString(body)
	}
	rita := e.get("rita", "/releases")
	if row := draftRow(rita.body); !strings.Contains(row, `action="/releases/drafts/1.0.0/discard"`) || strings.Contains(row, "/publish") ||
		!strings.Contains(rita.body, `id="promote"`) || !strings.Contains(rita.body, `id="renew"`) {
		t.Errorf("release engineer's page with a draft 1 of 2 signed (discard, no publish yet):\n%s", rita.body)
	}
	if !strings.Contains(rita.body, "vigilctl release sign DRAFT") || !strings.Contains(rita.body, "offline keys") {
		t.Errorf("the page does not say which steps need vigilctl and offline keys")
	}
	for _, who := range []string{"olga", "vera"} {
		if p := e.get(who, "/releases"); strings.Contains(p.body, `action="/releases/`) {
			t.Errorf("%s's releases page offers release actions", who)
		}
		refused(t, who+" publishes", e.post(who, "/releases/drafts/1.0.0/publish", nil, true))
		refused(t, who+" discards", e.post(who, "/releases/drafts/1.0.0/discard", url.Values{"confirm": {"yes"}}, true))
		refused(t, who+" promotes", e.post(who, "/releases/promote", url.Values{"version": {"1.0.0"}, "channel": {"stable"}}, true))
		refused(t, who+" renews", e.post(who, "/releases/renew", nil, true))
	}
	refused(t, "release engineer publishes without the CSRF token", e.post("rita", "/releases/drafts/1.0.0/publish", nil, false))
	// Short of its threshold: refused with why, nothing published.
	if a := e.post("rita", "/releases/drafts/1.0.0/publish", nil, true); a.status != http.StatusConflict || !strings.Contains(a.body, "threshold") {
		t.Errorf("publish with 1 of 2 signatures: %d\n%s", a.status, a.body)
	}
	if rs, _ := e.admin.Releases(ctx); len(rs) != 1 || rs[0].Published {
		t.Fatalf("after refused publishes: %+v", rs)
	}
	e.sign("1.0.0", "bob")
	if row := draftRow(e.get("rita", "/releases").body); !strings.Contains(row, `action="/releases/drafts/1.0.0/publish"`) {
		t.Errorf("a draft signed to the threshold offers no Publish:\n%s", row)
	}
	a := e.post("rita", "/releases/drafts/1.0.0/publish", nil, true)
	channels := regexp.MustCompile(`(?s)<table id="channels">.*?</table>`).FindString(a.body)
	if a.status != http.StatusOK || !strings.Contains(a.body, "Draft 1.0.0 published") || !strings.Contains(channels, "<td>beta</td><td>1.0.0</td>") ||
		!strings.Contains(a.body, "No pending draft") {
		t.Fatalf("publish: %d\n%s", a.status, a.body)
	}

	// Draft a channel move: it waits for offline signatures.
	if a := e.post("rita", "/releases/promote", url.Values{"version": {"1.0.0"}, "channel": {""}}, true); a.status != http.StatusBadRequest ||
		!strings.Contains(a.body, "give the version and the channel") {
		t.Errorf("promote without a channel: %d\n%s", a.status, a.body)
	}
	if a := e.post("rita", "/releases/promote", url.Values{"version": {"9.9.9"}, "channel": {"stable"}}, true); a.status != http.StatusNotFound {
		t.Errorf("promote an unknown version: %d\n%s", a.status, a.body)
	}
	a = e.post("rita", "/releases/promote", url.Values{"version": {"1.0.0"}, "channel": {"stable"}}, true)
	if a.status != http.StatusOK || !strings.Contains(a.body, "Drafted moving channel stable to 1.0.0") || !strings.Contains(a.body, "vigilctl release sign 1.0.0") {
		t.Fatalf("promote: %d\n%s", a.status, a.body)
	}
	if di, err := e.admin.DraftStatus(ctx, "1.0.0"); err != nil || len(di.Signatures.Valid) != 0 {
		t.Errorf("promote draft: %+v, %v", di, err)
	}
	// Discard needs the box ticked.
	if a := e.post("rita", "/releases/drafts/1.0.0/discard", nil, true); a.status != http.StatusBadRequest || !strings.Contains(a.body, "tick the box") {
		t.Errorf("discard without confirmation: %d\n%s", a.status, a.body)
	}
	if _, err := e.admin.DraftStatus(ctx, "1.0.0"); err != nil {
		t.Fatalf("an unconfirmed discard removed the draft: %v", err)
	}
	if a := e.post("rita", "/releases/drafts/1.0.0/discard", url.Values{"confirm": {"yes"}}, true); a.status != http.StatusOK || !strings.Contains(a.body, "Draft 1.0.0 discarded") {
		t.Errorf("discard: %d\n%s", a.status, a.body)
	}
	if _, err := e.admin.DraftStatus(ctx, "1.0.0"); err == nil {
		t.Errorf("the discarded draft is still there")
	}
	if a := e.post("rita", "/releases/drafts/1.0.0/discard", url.Values{"confirm": {"yes"}}, true); a.status != http.StatusNotFound {
		t.Errorf("discard a draft that is gone: %d", a.status)
	}
	// Renew drafts targets again; admin may too.
	adminCookie := signIn(t, e.hc, e.srv.URL, "admin", e.srv.AdminPassword)
	e.cookies["admin"] = adminCookie
	e.csrf["admin"] = csrfRE.FindStringSubmatch(e.get("admin", "/account").body)[1]
	if a := e.post("admin", "/releases/renew", nil, true); a.status != http.StatusOK || !strings.Contains(a.body, "Drafted a renewal of targets") {
		t.Errorf("renew as admin: %d\n%s", a.status, a.body)
	}
	for action, who := range map[string]string{"draft.publish": "rita", "release.promote": "rita", "draft.discard": "rita", "repo.renew": "admin"} {
		es, err := e.srv.Service().SearchAudit(ctx, admin, server.AuditFilter{Action: action, Actor: who})
		if err != nil || len(es) != 1 || es[0].Address != "127.0.0.1" {
			t.Errorf("audit of %s by %s = %+v, %v", action, who, es, err)
		}
	}
}
