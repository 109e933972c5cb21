package deploy

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// writeTestRoot writes a TUF root signed by its own (one-key) threshold, as `vigilctl repo init`
// makes one, and returns its path.
func writeTestRoot(t *testing.T) string {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, err := metadata.KeyFromPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	root := metadata.Root(time.Now().Add(365 * 24 * time.Hour))
	for _, role := range []string{metadata.ROOT, metadata.TARGETS, metadata.SNAPSHOT, metadata.TIMESTAMP} {
		if err := root.Signed.AddKey(key, role); err != nil {
			t.Fatal(err)
		}
	}
	signer, err := signature.LoadED25519Signer(priv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := root.Sign(signer); err != nil {
		t.Fatal(err)
	}
	data, err := root.ToBytes(true)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "root.json")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// releaseBuild runs deploy/release-artifacts.sh with env added to the environment.
func releaseBuild(t *testing.T, env ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("./release-artifacts.sh")
	cmd.Env = append(os.Environ(), "ROOT=", "ALLOW_NO_ROOT=", "VIGIL_TRUSTED_ROOT=")
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestReleaseNeedsRoot: a release build without ROOT fails before building anything, and says what
// to pass, where the root comes from, and that ALLOW_NO_ROOT is unsafe.
func TestReleaseNeedsRoot(t *testing.T) {
	out, err := releaseBuild(t, "VERSION=1.2.3", "OUT="+t.TempDir())
	if err == nil {
		t.Fatalf("a release build without ROOT succeeded:\n%s", out)
	}
	for _, want := range []string{"ROOT=path/to/root.json", "vigilctl repo status", "trusted-root.json", "ALLOW_NO_ROOT=1", "UNSAFE"} {
		if !strings.Contains(out, want) {
			t.Errorf("message lacks %q:\n%s", want, out)
		}
	}
}

// TestReleaseBadRoot: a ROOT that is not a self-signed TUF root fails the build.
func TestReleaseBadRoot(t *testing.T) {
	if testing.Short() {
		t.Skip("builds vigil-updater; skipped under -short")
	}
	bad := filepath.Join(t.TempDir(), "root.json")
	if err := os.WriteFile(bad, []byte(`{"signed":{"_type":"targets"},"signatures":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := releaseBuild(t, "VERSION=1.2.3", "OUT="+t.TempDir(), "ROOT="+bad)
	if err == nil || !strings.Contains(out, "does not check out") {
		t.Fatalf("a bad root was accepted (err %v):\n%s", err, out)
	}
}

// TestReleaseReproducible builds the linux/amd64 release twice, into two directories (with a cold
// build cache the second time when VIGIL_TEST_REPRO_COLD is set), and requires byte-identical
// files with the root embedded. One architecture keeps
// the test's time down: arm64 uses the same flags. amd64 is the one the build machines can run,
// so the script's self-check of the artifact runs too.
func TestReleaseReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("builds release binaries twice; skipped under -short")
	}
	root := writeTestRoot(t)
	var dirs [2]string
	for i := range dirs {
		dirs[i] = t.TempDir()
		env := []string{"VERSION=1.2.3", "ARCHES=amd64", "ROOT=" + root, "OUT=" + dirs[i]}
		if i == 1 && os.Getenv("VIGIL_TEST_REPRO_COLD") != "" {
			// A cold cache: the second build compiles everything again, so a nondeterministic
			// compile shows, not only a nondeterministic link or stamp. It takes minutes on a
			// busy 2-core machine, so CI shares the cache (release engineers comparing their
			// builds on two machines are the cold-cache check that matters).
			env = append(env, "GOCACHE="+t.TempDir())
		}
		start := time.Now()
		out, err := releaseBuild(t, env...)
		if err != nil {
			t.Fatalf("build %d: %v\n%s", i+1, err, out)
		}
		t.Logf("build %d took %v:\n%s", i+1, time.Since(start).Round(time.Second), out)
		if !strings.Contains(out, "trusted root ok") {
			t.Errorf("build %d did not report the embedded root:\n%s", i+1, out)
		}
	}
	for _, name := range []string{"vigil-agent-linux-amd64", "vigil-updater-linux-amd64", "SHA256SUMS"} {
		a, err := os.ReadFile(filepath.Join(dirs[0], name))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dirs[1], name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between two builds of the same source", name)
		}
	}
	// Static: no program interpreter (dynamic loader) and no shared libraries.
	for _, name := range []string{"vigil-agent-linux-amd64", "vigil-updater-linux-amd64"} {
		f, err := elf.Open(filepath.Join(dirs[0], name))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
				t.Errorf("%s is dynamically linked (%v)", name, p.Type)
			}
		}
		if f.Machine != elf.EM_X86_64 {
			t.Errorf("%s is for %v, want x86-64", name, f.Machine)
		}
		f.Close()
	}
	// The embedded root is, byte for byte, the one given as ROOT.
	data, err := os.ReadFile(root)
	if err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(filepath.Join(dirs[0], "vigil-updater-linux-amd64"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(bin, data) {
		t.Error("vigil-updater does not contain the root given as ROOT")
	}
}
