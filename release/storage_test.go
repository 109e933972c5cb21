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
