package release

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/vigilhq/vigil/atomicfile"
)

// MetadataFile is one file of a publish: a metadata name ("3.root.json",
// "timestamp.json") and its content.
type MetadataFile struct {
	Name string
	Data []byte
}

// Storage holds the repository: published metadata, drafts and blobs. Names
// are slash-separated relative paths without "." or ".." elements. Missing
// files are reported with errors wrapping fs.ErrNotExist.
//
// Implemented by DirStorage; the server may implement it over its database.
type Storage interface {
	// GetMetadata returns a published metadata file.
	GetMetadata(ctx context.Context, name string) ([]byte, error)
	// PublishMetadata makes files visible to clients, durably. Every file but
	// "timestamp.json" and "root.json" is immutable once published: publishing
	// it again with the same content is a no-op, with different content it
	// fails with ErrConflict. "timestamp.json" must become visible last, after
	// every other file of the set, so that a client never sees a timestamp
	// pointing at a snapshot that is not there yet.
	PublishMetadata(ctx context.Context, files []MetadataFile) error

	// GetDraft, PutDraft and DeleteDraft manage unpublished drafts, never
	// served to clients. PutDraft replaces atomically; DeleteDraft of a
	// missing draft is not an error. ListDrafts returns the names, sorted.
	GetDraft(ctx context.Context, name string) ([]byte, error)
	PutDraft(ctx context.Context, name string, data []byte) error
	DeleteDraft(ctx context.Context, name string) error
	ListDrafts(ctx context.Context) ([]string, error)

	// PutBlob stages a target file under name (its consistent-snapshot path,
	// "vigil-agent/1.2.3/<sha256>.linux-amd64"), out of what clients are
	// served, until PublishBlob. The blob must become visible (to OpenBlob)
	// only if r was read to io.EOF without error; a reader that fails leaves
	// nothing behind. Replacing an existing blob is allowed (same name means
	// same content). Must be idempotent.
	PutBlob(ctx context.Context, name string, r io.Reader) error
	// OpenBlob opens a stored target file, staged or published.
	OpenBlob(ctx context.Context, name string) (io.ReadCloser, error)
	// PublishBlob moves a staged blob to where clients are served it, durably,
	// before metadata naming it is published. Publishing a blob already
	// published is a no-op; one neither staged nor published is an error
	// wrapping fs.ErrNotExist. Must be idempotent.
	PublishBlob(ctx context.Context, name string) error
	// StagedBlobs lists the staged (not yet published) blobs.
	StagedBlobs(ctx context.Context) ([]BlobInfo, error)
	// DeleteStagedBlob removes a staged blob; a missing one is not an error.
	DeleteStagedBlob(ctx context.Context, name string) error
}

// BlobInfo describes a staged blob.
type BlobInfo struct {
	Name     string // storage name, as given to PutBlob
	Size     int64
	Modified time.Time
}

// DirStorage is a Storage in a directory:
//
//	<dir>/metadata/   published metadata, served under /tuf/metadata/
//	<dir>/targets/    published blobs, served under /tuf/targets/
//	<dir>/staging/    uploaded blobs not published yet (private)
//	<dir>/drafts/     drafts (private)
//
// Every file is written to a temporary file, synced, and renamed (or linked,
// for immutable names) into place; directories are synced after. It is safe
// for concurrent use, including by several processes sharing the directory.
type DirStorage struct {
	dir string
}

var _ Storage = (*DirStorage)(nil)

// Subdirectories of a DirStorage.
const (
	MetadataDir = "metadata"
	TargetsDir  = "targets"
	StagingDir  = "staging"
	DraftsDir   = "drafts"
)

// NewDirStorage creates (mode 0700) or opens a repository directory.
func NewDirStorage(dir string) (*DirStorage, error) {
	for _, sub := range []string{MetadataDir, TargetsDir, StagingDir, DraftsDir} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("create repository directory: %w", err)
		}
	}
	return &DirStorage{dir: dir}, nil
}

// MetadataPath is the directory holding published metadata (to serve).
func (s *DirStorage) MetadataPath() string { return filepath.Join(s.dir, MetadataDir) }

// TargetsPath is the directory holding published blobs (to serve).
func (s *DirStorage) TargetsPath() string { return filepath.Join(s.dir, TargetsDir) }

// StagingPath is the directory holding staged blobs (never served).
func (s *DirStorage) StagingPath() string { return filepath.Join(s.dir, StagingDir) }

// checkName rejects names that could escape the directory.
func checkName(name string, nested bool) error {
	ok := name != "" && !strings.HasPrefix(name, "/") && path.Clean(name) == name &&
		!strings.Contains(name, "\\") && !strings.HasPrefix(name, ".")
	for _, el := range strings.Split(name, "/") {
		ok = ok && el != "." && el != ".." && el != "" && !strings.HasPrefix(el, ".tmp-")
	}
	if !nested && strings.Contains(name, "/") {
		ok = false
	}
	if !ok {
		return fmt.Errorf("storage name %q: %w", name, ErrInvalidName)
	}
	return nil
}

func (s *DirStorage) path(sub, name string, nested bool) (string, error) {
	if err := checkName(name, nested); err != nil {
		return "", err
	}
	return filepath.Join(s.dir, sub, filepath.FromSlash(name)), nil
}

// GetMetadata implements Storage.
func (s *DirStorage) GetMetadata(_ context.Context, name string) ([]byte, error) {
	p, err := s.path(MetadataDir, name, false)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(p)
}

// mutableMetadata are the published names that are replaced on each publish.
var mutableMetadata = []string{"timestamp.json", "root.json"}

