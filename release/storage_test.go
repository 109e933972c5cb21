package release

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDirStorage(t *testing.T) {
	ctx := context.Background()
	s, err := NewDirStorage(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	files := []MetadataFile{{"timestamp.json", []byte("ts")}, {"1.snapshot.json", []byte("sn")}, {"root.json", []byte("r")}}
	if err := s.PublishMetadata(ctx, files); err != nil {
		t.Fatal(err)
	}
	// Same content again: fine. Different content for an immutable name: refused.
	if err := s.PublishMetadata(ctx, files[1:2]); err != nil {
		t.Fatal(err)
	}
	err = s.PublishMetadata(ctx, []MetadataFile{{"1.snapshot.json", []byte("other")}})
	wantErr(t, err, ErrConflict)
	// Mutable names are replaced.
	if err := s.PublishMetadata(ctx, []MetadataFile{{"timestamp.json", []byte("ts2")}}); err != nil {
		t.Fatal(err)
	}
	if b, _ := s.GetMetadata(ctx, "timestamp.json"); string(b) != "ts2" {
		t.Errorf("timestamp.json = %q", b)
	}
	if _, err := s.GetMetadata(ctx, "2.snapshot.json"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}

	for _, name := range []string{"../x", "/etc/passwd", "a/../b", "", ".tmp-x", "a//b", `a\b`} {
		if _, err := s.GetMetadata(ctx, name); !errors.Is(err, ErrInvalidName) {
			t.Errorf("GetMetadata(%q) = %v, want ErrInvalidName", name, err)
		}
		if err := s.PutBlob(ctx, name, strings.NewReader("x")); !errors.Is(err, ErrInvalidName) {
			t.Errorf("PutBlob(%q) = %v, want ErrInvalidName", name, err)
		}
	}
	if err := s.PutDraft(ctx, "a/b", nil); !errors.Is(err, ErrInvalidName) {
		t.Errorf("nested draft name: %v", err)
	}

	// A failing reader leaves no blob and no temporary file.
	err = s.PutBlob(ctx, "vigil-agent/1.0.0/x.linux-amd64", io.MultiReader(strings.NewReader("part"), errReader{}))
	if err == nil {
		t.Fatal("PutBlob with a failing reader succeeded")
	}
	ents, _ := os.ReadDir(filepath.Join(s.StagingPath(), "vigil-agent", "1.0.0"))
	if len(ents) != 0 {
		t.Errorf("left behind: %v", ents)
	}
	if err := s.PutBlob(ctx, "vigil-agent/1.0.0/x.linux-amd64", strings.NewReader("whole")); err != nil {
		t.Fatal(err)
	}
	rc, err := s.OpenBlob(ctx, "vigil-agent/1.0.0/x.linux-amd64")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "whole" {
		t.Errorf("blob = %q", b)
	}

	if err := s.PutDraft(ctx, "1.0.0.targets.json", []byte("d")); err != nil {
		t.Fatal(err)
	}
	names, _ := s.ListDrafts(ctx)
	if len(names) != 1 || names[0] != "1.0.0.targets.json" {
		t.Errorf("drafts %v", names)
	}
	if err := s.DeleteDraft(ctx, "1.0.0.targets.json"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteDraft(ctx, "1.0.0.targets.json"); err != nil {
		t.Errorf("deleting a missing draft: %v", err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

// TestDirStoragePublishBlob: a blob is staged out of targets/, PublishBlob moves it there
// (idempotently, also after a crash that left only the published copy), StagedBlobs and
// DeleteStagedBlob see only staging.
func TestDirStoragePublishBlob(t *testing.T) {
	ctx := context.Background()
	s, err := NewDirStorage(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const name = "vigil-agent/1.0.0/ab.linux-amd64"
	published := filepath.Join(s.TargetsPath(), filepath.FromSlash(name))
	if err := s.PublishBlob(ctx, name); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("PublishBlob of nothing: %v, want fs.ErrNotExist", err)
	}
	if err := s.PutBlob(ctx, name, strings.NewReader("build")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(published); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a staged blob is in the served directory: %v", err)
	}
	staged, err := s.StagedBlobs(ctx)
	if err != nil || len(staged) != 1 || staged[0].Name != name || staged[0].Size != 5 {
		t.Fatalf("StagedBlobs = %+v, %v", staged, err)
	}
	for range 2 { // the second is a no-op
		if err := s.PublishBlob(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	if b, err := os.ReadFile(published); err != nil || string(b) != "build" {
		t.Fatalf("published blob: %q, %v", b, err)
	}
	if staged, _ := s.StagedBlobs(ctx); len(staged) != 0 {
		t.Errorf("still staged after publishing: %+v", staged)
	}
	rc, err := s.OpenBlob(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
	// Staged again (a repeated upload), then published: the published copy stays, staging empties.
	if err := s.PutBlob(ctx, name, strings.NewReader("build")); err != nil {
		t.Fatal(err)
	}
	if err := s.PublishBlob(ctx, name); err != nil {
		t.Fatal(err)
	}
	if staged, _ := s.StagedBlobs(ctx); len(staged) != 0 {
		t.Errorf("still staged: %+v", staged)
	}
	if err := s.PutBlob(ctx, "vigil-agent/2.0.0/cd.linux-amd64", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteStagedBlob(ctx, "vigil-agent/2.0.0/cd.linux-amd64"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteStagedBlob(ctx, "vigil-agent/2.0.0/cd.linux-amd64"); err != nil {
		t.Errorf("deleting a missing staged blob: %v", err)
	}
	if err := s.DeleteStagedBlob(ctx, "../targets/"+name); !errors.Is(err, ErrInvalidName) {
		t.Errorf("DeleteStagedBlob out of staging: %v, want ErrInvalidName", err)
	}
	if _, err := os.Stat(published); err != nil {
		t.Errorf("published blob gone: %v", err)
	}
}
