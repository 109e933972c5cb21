package release

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/signing"
)

func artifact(t *testing.T, name, body string) ArtifactInfo {
	t.Helper()
	sum := sha256.Sum256([]byte(body))
	return ArtifactInfo{Name: name, Length: int64(len(body)), SHA256: hex.EncodeToString(sum[:])}
}

func exists(t *testing.T, p string) bool {
	t.Helper()
	_, err := os.Stat(p)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return err == nil
}

// TestUploadStagedUntilPublished: an upload lands in staging/, never in the served targets/,
// and moves there only when a published targets version names it.
func TestUploadStagedUntilPublished(t *testing.T) {
	f := newFixture(t)
	arts := f.upload("1.0.0", builds100)
	for _, a := range arts {
		tg, _, err := a.target("1.0.0")
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.FromSlash(blobPath(tg, a.SHA256))
		if exists(t, filepath.Join(f.storage.TargetsPath(), name)) || !exists(t, filepath.Join(f.storage.StagingPath(), name)) {
			t.Fatalf("%s: uploaded build not staged out of the served directory", a.Name)
		}
	}
	if _, err := f.repo.Stage(f.ctx, "1.0.0", arts, StageOptions{}); err != nil {
		t.Fatal(err)
	}
	f.signDraft("1.0.0", f.targets[0], f.targets[1])
	if err := f.repo.Publish(f.ctx, "1.0.0"); err != nil {
		t.Fatal(err)
	}
	for _, a := range arts {
		tg, _, _ := a.target("1.0.0")
		name := filepath.FromSlash(blobPath(tg, a.SHA256))
		if !exists(t, filepath.Join(f.storage.TargetsPath(), name)) || exists(t, filepath.Join(f.storage.StagingPath(), name)) {
			t.Fatalf("%s: published build not moved to the served directory", a.Name)
		}
	}
	if used, _, err := f.repo.StagingUsage(f.ctx); err != nil || used != 0 {
		t.Errorf("staging after publish: %d bytes, %v", used, err)
	}
	// A go-tuf client downloads what was published.
	c := f.newClient()
	up, err := c.refresh(f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.download(up, "vigil-agent/1.0.0/linux-amd64"); err != nil || string(got) != builds100["vigil-agent-linux-amd64"] {
		t.Fatalf("download: %q, %v", got, err)
	}
}

// TestUploadRefusedBeforeInit: no repository, no upload, and the error says what to do.
func TestUploadRefusedBeforeInit(t *testing.T) {
	s, err := NewDirStorage(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(Config{Storage: s, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	a := artifact(t, "vigil-agent-linux-amd64", "agent")
	err = r.UploadArtifact(t.Context(), "1.0.0", a, strings.NewReader("agent"))
	wantErr(t, err, ErrNotInitialized)
	if !strings.Contains(err.Error(), "vigilctl repo init") {
		t.Errorf("error %q does not say to run `vigilctl repo init`", err)
	}
	if staged, _ := s.StagedBlobs(t.Context()); len(staged) != 0 {
		t.Errorf("stored before the repository exists: %v", staged)
	}
}

// TestStagingQuota: the per-build and total staging limits, a repeated upload not counted
// twice, Discard and PruneStaging giving room back.
func TestStagingQuota(t *testing.T) {
	f := newFixture(t)
	repo, err := New(Config{Storage: f.storage, OnlineKeys: []signing.Signer{f.online}, Now: f.clock.Now,
		MaxBlobBytes: 10, MaxStagedBytes: 25, StagedTTL: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	up := func(name, body string) error {
		return repo.UploadArtifact(f.ctx, "2.0.0", artifact(t, name, body), strings.NewReader(body))
	}
	wantErr(t, up("vigil-agent-linux-amd64", "0123456789a"), ErrBlobTooLarge) // 11 > 10
	if err := up("vigil-agent-linux-amd64", "0123456789"); err != nil {
		t.Fatal(err)
	}
	if err := up("vigil-agent-linux-amd64", "0123456789"); err != nil { // again: replaces, not counted twice
		t.Fatal(err)
	}
	if err := up("vigil-agent-linux-arm64", "abcdefghij"); err != nil {
		t.Fatal(err)
	}
	err = up("vigil-updater-linux-amd64", "ABCDEFGHIJ") // 30 > 25
	wantErr(t, err, ErrStagingFull)
	if !strings.Contains(err.Error(), "--release-max-staged-bytes") {
		t.Errorf("quota error %q does not name the setting", err)
	}
	if used, limit, _ := repo.StagingUsage(f.ctx); used != 20 || limit != 25 {
		t.Errorf("usage %d of %d, want 20 of 25", used, limit)
	}

	// Staged in a draft, then discarded: its builds go, room comes back.
	arm := artifact(t, "vigil-agent-linux-arm64", "abcdefghij")
	if _, err := repo.Stage(f.ctx, "2.0.0", []ArtifactInfo{arm}, StageOptions{}); err != nil {
		t.Fatal(err)
	}
	// File times are the machine's, not the fixture clock's.
	if n, err := repo.PruneStaging(f.ctx, time.Now().Add(2*time.Hour)); err != nil || n != 1 { // the amd64 build, in no draft
		t.Fatalf("PruneStaging = %d, %v; want 1 (the build no draft names)", n, err)
	}
	if used, _, _ := repo.StagingUsage(f.ctx); used != 10 {
		t.Errorf("after pruning: %d bytes staged, want 10 (the draft's build is kept)", used)
	}
	if err := repo.Discard(f.ctx, "2.0.0"); err != nil {
		t.Fatal(err)
	}
	if used, _, _ := repo.StagingUsage(f.ctx); used != 0 {
		t.Errorf("after discarding the draft: %d bytes staged, want 0", used)
	}
	if err := up("vigil-updater-linux-amd64", "ABCDEFGHIJ"); err != nil {
		t.Fatalf("upload after room was made: %v", err)
	}
	// A fresh upload is not pruned before StagedTTL.
	if n, err := repo.PruneStaging(f.ctx, time.Now()); err != nil || n != 0 {
		t.Errorf("PruneStaging of a fresh upload = %d, %v", n, err)
	}

	if _, err := New(Config{Storage: f.storage, MaxBlobBytes: MaxArtifactSize + 1}); err == nil {
		t.Error("MaxBlobBytes above MaxArtifactSize accepted")
	}
	if _, err := New(Config{Storage: f.storage, MaxBlobBytes: 10, MaxStagedBytes: 5}); err == nil {
		t.Error("MaxStagedBytes below MaxBlobBytes accepted")
	}
}
