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
	"github.com/vigilhq/vigil/server/app"
	"github.com/vigilhq/vigil/server/tufrepo"
	"github.com/vigilhq/vigil/signing"
)

// TestReleasesPage: before the repository exists the page says so; after, it shows each role's
// expiry (a root expiring within 30 days is warned about, with what to do), a staged draft's
// signatures against the threshold, and once published the version and its channel, which the
// groups page then offers and accepts as a pin without force. A viewer may read it.
func TestReleasesPage(t *testing.T) {
	// The online keys are made before the server starts, outside any request: each costs a
	// deliberately slow key derivation, slower still under the race detector, and a request
	// making them could outlast the server's write timeout on a loaded machine.
	dir := t.TempDir()
	pre, err := tufrepo.Open(tufrepo.Config{DataDir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pre.OnlineKeys(); err != nil {
		t.Fatal(err)
	}
	e := newOpsEnv(t, func(c *app.Config) { c.DataDir = dir })
	ctx := context.Background()
	if p := e.get("vera", "/releases"); p.status != http.StatusOK || !strings.Contains(p.body, "not initialized yet") {
		t.Fatalf("releases page before init: %d\n%s", p.status, p.body)
	}
	keys := map[string]*signing.Key{}
	for _, n := range []string{"root", "alice", "bob"} {
		k, err := signing.Generate("")
		if err != nil {
			t.Fatal(err)
		}
		keys[n] = k
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
		Expires:   time.Now().Add(20 * 24 * time.Hour),
		Root:      release.RoleKeys{Keys: []*metadata.Key{keys["root"].TUFKey()}, Threshold: 1},
		Targets:   release.RoleKeys{Keys: []*metadata.Key{keys["alice"].TUFKey(), keys["bob"].TUFKey()}, Threshold: 2},
		Snapshot:  release.RoleKeys{Keys: tuf(online.Snapshot)},
		Timestamp: release.RoleKeys{Keys: tuf(online.Timestamp)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if root, _, err = release.SignMetadata(ctx, root, keys["root"]); err != nil {
		t.Fatal(err)
	}
	if _, err := e.admin.InitRepo(ctx, root, nil); err != nil {
		t.Fatal(err)
	}
	body := []byte("agent build 1.0.0")
	sum := sha256.Sum256(body)
	art := api.ArtifactInfo{Name: "vigil-agent-linux-amd64", Length: int64(len(body)), SHA256: hex.EncodeToString(sum[:])}
	if err := e.admin.UploadArtifact(ctx, "1.0.0", art, bytes.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.admin.Stage(ctx, "1.0.0", api.StageRequest{Artifacts: []api.ArtifactInfo{art}, Channels: []string{"beta"}}); err != nil {
		t.Fatal(err)
	}
	draft, err := e.admin.Draft(ctx, "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	sign := func(k *signing.Key) {
		t.Helper()
		signed, _, err := release.SignMetadata(ctx, draft, k)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.admin.AddSignatures(ctx, "1.0.0", signed); err != nil {
			t.Fatal(err)
		}
	}
	sign(keys["alice"])
	p := e.get("vera", "/releases")
	drafts := regexp.MustCompile(`(?s)<table id="drafts">.*?</table>`).FindString(p.body)
	roles := regexp.MustCompile(`(?s)<table id="roles">.*?</table>`).FindString(p.body)
	if p.status != http.StatusOK || !strings.Contains(drafts, "1.0.0") || !strings.Contains(drafts, "1 of 2 (1 key yet to sign)") ||
		!strings.Contains(drafts, "waiting for signatures") {
		t.Errorf("drafts with one of two signatures: %d\n%s", p.status, drafts)
	}
	rootRow := regexp.MustCompile(`(?s)<tr class="exp-warn"><td>root</td>.*?</tr>`).FindString(roles)
	if !strings.Contains(rootRow, "expires soon") || !strings.Contains(rootRow, "vigilctl repo rotate-root") || !strings.Contains(rootRow, "in 20 days") ||
		!strings.Contains(p.body, `id="expiry-warning"`) {
		t.Errorf("root expiring in 20 days is not warned about:\n%s", roles)
	}
	sign(keys["bob"])
	if p := e.get("vera", "/releases"); !strings.Contains(p.body, "2 of 2") || !strings.Contains(p.body, "vigilctl release publish 1.0.0") {
		t.Errorf("draft signed to the threshold is not ready:\n%s", p.body)
	}
	if _, err := e.admin.Publish(ctx, "1.0.0"); err != nil {
		t.Fatal(err)
	}
	p = e.get("vera", "/releases")
	channels := regexp.MustCompile(`(?s)<table id="channels">.*?</table>`).FindString(p.body)
	versions := regexp.MustCompile(`(?s)<table id="releases">.*?</table>`).FindString(p.body)
	if !strings.Contains(channels, "<td>beta</td><td>1.0.0</td>") || !strings.Contains(versions, "published") ||
		!strings.Contains(versions, "agent linux-amd64") || !strings.Contains(p.body, "No pending draft") {
		t.Errorf("after publishing:\n%s\n%s", channels, versions)
	}
	// The groups page suggests it and pins to it without force.
	if g := e.get("olga", "/groups"); !strings.Contains(g.body, `<option value="1.0.0">`) || !strings.Contains(g.body, `<option value="beta">`) {
		t.Errorf("pin suggestions lack the published version and channel")
	}
	if a := e.post("olga", "/groups/default/pin", url.Values{"kind": {"channel"}, "target": {"beta"}}, true); a.status != http.StatusOK ||
		!strings.Contains(a.body, "pinned to channel beta") {
		t.Errorf("pin to channel beta: %d\n%s", a.status, a.body)
	}
}
