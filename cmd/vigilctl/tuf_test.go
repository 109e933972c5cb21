package main

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/fetcher"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"

	"github.com/vigilhq/vigil/release"
	"github.com/vigilhq/vigil/signing"
)

// TestGoTUFClientRoundTrip: a repository made by vigilctl and served by vigil-server refreshes
// and downloads with go-tuf's stock updater, and the client follows a root rotation that
// revokes a targets key. It also checks the /tuf/ cache headers and the 404 for the next root.
func TestGoTUFClientRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server and derives many key-file keys (scrypt); skipped with -short")
	}
	startServer(t)
	t.Setenv("VIGIL_KEY_PASSPHRASE", "round-trip-passphrase")
	dir := t.TempDir()
	key := func(name string) string { return filepath.Join(dir, name) }
	mustCtl := func(args ...string) string {
		t.Helper()
		code, out, errOut := ctl(t, args...)
		if code != 0 {
			t.Fatalf("vigilctl %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
		}
		return out
	}
	for _, k := range []string{"root", "alice", "bob", "carol"} {
		mustCtl("keys", "gen", "--out", key(k))
	}
	// Root only at init (targets keys as .pub files): the first publish creates targets.
	mustCtl("repo", "init", "--root-key", key("root"), "--root-threshold", "1",
		"--targets-key", key("alice")+".pub", "--targets-key", key("bob")+".pub", "--targets-threshold", "2")

	base := os.Getenv("VIGIL_SERVER")
	hc := tufHTTPClient(t, os.Getenv("VIGIL_CA"))

	// Before the first publish there is no timestamp: clients cannot refresh yet.
	if resp := get(t, hc, base+"/tuf/metadata/timestamp.json", ""); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("timestamp before the first publish: %d", resp.StatusCode)
	}

	agent := []byte("#!/bin/sh\necho vigil-agent 1.2.3\n")
	dist := filepath.Join(dir, "dist")
	os.MkdirAll(dist, 0o755)
	os.WriteFile(filepath.Join(dist, "vigil-agent-linux-amd64"), agent, 0o755)
	os.WriteFile(filepath.Join(dist, "vigil-agent-linux-arm64"), []byte("arm64 build"), 0o755)
	mustCtl("release", "stage", "1.2.3", filepath.Join(dist, "vigil-agent-linux-amd64"), filepath.Join(dist, "vigil-agent-linux-arm64"), "--channel", "stable")
	mustCtl("release", "sign", "1.2.3", "--key", key("alice"), "--yes")
	mustCtl("release", "sign", "1.2.3", "--key", key("bob"), "--yes")
	mustCtl("release", "publish", "1.2.3")

	rootV1 := readAll(t, get(t, hc, base+"/tuf/metadata/1.root.json", ""))
	metaDir := t.TempDir()
	newUpdater := func() *updater.Updater {
		t.Helper()
		cfg, err := config.New(base+"/tuf/metadata", rootV1)
		if err != nil {
			t.Fatal(err)
		}
		cfg.RemoteTargetsURL = base + "/tuf/targets"
		cfg.LocalMetadataDir = metaDir
		cfg.LocalTargetsDir = t.TempDir()
		// Not NewFetcherWithHTTPClient: it drops the default single try, and a 404 for the next
		// root would then be retried with backoff for minutes.
		f := fetcher.NewDefaultFetcher()
		f.SetHTTPClient(hc)
		cfg.Fetcher = f
		up, err := updater.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := up.Refresh(); err != nil {
			t.Fatalf("go-tuf Refresh: %v", err)
		}
		return up
	}
	up := newUpdater()
	ti, err := up.GetTargetInfo("vigil-agent/1.2.3/linux-amd64")
	if err != nil {
		t.Fatalf("GetTargetInfo: %v", err)
	}
	_, data, err := up.DownloadTarget(ti, filepath.Join(t.TempDir(), "agent"), "")
	if err != nil {
		t.Fatalf("DownloadTarget: %v", err)
	}
	if !bytes.Equal(data, agent) {
		t.Fatalf("downloaded %q, want %q", data, agent)
	}
	targets := up.GetTrustedMetadataSet().Targets["targets"]
	if v, ok := release.ChannelVersion(&targets.Signed, release.BinaryAgent, "stable"); !ok || v != "1.2.3" {
		t.Fatalf("stable channel = %q %v, want 1.2.3", v, ok)
	}

	// Cache headers and content types.
	sum := sha256.Sum256(agent)
	blob := "/tuf/targets/vigil-agent/1.2.3/" + hex.EncodeToString(sum[:]) + ".linux-amd64"
	for _, tt := range []struct {
		path, cache, ctype string
	}{
		{"/tuf/metadata/timestamp.json", "no-store", "application/json"},
		{"/tuf/metadata/root.json", "no-cache", "application/json"},
		{"/tuf/metadata/1.root.json", "public, max-age=31536000, immutable", "application/json"},
		{"/tuf/metadata/1.targets.json", "public, max-age=31536000, immutable", "application/json"},
		{"/tuf/metadata/1.snapshot.json", "public, max-age=31536000, immutable", "application/json"},
		{blob, "public, max-age=31536000, immutable", "application/octet-stream"},
	} {
		resp := get(t, hc, base+tt.path, "")
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != tt.cache || resp.Header.Get("Content-Type") != tt.ctype {
			t.Errorf("GET %s: %d Cache-Control %q Content-Type %q, want 200 %q %q", tt.path, resp.StatusCode,
				resp.Header.Get("Cache-Control"), resp.Header.Get("Content-Type"), tt.cache, tt.ctype)
		}
	}
	// Range requests on targets (clients resume downloads).
	resp := get(t, hc, base+blob, "bytes=2-5")
	if got := readAll(t, resp); resp.StatusCode != http.StatusPartialContent || string(got) != string(agent[2:6]) {
		t.Fatalf("range request: %d %q", resp.StatusCode, got)
	}
	// The next root does not exist yet (clients probe it), drafts and anything else are not served.
	for _, p := range []string{
		"/tuf/metadata/2.root.json", "/tuf/metadata/1.2.3.targets.json", "/tuf/metadata/..%2fdrafts%2frenew.targets.json",
		"/tuf/targets/..%2fmetadata%2froot.json", "/tuf/targets/vigil-agent/1.2.3/linux-amd64", "/tuf/drafts/1.2.3.targets.json",
	} {
		if resp := get(t, hc, base+p, ""); resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMovedPermanently {
			t.Errorf("GET %s: %d, want 404", p, resp.StatusCode)
		}
	}
	if resp := get(t, hc, base+"/tuf/metadata/2.root.json", ""); resp.StatusCode != http.StatusNotFound || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("next root: %d %q, want an uncached 404", resp.StatusCode, resp.Header.Get("Cache-Control"))
	}

	// Revoke bob, add carol: root version 2, and targets re-signed by the new targets keys.
	mustCtl("repo", "rotate-root", "--remove-targets-key", key("bob"), "--add-targets-key", key("carol"),
		"--key", key("root"), "--key", key("alice"), "--key", key("carol"))
	if resp := get(t, hc, base+"/tuf/metadata/2.root.json", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("2.root.json after rotation: %d", resp.StatusCode)
	}
	if trusted, err := os.ReadFile(os.Getenv("VIGIL_TRUSTED_ROOT")); err != nil {
		t.Fatal(err)
	} else if spec, err := release.RootSpecOf(trusted); err != nil || spec.Version != 2 {
		t.Fatalf("trusted root file after rotation: version %d, %v; want 2", spec.Version, err)
	}
	up = newUpdater() // same metadata dir: trusts root 1 and walks to root 2
	if v := up.GetTrustedMetadataSet().Root.Signed.Version; v != 2 {
		t.Fatalf("client root version %d after rotation, want 2", v)
	}
	tm := up.GetTrustedMetadataSet().Targets["targets"]
	if tm.Signed.Version != 2 {
		t.Fatalf("client targets version %d after rotation, want 2 (re-signed)", tm.Signed.Version)
	}
	bobID := keyIDOfFile(t, key("bob")+".pub")
	for _, s := range tm.Signatures {
		if s.KeyID == bobID {
			t.Fatal("targets still carry the revoked key's signature")
		}
	}
	// The revoked key can no longer sign.
	mustCtl("release", "promote", "1.2.3", "beta")
	if code, _, errOut := ctl(t, "release", "sign", "1.2.3", "--key", key("bob"), "--yes"); code == 0 || !strings.Contains(errOut, "not a targets key of root version 2") {
		t.Fatalf("revoked key signs: %d %s", code, errOut)
	}
}

func keyIDOfFile(t *testing.T, path string) string {
	t.Helper()
	k, err := signing.LoadPublicKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return keyID(k)
}

func tufHTTPClient(t *testing.T, caFile string) *http.Client {
	t.Helper()
	pemData, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemData)
	return &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
		// Report redirects instead of following them (a cleaned ".." path is redirected).
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func get(t *testing.T, hc *http.Client, url, rng string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func readAll(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
