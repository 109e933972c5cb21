package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/apiclient"
	"github.com/vigilhq/vigil/release"
	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/rollout"
	"github.com/vigilhq/vigil/server/sqlitestore"
	"github.com/vigilhq/vigil/server/tufrepo"
	"github.com/vigilhq/vigil/signing"
)

// releaseEnv is an API over a SQLite store and a release repository in temporary directories,
// with a client per role.
type releaseEnv struct {
	svc                *server.Service
	api                *API
	repo               *tufrepo.Repository
	admin, rel, viewer *apiclient.Client
	// base, hc and the tokens are for raw requests the client does not make.
	base                        string
	hc                          *http.Client
	adminTok, relTok, viewerTok string
	rootKey, alice, bob, mk     *signing.Key
}

func newReleaseEnv(t testing.TB, withRepo bool) *releaseEnv {
	t.Helper()
	return newReleaseEnvWith(t, withRepo, nil)
}

// newReleaseEnvWith is newReleaseEnv over an HTTP server that tune adjusts (timeouts, TLS with
// HTTP/2) before it starts.
func newReleaseEnvWith(t testing.TB, withRepo bool, tune func(*httptest.Server)) *releaseEnv {
	t.Helper()
	return newReleaseEnvRepo(t, withRepo, tune, nil)
}

