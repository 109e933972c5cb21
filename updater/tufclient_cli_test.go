package updater_test

import (
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/vigilhq/vigil/updater/internal/tuftest"
)

// TestTUFClientCLI runs the built vigil-tuf-client as the tuf-conformance suite does: init,
// refresh, download (twice: cached), a missing target, and a refresh under faketime +2d.
func TestTUFClientCLI(t *testing.T) {
	buildAll(t)
	bin := binPath("vigil-tuf-client")
	repo := tuftest.New(t)
	repo.AddTarget("dir/artifact.txt", []byte("hello"), tuftest.Custom{Version: "1.0.0"})
	repo.Publish()
	srv := httptest.NewServer(repo.Handler())
	defer srv.Close()
	work := t.TempDir()
	md, td := filepath.Join(work, "metadata"), filepath.Join(work, "targets")
	os.Mkdir(md, 0o755)
	os.Mkdir(td, 0o755)
	rootFile := filepath.Join(work, "initial_root.json")
	os.WriteFile(rootFile, repo.RootJSON(1), 0o644)
	faketime := ""
	cli := func(args ...string) int {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "FAKETIME="+faketime)
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			t.Logf("%v: exit %d: %s", args, ee.ExitCode(), out)
			return ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return 0
	}
	murl, turl := srv.URL+"/tuf/metadata", srv.URL+"/tuf/targets"
	if cli("--metadata-dir", md, "init", rootFile) != 0 {
		t.Fatal("init failed")
	}
	if n := repo.RequestCount("/tuf/metadata/timestamp.json"); n != 0 {
		t.Errorf("init made %d requests", n)
	}
	if cli("--metadata-url", murl, "--metadata-dir", md, "refresh") != 0 {
		t.Fatal("refresh failed")
	}
	for _, f := range []string{"root.json", "timestamp.json", "snapshot.json", "targets.json"} {
		if _, err := os.Stat(filepath.Join(md, f)); err != nil {
			t.Errorf("metadata %s not stored: %v", f, err)
		}
	}
	dl := func(name string) int {
		return cli("--metadata-url", murl, "--metadata-dir", md, "--target-name", name,
			"--target-dir", td, "--target-base-url", turl, "download")
	}
	if dl("dir/artifact.txt") != 0 {
		t.Fatal("download failed")
	}
	got, err := os.ReadFile(filepath.Join(td, "dir%2Fartifact.txt"))
	if err != nil || string(got) != "hello" {
		t.Fatalf("downloaded %q, %v", got, err)
	}
	blob := "/tuf/targets/dir/" + filepath.Base(repo.TargetBlob("dir/artifact.txt"))
	if dl("dir/artifact.txt") != 0 || repo.RequestCount(blob) != 1 {
		t.Errorf("cached artifact fetched again: %d requests", repo.RequestCount(blob))
	}
	if dl("missing") != 1 {
		t.Error("download of a missing target succeeded")
	}
	faketime = "+2d" // the 1-day timestamp has expired two days later
	if cli("--metadata-url", murl, "--metadata-dir", md, "refresh") != 1 {
		t.Error("refresh succeeded with an expired timestamp")
	}
}
