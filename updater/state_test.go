package updater

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// newTestUpdater is an Updater on a fresh state directory whose server is never reached.
func newTestUpdater(t *testing.T) *Updater {
	t.Helper()
	u, err := New(Config{Server: "https://127.0.0.1:1", StateDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// installFake makes versions/<v> a complete install of a small executable.
func installFake(t *testing.T, s stateDir, v string) {
	t.Helper()
	src := filepath.Join(t.TempDir(), "agent")
	if err := os.WriteFile(src, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := s.install(v, src, "00"); err != nil {
		t.Fatal(err)
	}
}

// TestRecoverRemovesTemporaryFiles: the temporary files a kill between atomicfile.Write's create
// and rename leaves (journal, quarantine, events, completion marker, link, TUF cache) are gone
// after recovery, with or without a committed version, and nothing else is touched.
func TestRecoverRemovesTemporaryFiles(t *testing.T) {
	for _, committed := range []bool{false, true} {
		t.Run(map[bool]string{false: "nothing-installed", true: "committed"}[committed], func(t *testing.T) {
			u := newTestUpdater(t)
			s := u.state
			if committed {
				installFake(t, s, "1.0.0")
				if err := s.switchTo("1.0.0"); err != nil {
					t.Fatal(err)
				}
				if err := s.saveJournal(Journal{Current: "1.0.0"}); err != nil {
					t.Fatal(err)
				}
			} else if err := os.MkdirAll(s.path(versionsDir, "1.0.0"), 0o755); err != nil {
				t.Fatal(err)
			}
			leftovers := []string{
				".state.json.tmp123456", ".quarantine.json.tmp1", ".events.json.tmp99",
				"current.tmp-0011aabbccdd",
				filepath.Join(versionsDir, "1.0.0", "..complete.tmp42"), // atomicfile's name for .complete
				filepath.Join(tufDir, "tuf_tmp7"), filepath.Join(tufDir, ".root.json.tmp3"),
			}
			kept := []string{"notes.txt", ".state.json.bak", filepath.Join(tufDir, "root.json.orig"),
				filepath.Join(versionsDir, "1.0.0", "README")}
			for _, p := range append(slices.Clone(leftovers), kept...) {
				if err := os.WriteFile(s.path(p), []byte("x"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			// A directory named like a temporary file is not ours to remove.
			if err := os.Mkdir(s.path(".state.json.tmpdir"), 0o755); err != nil {
				t.Fatal(err)
			}
			kept = append(kept, ".state.json.tmpdir")
			if err := u.Recover(context.Background()); err != nil {
				t.Fatalf("Recover: %v", err)
			}
			for _, p := range leftovers {
				if _, err := os.Lstat(s.path(p)); !os.IsNotExist(err) {
					t.Errorf("%s survived recovery (%v)", p, err)
				}
			}
			for _, p := range kept {
				if _, err := os.Lstat(s.path(p)); err != nil {
					t.Errorf("%s was removed: %v", p, err)
				}
			}
			if committed && !s.complete("1.0.0") {
				t.Error("the committed version is no longer complete")
			}
		})
	}
}