// newReleaseEnvRepo is newReleaseEnvWith with the release repository's configuration adjusted
// by repoCfg.
func newReleaseEnvRepo(t testing.TB, withRepo bool, tune func(*httptest.Server), repoCfg func(*tufrepo.Config)) *releaseEnv {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlitestore.Open(ctx, filepath.Join(dir, "vigil.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	rm, err := rollout.NewManager(rollout.Config{Store: st, Fleet: st, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := server.New(server.Config{Store: st, Logger: log, Stager: rm})
	if err != nil {
		t.Fatal(err)
	}
	e := &releaseEnv{svc: svc}
	// Authorization tests send hundreds of bad credentials from one address; the brute-force
	// limits have their own tests (bruteforce_test.go).
	cfg := Config{Service: svc, Logger: log, FailureBurst: 1e6, Rollouts: rm}
	if withRepo {
		rc := tufrepo.Config{DataDir: dir, Logger: log}
		if repoCfg != nil {
			repoCfg(&rc)
		}
		if e.repo, err = tufrepo.Open(rc); err != nil {
			t.Fatal(err)
		}
		cfg.Releases = e.repo
	}
	if e.api, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(e.api)
	if tune != nil {
		tune(hs)
	}
	if hs.TLS != nil || hs.EnableHTTP2 {
		hs.StartTLS()
	} else {
		hs.Start()
	}
	t.Cleanup(hs.Close)
	boot := server.Principal{Name: "test", Role: server.RoleAdmin}
	e.base, e.hc = hs.URL, hs.Client()
	client := func(role string, tok *string) *apiclient.Client {
		secret, _, err := svc.CreateAPIToken(ctx, boot, role+"-token", role)
		if err != nil {
			t.Fatal(err)
		}
		*tok = secret
		return apiclient.New(hs.URL, secret, hs.Client())
	}
	e.admin, e.rel, e.viewer = client(server.RoleAdmin, &e.adminTok), client(server.RoleRelease, &e.relTok), client(server.RoleViewer, &e.viewerTok)
	for _, k := range []**signing.Key{&e.rootKey, &e.alice, &e.bob, &e.mk} {
		if *k, err = signing.Generate(""); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// initRepo creates the repository: root key rootKey, targets keys alice and bob, threshold 2.
func (e *releaseEnv) initRepo(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	online, err := e.viewer.OnlineKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	root, err := release.BuildRoot(release.RootSpec{
		Root:      release.RoleKeys{Keys: []*metadata.Key{e.rootKey.TUFKey()}, Threshold: 1},
		Targets:   release.RoleKeys{Keys: []*metadata.Key{e.alice.TUFKey(), e.bob.TUFKey()}, Threshold: 2},
		Snapshot:  release.RoleKeys{Keys: tufKeys(online.Snapshot)},
		Timestamp: release.RoleKeys{Keys: tufKeys(online.Timestamp)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if root, _, err = release.SignMetadata(ctx, root, e.rootKey); err != nil {
		t.Fatal(err)
	}
	if _, err := e.rel.InitRepo(ctx, root, nil); !apiclient.IsCode(err, api.CodeForbidden) {
		t.Fatalf("init by a release token: %v, want forbidden", err)
	}
	st, err := e.admin.InitRepo(ctx, root, nil)
	if err != nil || !st.Initialized {
		t.Fatalf("init: %+v %v", st, err)
	}
}

func (e *releaseEnv) stage(t testing.TB, version string, body []byte) {
	t.Helper()
	ctx := context.Background()
	sum := sha256.Sum256(body)
	a := api.ArtifactInfo{Name: "vigil-agent-linux-amd64", Length: int64(len(body)), SHA256: hex.EncodeToString(sum[:])}
	if err := e.rel.UploadArtifact(ctx, version, a, bytes.NewReader(body)); err != nil {
		t.Fatalf("upload: %v", err)
	}
	if _, err := e.rel.Stage(ctx, version, api.StageRequest{Artifacts: []api.ArtifactInfo{a}, Channels: []string{"beta"}}); err != nil {
		t.Fatalf("stage: %v", err)
	}
}

func TestReleaseRolesAndErrors(t *testing.T) {
	e := newReleaseEnv(t, true)
	ctx := context.Background()

	if _, err := e.viewer.Stage(ctx, "1.0.0", api.StageRequest{}); !apiclient.IsCode(err, api.CodeForbidden) {
		t.Fatalf("stage by a viewer: %v, want forbidden", err)
	}
	if _, err := e.rel.Stage(ctx, "1.0.0", api.StageRequest{Artifacts: []api.ArtifactInfo{{Name: "vigil-agent-linux-amd64", Length: 1, SHA256: strings.Repeat("0", 64)}}}); !apiclient.IsCode(err, api.CodeNotInitialized) {
		t.Fatalf("stage before init: %v, want %s", err, api.CodeNotInitialized)
	}
	if _, err := e.viewer.Root(ctx); !apiclient.IsCode(err, api.CodeNotInitialized) {
		t.Fatalf("root before init: %v", err)
	}
	if st, err := e.viewer.RepoStatus(ctx); err != nil || st.Initialized {
		t.Fatalf("status before init: %+v %v", st, err)
	}
	// An upload before the repository exists is refused, and says what to do.
	early := []byte("early build")
	esum := sha256.Sum256(early)
	err := e.rel.UploadArtifact(ctx, "1.0.0", api.ArtifactInfo{Name: "vigil-agent-linux-amd64", Length: int64(len(early)), SHA256: hex.EncodeToString(esum[:])}, bytes.NewReader(early))
	if !apiclient.IsCode(err, api.CodeNotInitialized) || !strings.Contains(err.Error(), "vigilctl repo init") {
		t.Fatalf("upload before init: %v, want %s saying to run vigilctl repo init", err, api.CodeNotInitialized)
	}
	e.initRepo(t)
	if tg, err := e.viewer.Targets(ctx); err != nil || tg != nil {
		t.Fatalf("targets before the first publish: %q %v", tg, err)
	}

	// Uploads: checked length and sha256, header required.
	body := []byte("agent build")
	bad := api.ArtifactInfo{Name: "vigil-agent-linux-amd64", Length: int64(len(body)), SHA256: strings.Repeat("ab", 32)}
	if err := e.rel.UploadArtifact(ctx, "1.0.0", bad, bytes.NewReader(body)); !apiclient.IsCode(err, api.CodeBlobMismatch) {
		t.Fatalf("upload with a wrong sha256: %v, want %s", err, api.CodeBlobMismatch)
	}
	if err := e.rel.UploadArtifact(ctx, "1.0.0", api.ArtifactInfo{Name: "vigil-agent-linux-amd64", Length: int64(len(body))}, bytes.NewReader(body)); !apiclient.IsCode(err, api.CodeInvalid) {
		t.Fatalf("upload without %s: %v", api.HeaderSHA256, err)
	}
	if err := e.rel.UploadArtifact(ctx, "1.0.0", api.ArtifactInfo{Name: "agent.exe", Length: 1, SHA256: strings.Repeat("ab", 32)}, strings.NewReader("x")); !apiclient.IsCode(err, api.CodeInvalid) {
		t.Fatalf("upload with a bad name: %v", err)
	}
	e.stage(t, "1.0.0", body)
	if _, err := e.rel.Stage(ctx, "1.0.0", api.StageRequest{Artifacts: []api.ArtifactInfo{bad}}); !apiclient.IsCode(err, api.CodeDraftPending) {
		t.Fatalf("stage twice: %v", err)
	}

	// Signatures: unknown key and bad signature refused, publish refused below threshold.
	draft, err := e.viewer.Draft(ctx, "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	signed, sig, err := release.SignMetadata(ctx, draft, e.mk)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.rel.AddSignatures(ctx, "1.0.0", signed); !apiclient.IsCode(err, api.CodeUnknownKey) {
		t.Fatalf("signature by a key not in root: %v, want %s", err, api.CodeUnknownKey)
	}
	_, good, err := release.SignMetadata(ctx, draft, e.alice)
	if err != nil {
		t.Fatal(err)
	}
	forged := api.Signature{KeyID: good.KeyID, Sig: sig.Signature.String()}
	if _, err := e.rel.AddSignature(ctx, "1.0.0", forged); !apiclient.IsCode(err, api.CodeBadSignature) {
		t.Fatalf("bad signature: %v, want %s", err, api.CodeBadSignature)
	}
	if _, err := e.viewer.AddSignature(ctx, "1.0.0", apiSig(good)); !apiclient.IsCode(err, api.CodeForbidden) {
		t.Fatalf("signature upload by a viewer: %v", err)
	}
	di, err := e.rel.AddSignature(ctx, "1.0.0", apiSig(good))
	if err != nil || len(di.Signatures.Valid) != 1 {
		t.Fatalf("alice's signature: %+v %v", di.Signatures, err)
	}
	if _, err := e.rel.Publish(ctx, "1.0.0"); !apiclient.IsCode(err, api.CodeThresholdNotMet) {
		t.Fatalf("publish with 1 of 2: %v, want %s", err, api.CodeThresholdNotMet)
	}
	signed, _, err = release.SignMetadata(ctx, draft, e.bob)
	if err != nil {
		t.Fatal(err)
	}
	if di, err = e.rel.AddSignatures(ctx, "1.0.0", signed); err != nil || len(di.Signatures.Valid) < di.Signatures.Threshold {
		t.Fatalf("bob's signature: %+v %v", di.Signatures, err)
	}
	if _, err := e.rel.Publish(ctx, "1.0.0"); err != nil {
		t.Fatalf("publish: %v", err)
	}
	rs, err := e.viewer.Releases(ctx)
	if err != nil || len(rs) != 1 || !rs[0].Published || rs[0].Channels[0] != "beta" {
		t.Fatalf("releases: %+v %v", rs, err)
	}
	if _, err := e.rel.Promote(ctx, "9.9.9", "stable"); !apiclient.IsCode(err, api.CodeUnknownRelease) {
		t.Fatalf("promote an unknown release: %v", err)
	}
	if _, err := e.rel.Publish(ctx, "1.0.0"); !apiclient.IsCode(err, api.CodeNoDraft) {
		t.Fatalf("publish again: %v", err)
	}

	// Every change was audited.
	audit, err := e.admin.ListAudit(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, a := range audit {
		actions = append(actions, a.Action)
	}
	got := strings.Join(actions, " ")
	for _, want := range []string{"repo.init", "release.upload", "release.stage", "draft.sign", "draft.publish"} {
		if !strings.Contains(got, want) {
			t.Errorf("audit log %q lacks %s", got, want)
		}
	}
}

func TestReleaseUploadNeedsLength(t *testing.T) {
	e := newReleaseEnv(t, true)
	e.initRepo(t)
	req, err := http.NewRequest(http.MethodPut, e.base+"/api/v1/releases/1.0.0/artifacts/vigil-agent-linux-amd64", io.NopCloser(strings.NewReader("x")))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = -1
	req.Header.Set("Authorization", "Bearer "+e.relTok)
	req.Header.Set(api.HeaderSHA256, strings.Repeat("ab", 32))
	resp, err := e.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusLengthRequired {
		t.Fatalf("chunked upload: %d, want 411", resp.StatusCode)
	}
}

func TestReleaseWithoutRepository(t *testing.T) {
	e := newReleaseEnv(t, false)
	if _, err := e.viewer.RepoStatus(context.Background()); !apiclient.IsCode(err, api.CodeNotFound) {
		t.Fatalf("status without a repository: %v, want not_found", err)
	}
}

func TestReleaseErrorMapping(t *testing.T) {
	for _, e := range releaseErrors {
		if e.status < 400 || e.code == "" {
			t.Errorf("%v maps to %d %q", e.err, e.status, e.code)
		}
	}
	rec := httptest.NewRecorder()
	a := &API{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	a.writeReleaseError(rec, httptest.NewRequest(http.MethodGet, "/", nil), release.ErrExpired)
	if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), api.CodeExpired) {
		t.Fatalf("ErrExpired: %d %s", rec.Code, rec.Body)
	}
}

// slowReader yields its data in pieces with a pause before each, like a large build over a
// slow link.
type slowReader struct {
	data  []byte
	piece int
	pause time.Duration
}

func (r *slowReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	time.Sleep(r.pause)
	n := copy(p[:min(len(p), r.piece)], r.data)
	r.data = r.data[n:]
	return n, nil
}

// TestReleaseUploadOutlastsServerTimeouts: an upload that takes longer than the server's read
// and write timeouts (60 s in vigil-server; a 512 MiB build over a slow link takes minutes)
// still gets its answer, over HTTP/1.1 and HTTP/2.
func TestReleaseUploadOutlastsServerTimeouts(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("http2=%v", h2), func(t *testing.T) {
			e := newReleaseEnvWith(t, true, func(hs *httptest.Server) {
				hs.Config.ReadTimeout, hs.Config.WriteTimeout = 300*time.Millisecond, 300*time.Millisecond
				hs.EnableHTTP2 = h2
			})
			if _, err := e.repo.OnlineKeys(); err != nil { // their slow generation is not what this tests
				t.Fatal(err)
			}
			e.initRepo(t)
			body := bytes.Repeat([]byte("build "), 1000)
			sum := sha256.Sum256(body)
			a := api.ArtifactInfo{Name: "vigil-agent-linux-amd64", Length: int64(len(body)), SHA256: hex.EncodeToString(sum[:])}
			slow := &slowReader{data: body, piece: len(body) / 8, pause: 100 * time.Millisecond}
			if err := e.rel.UploadArtifact(t.Context(), "1.0.0", a, slow); err != nil {
				t.Fatalf("slow upload: %v", err)
			}
			if _, err := e.rel.Stage(t.Context(), "1.0.0", api.StageRequest{Artifacts: []api.ArtifactInfo{a}}); err != nil {
				t.Fatalf("stage the slowly uploaded build: %v", err)
			}
		})
	}
}

// tufKeys turns the contract's keys into go-tuf's, as vigilctl does.
func tufKeys(ks []api.Key) []*metadata.Key {
	out := make([]*metadata.Key, len(ks))
	for i, k := range ks {
		out[i] = &metadata.Key{Type: k.Type, Scheme: k.Scheme, Value: metadata.KeyVal{PublicKey: k.Value.Public}}
	}
	return out
}

// apiSig is a go-tuf signature as the contract sends it.
func apiSig(s metadata.Signature) api.Signature {
	return api.Signature{KeyID: s.KeyID, Sig: s.Signature.String()}
}

// TestReleaseUploadQuota: over the per-build limit 413 too_large, over the staging quota 413
// staging_full; an uploaded build is not served under /tuf/targets/ until published, and a
// discarded draft gives its room back.
func TestReleaseUploadQuota(t *testing.T) {
	e := newReleaseEnvRepo(t, true, nil, func(c *tufrepo.Config) { c.MaxBlobBytes, c.MaxStagedBytes = 16, 32 })
	ctx := context.Background()
	e.initRepo(t)
	tuf := httptest.NewServer(e.repo.Handler())
	defer tuf.Close()
	upload := func(version, name, body string) error {
		sum := sha256.Sum256([]byte(body))
		return e.rel.UploadArtifact(ctx, version, api.ArtifactInfo{Name: name, Length: int64(len(body)), SHA256: hex.EncodeToString(sum[:])}, strings.NewReader(body))
	}
	if err := upload("1.0.0", "vigil-agent-linux-amd64", strings.Repeat("x", 17)); !apiclient.IsCode(err, api.CodeTooLarge) {
		t.Fatalf("17 bytes over a 16-byte limit: %v, want %s", err, api.CodeTooLarge)
	}
	body := strings.Repeat("a", 16)
	if err := upload("1.0.0", "vigil-agent-linux-amd64", body); err != nil {
		t.Fatal(err)
	}
	if err := upload("1.0.0", "vigil-agent-linux-arm64", strings.Repeat("b", 16)); err != nil {
		t.Fatal(err)
	}
	err := upload("1.0.0", "vigil-updater-linux-amd64", strings.Repeat("c", 16))
	if !apiclient.IsCode(err, api.CodeStagingFull) || !strings.Contains(err.Error(), "--release-max-staged-bytes") {
		t.Fatalf("upload over the staging quota: %v, want %s naming the setting", err, api.CodeStagingFull)
	}
	sum := sha256.Sum256([]byte(body))
	resp, err := http.Get(tuf.URL + "/tuf/targets/vigil-agent/1.0.0/" + hex.EncodeToString(sum[:]) + ".linux-amd64")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("an uploaded, unpublished build is served: %d", resp.StatusCode)
	}
	a := api.ArtifactInfo{Name: "vigil-agent-linux-amd64", Length: 16, SHA256: hex.EncodeToString(sum[:])}
	bsum := sha256.Sum256([]byte(strings.Repeat("b", 16)))
	b := api.ArtifactInfo{Name: "vigil-agent-linux-arm64", Length: 16, SHA256: hex.EncodeToString(bsum[:])}
	if _, err := e.rel.Stage(ctx, "1.0.0", api.StageRequest{Artifacts: []api.ArtifactInfo{a, b}}); err != nil {
		t.Fatal(err)
	}
	if err := e.rel.Discard(ctx, "1.0.0"); err != nil {
		t.Fatal(err)
	}
	if err := upload("1.0.0", "vigil-updater-linux-amd64", strings.Repeat("c", 16)); err != nil {
		t.Fatalf("upload after discarding the draft: %v", err)
	}
}
