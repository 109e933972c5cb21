package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/vigilhq/vigil/release"
	"github.com/vigilhq/vigil/signing"
)

// TestSignRefusesForgedRoot: a server (here a proxy in front of the real one) that hands out a
// root version 2 of its own making, with its key as root and targets key, gets neither a
// signature nor a rotation from vigilctl, which verifies roots from its trusted root file.
func TestSignRefusesForgedRoot(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server and derives key-file keys (scrypt); skipped with -short")
	}
	startServer(t)
	t.Setenv("VIGIL_KEY_PASSPHRASE", "forged-root-passphrase")
	dir := t.TempDir()
	key := func(name string) string { return filepath.Join(dir, name) }
	mustCtl := func(args ...string) {
		t.Helper()
		if code, out, errOut := ctl(t, args...); code != 0 {
			t.Fatalf("vigilctl %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
		}
	}
	for _, k := range []string{"root", "alice"} {
		mustCtl("keys", "gen", "--out", key(k))
	}
	mustCtl("repo", "init", "--root-key", key("root"), "--root-threshold", "1", "--targets-key", key("alice"), "--targets-threshold", "1")
	trustedPath := os.Getenv("VIGIL_TRUSTED_ROOT")
	trusted, err := os.ReadFile(trustedPath)
	if err != nil {
		t.Fatalf("repo init did not write the trusted root: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "vigil-agent-linux-amd64"), []byte("agent 1.0.0"), 0o755)
	mustCtl("release", "stage", "1.0.0", filepath.Join(dir, "vigil-agent-linux-amd64"))

	// The forgery: root version 2 keeping the online keys and alice, but with mallory as the
	// only root key and a targets key, signed by mallory alone.
	mallory, err := signing.Generate(signing.KeyTypeED25519)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := release.RootSpecOf(trusted)
	if err != nil {
		t.Fatal(err)
	}
	spec.Version = 2
	spec.Root = release.RoleKeys{Keys: []*metadata.Key{mallory.TUFKey()}, Threshold: 1}
	spec.Targets.Keys = append(spec.Targets.Keys, mallory.TUFKey())
	forged, err := release.BuildRoot(spec)
	if err != nil {
		t.Fatal(err)
	}
	if forged, _, err = release.SignMetadata(context.Background(), forged, mallory); err != nil {
		t.Fatal(err)
	}

	realSrv, err := url.Parse(os.Getenv("VIGIL_SERVER"))
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(realSrv)
	rp.Transport = tufHTTPClient(t, os.Getenv("VIGIL_CA")).Transport
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/repo/root", "/tuf/metadata/root.json", "/tuf/metadata/2.root.json":
			w.Header().Set("Content-Type", "application/json")
			w.Write(forged)
		default:
			rp.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(proxy.Close)
	realURL := os.Getenv("VIGIL_SERVER")
	t.Setenv("VIGIL_SERVER", proxy.URL)

	code, _, errOut := ctl(t, "release", "sign", "1.0.0", "--key", key("alice"), "--yes")
	if code == 0 || !strings.Contains(errOut, "does not verify against your trusted root") {
		t.Fatalf("release sign against a forged root: exit %d\n%s", code, errOut)
	}
	code, _, errOut = ctl(t, "repo", "rotate-root", "--key", key("root"))
	if code == 0 || !strings.Contains(errOut, "does not verify against your trusted root") {
		t.Fatalf("repo rotate-root on a forged root: exit %d\n%s", code, errOut)
	}
	if now, _ := os.ReadFile(trustedPath); string(now) != string(trusted) {
		t.Fatal("the trusted root file changed")
	}

	// The real server: nothing was signed or rotated, and signing works.
	t.Setenv("VIGIL_SERVER", realURL)
	code, out, errOut := ctl(t, "release", "status", "1.0.0")
	if code != 0 || !strings.Contains(out, "Signatures: 0 of 1") {
		t.Fatalf("release status after the refusal: exit %d\n%s%s", code, out, errOut)
	}
	mustCtl("release", "sign", "1.0.0", "--key", key("alice"), "--yes")

	// Without a trusted root file: refused with directions, unless explicitly insecure.
	t.Setenv("VIGIL_TRUSTED_ROOT", filepath.Join(dir, "missing", "trusted-root.json"))
	code, _, errOut = ctl(t, "release", "sign", "1.0.0", "--key", key("alice"), "--yes")
	if code == 0 || !strings.Contains(errOut, "no trusted root at") || !strings.Contains(errOut, "--insecure-trust-server-root") {
		t.Fatalf("release sign without a trusted root: exit %d\n%s", code, errOut)
	}
	code, _, errOut = ctl(t, "--insecure-trust-server-root", "release", "sign", "1.0.0", "--key", key("alice"), "--yes")
	if code != 0 || !strings.Contains(errOut, "WARNING: --insecure-trust-server-root") {
		t.Fatalf("release sign --insecure-trust-server-root: exit %d\n%s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "missing")); !os.IsNotExist(err) {
		t.Fatal("--insecure-trust-server-root wrote a trusted root")
	}
}