// PublishMetadata implements Storage: immutable files first (linked into
// place, so an existing one is never replaced), then root.json, then, after
// a directory sync, timestamp.json.
func (s *DirStorage) PublishMetadata(ctx context.Context, files []MetadataFile) error {
	var first, last []MetadataFile
	for _, f := range files {
		if _, err := s.path(MetadataDir, f.Name, false); err != nil {
			return err
		}
		if f.Name == "timestamp.json" {
			last = append(last, f)
		} else {
			first = append(first, f)
		}
	}
	dir := s.MetadataPath()
	for _, group := range [][]MetadataFile{first, last} {
		for _, f := range group {
			if err := ctx.Err(); err != nil {
				return err
			}
			if slices.Contains(mutableMetadata, f.Name) {
				err := writeAtomic(dir, f.Name, bytes.NewReader(f.Data), true)
				if err != nil {
					return err
				}
				continue
			}
			if err := writeAtomic(dir, f.Name, bytes.NewReader(f.Data), false); err != nil {
				if !errors.Is(err, fs.ErrExist) {
					return err
				}
				old, rerr := os.ReadFile(filepath.Join(dir, f.Name))
				if rerr != nil {
					return rerr
				}
				if !bytes.Equal(old, f.Data) {
					return fmt.Errorf("publish %s: %w", f.Name, ErrConflict)
				}
			}
		}
		if err := atomicfile.SyncDir(dir); err != nil {
			return err
		}
	}
	return nil
}

// GetDraft implements Storage.
func (s *DirStorage) GetDraft(_ context.Context, name string) ([]byte, error) {
	p, err := s.path(DraftsDir, name, false)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(p)
}

// PutDraft implements Storage.
func (s *DirStorage) PutDraft(_ context.Context, name string, data []byte) error {
	if err := checkName(name, false); err != nil {
		return err
	}
	dir := filepath.Join(s.dir, DraftsDir)
	if err := writeAtomic(dir, name, bytes.NewReader(data), true); err != nil {
		return err
	}
	return atomicfile.SyncDir(dir)
}

// DeleteDraft implements Storage.
func (s *DirStorage) DeleteDraft(_ context.Context, name string) error {
	p, err := s.path(DraftsDir, name, false)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return atomicfile.SyncDir(filepath.Dir(p))
}

// ListDrafts implements Storage.
func (s *DirStorage) ListDrafts(context.Context) ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(s.dir, DraftsDir))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// PutBlob implements Storage: the blob goes to <dir>/staging.
func (s *DirStorage) PutBlob(_ context.Context, name string, r io.Reader) error {
	p, err := s.path(StagingDir, name, true)
	if err != nil {
		return err
	}
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := writeAtomic(dir, filepath.Base(p), r, true); err != nil {
		return err
	}
	return atomicfile.SyncDir(dir)
}

// OpenBlob implements Storage: the published copy if there is one, else the staged one.
func (s *DirStorage) OpenBlob(_ context.Context, name string) (io.ReadCloser, error) {
	p, err := s.path(TargetsDir, name, true)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return os.Open(filepath.Join(s.dir, StagingDir, filepath.FromSlash(name)))
	}
	return f, err
}

// PublishBlob implements Storage: the staged file is linked into <dir>/targets (never
// replacing a published one), the directory synced, then the staged name removed.
func (s *DirStorage) PublishBlob(_ context.Context, name string) error {
	dst, err := s.path(TargetsDir, name, true)
	if err != nil {
		return err
	}
	src := filepath.Join(s.dir, StagingDir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	err = os.Link(src, dst)
	switch {
	case errors.Is(err, fs.ErrExist):
	case errors.Is(err, fs.ErrNotExist):
		if _, serr := os.Stat(dst); serr == nil {
			return nil // published before (by another process, or before a crash)
		}
		return fmt.Errorf("publish blob %s: %w", name, fs.ErrNotExist)
	case err != nil:
		return fmt.Errorf("publish blob %s: %w", name, err)
	}
	if err := atomicfile.SyncDir(filepath.Dir(dst)); err != nil {
		return err
	}
	if err := os.Remove(src); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return atomicfile.SyncDir(filepath.Dir(src))
}

// StagedBlobs implements Storage. Temporary files of uploads in progress are not listed.
func (s *DirStorage) StagedBlobs(context.Context) ([]BlobInfo, error) {
	root := s.StagingPath()
	var out []BlobInfo
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.Type().IsRegular() || strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // published or removed meanwhile
			}
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		out = append(out, BlobInfo{Name: filepath.ToSlash(rel), Size: fi.Size(), Modified: fi.ModTime()})
		return nil
	})
	return out, err
}

// DeleteStagedBlob implements Storage.
func (s *DirStorage) DeleteStagedBlob(_ context.Context, name string) error {
	p, err := s.path(StagingDir, name, true)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return atomicfile.SyncDir(filepath.Dir(p))
}

// writeAtomic writes r to dir/name through a synced temporary file. With
// replace it renames over any existing file; without, it links, failing with
// an error wrapping fs.ErrExist if name exists.
func writeAtomic(dir, name string, r io.Reader, replace bool) (err error) {
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := filepath.Join(dir, ".tmp-"+hex.EncodeToString(rnd[:])+"-"+name)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	defer func() {
		if f != nil {
			f.Close()
		}
		if err != nil || !replace {
			os.Remove(tmp)
		}
	}()
	if _, err = io.Copy(f, r); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err = f.Sync(); err != nil {
		return err
	}
	err = f.Close()
	f = nil
	if err != nil {
		return err
	}
	final := filepath.Join(dir, name)
	if replace {
		return os.Rename(tmp, final)
	}
	return os.Link(tmp, final)
}
