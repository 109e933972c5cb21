package updater_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/vigilhq/vigil/releasespec"
	"github.com/vigilhq/vigil/updater"
	"github.com/vigilhq/vigil/updater/internal/tuftest"
)

// Every attack leaves 1.0.0 running, installs nothing and is reported as a failure.

// attackHarness starts on 1.0.0, refreshes once (so the client has trusted metadata), publishes
// good 2.0.0 and pins it.
func attackHarness(t *testing.T) *harness {
	h := newHarness(t)
	h.start()
	h.setDesired("1.0.0", "")
	if err := h.u.CheckOnce(h.ctx); err != nil {
		t.Fatal(err)
	}
	h.publish("good-2.0.0", tuftest.Custom{})
	h.setDesired("2.0.0", "")
	return h
}

func (h *harness) assertUntouched() {
	h.t.Helper()
	h.assertRunning("1.0.0")
	if contains(h.installed(), "2.0.0") {
		h.t.Error("2.0.0 was installed")
	}
}

func agentPath(v string) string { return updater.TargetPath(updater.BinaryAgent, v, runtime.GOARCH) }

func TestAttackTamperedTarget(t *testing.T) {
	h := attackHarness(t)
	blob := h.repo.TargetBlob(agentPath("2.0.0"))
	data, _ := os.ReadFile(blob)
	data[len(data)/2] ^= 0xff // same length, other content
	os.WriteFile(blob, data, 0o644)
	mustIs(t, h.u.CheckOnce(h.ctx), updater.ErrSecurity, updater.ErrTargetMismatch)
	h.assertUntouched()
	if !h.hasEvent("download", "failed", "2.0.0") {
		t.Errorf("not reported: %+v", h.eventsSeen())
	}
}

func TestAttackHashSwappedWithMetadata(t *testing.T) {
	h := attackHarness(t)
	evil := readBin(t, "good-1.2.0")
	// The compromised server (online keys only) points 2.0.0 at its own build.
	p := agentPath("2.0.0")
	h.repo.AddTarget(p, evil, tuftest.Custom{Version: "2.0.0"})
	h.repo.ForgeTargets(func(*metadata.TargetsType) {})
	err := h.u.CheckOnce(h.ctx)
	mustIs(t, err, updater.ErrSecurity)
	h.assertUntouched()
}

// TestSignedEntryBreakingTheRulesRefused: an entry that carries the targets signature but whose
// custom metadata names another version than its path (a mistake or a compromised signer) is a
// security failure, not an install.
func TestSignedEntryBreakingTheRulesRefused(t *testing.T) {
	h := attackHarness(t)
	h.repo.AddTarget(agentPath("2.0.0"), readBin(t, "good-2.0.0"), tuftest.Custom{Version: "2.0.1"})
	h.repo.Publish()
	mustIs(t, h.u.CheckOnce(h.ctx), updater.ErrSecurity, releasespec.ErrInvalidCustom)
	h.assertUntouched()
}

func TestAttackReplayedTimestamp(t *testing.T) {
	h := attackHarness(t)
	old := h.repo.ReadMetadata("timestamp.json") // version the client has already seen
	h.repo.PublishTimestamp(time.Now().Add(24 * time.Hour))
	h.setDesired("1.0.0", "")
	if err := h.u.CheckOnce(h.ctx); err != nil { // client now trusts the newer timestamp
		t.Fatal(err)
	}
	h.setDesired("2.0.0", "")
	h.repo.WriteMetadata("timestamp.json", old)
	err := h.u.CheckOnce(h.ctx)
	mustIs(t, err, updater.ErrSecurity, &metadata.ErrBadVersionNumber{})
	h.assertUntouched()
}

func TestAttackReplayedSnapshot(t *testing.T) {
	h := attackHarness(t)
	h.setDesired("1.0.0", "")
	if err := h.u.CheckOnce(h.ctx); err != nil { // client trusts the newest snapshot
		t.Fatal(err)
	}
	h.setDesired("2.0.0", "")
	// The server signs a fresh timestamp (it holds that key) pointing at an older snapshot.
	h.repo.PublishTimestampFor(h.repo.Snapshot.Signed.Version - 1)
	err := h.u.CheckOnce(h.ctx)
	mustIs(t, err, updater.ErrSecurity)
	h.assertUntouched()
}

func TestAttackExpiredTimestamp(t *testing.T) {
	h := attackHarness(t)
	h.repo.PublishTimestamp(time.Now().Add(-time.Hour)) // frozen: the server stops re-signing
	err := h.u.CheckOnce(h.ctx)
	mustIs(t, err, updater.ErrSecurity, &metadata.ErrExpiredMetadata{})
	h.assertUntouched()
}

// endless is a body that never ends.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = '{'
	}
	return len(p), nil
}

func TestAttackEndlessData(t *testing.T) {
	buildAll(t) // skips under -short here, before any subtest starts
	for _, target := range []string{"/tuf/metadata/timestamp.json", "target"} {
		t.Run(strings.TrimPrefix(target, "/tuf/metadata/"), func(t *testing.T) {
			h := attackHarness(t)
			h.repo.SetIntercept(func(w http.ResponseWriter, r *http.Request) bool {
				if r.URL.Path == target || (target == "target" && strings.HasPrefix(r.URL.Path, "/tuf/targets/")) {
					w.WriteHeader(http.StatusOK)
					io.Copy(w, io.LimitReader(endless{}, 1<<30))
					return true
				}
				return false
			})
			start := time.Now()
			err := h.u.CheckOnce(h.ctx)
			mustIs(t, err, updater.ErrSecurity)
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
			h.assertUntouched()
		})
	}
}

func TestAttackSignedDowngrade(t *testing.T) {
	h := attackHarness(t)
	h.publish("good-0.9.0", tuftest.Custom{Channels: []string{"stable"}}) // validly signed, older
	h.setDesired("0.9.0", "")
	mustIs(t, h.u.CheckOnce(h.ctx), updater.ErrDowngrade)
	h.assertRunning("1.0.0")
	// Through a channel it is the same: stable now resolves to 1.0.0 (highest), never lower.
	h.setDesired("", "stable")
	if err := h.u.CheckOnce(h.ctx); err != nil {
		t.Fatal(err)
	}
	h.assertRunning("1.0.0")
}

func TestAttackStalledServer(t *testing.T) {
	buildAll(t) // skips under -short here, before any subtest starts
	for _, target := range []string{"/tuf/metadata/timestamp.json", "target-body"} {
		t.Run(strings.TrimPrefix(target, "/tuf/metadata/"), func(t *testing.T) {
			h := attackHarness(t)
			release := make(chan struct{})
			defer close(release)
			h.repo.SetIntercept(func(w http.ResponseWriter, r *http.Request) bool {
				switch {
				case r.URL.Path == target:
					<-release // never answers (headers never come)
					return true
				case target == "target-body" && strings.HasPrefix(r.URL.Path, "/tuf/targets/"):
					w.Header().Set("Content-Length", "1000000")
					w.WriteHeader(http.StatusOK)
					w.Write([]byte("x"))
					w.(http.Flusher).Flush()
					<-release // then stalls
					return true
				}
				return false
			})
			start := time.Now()
			err := h.u.CheckOnce(h.ctx)
			took := time.Since(start)
			if err == nil {
				t.Fatal("CheckOnce succeeded against a stalled server")
			}
			t.Logf("stalled %s: failed after %v: %v", target, took.Round(time.Millisecond), err)
			if took > 6*time.Second {
				t.Errorf("timeouts did not fire: took %v", took)
			}
			h.assertUntouched()
		})
	}
}

func TestAttackForbiddenNextRoot(t *testing.T) {
	h := attackHarness(t)
	h.repo.SetIntercept(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/tuf/metadata/2.root.json" {
			http.Error(w, "forbidden", http.StatusForbidden)
			return true
		}
		return false
	})
	err := h.u.CheckOnce(h.ctx)
	var he *metadata.ErrDownloadHTTP
	if !errors.As(err, &he) || he.StatusCode != 403 {
		t.Fatalf("err = %v, want the 403 for the next root", err)
	}
	h.assertUntouched()
}

func TestRootRotationFollowed(t *testing.T) {
	h := attackHarness(t)
	h.repo.RotateRoot()
	h.repo.Publish() // timestamp signed with the new key
	if err := h.u.CheckOnce(h.ctx); err != nil {
		t.Fatal(err)
	}
	h.assertRunning("2.0.0")
	cached, _ := os.ReadFile(filepath.Join(h.state, "tuf", "root.json"))
	if !bytes.Equal(cached, h.repo.RootJSON(2)) {
		t.Error("the cached root is not root v2")
	}
	// The configured (embedded) root v1 never replaces the newer cached root.
	u2, err := updater.New(h.config())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u2.TUF().Refresh(h.ctx); err != nil {
		t.Fatal(err)
	}
	cached, _ = os.ReadFile(filepath.Join(h.state, "tuf", "root.json"))
	if !bytes.Equal(cached, h.repo.RootJSON(2)) {
		t.Error("the cached root v2 was replaced")
	}
}

func TestDownloadFaults(t *testing.T) {
	buildAll(t) // skips under -short here, before any subtest starts
	t.Run("truncated then resumed", func(t *testing.T) {
		h := attackHarness(t)
		full, _ := os.ReadFile(h.repo.TargetBlob(agentPath("2.0.0")))
		half := len(full) / 2
		var ranges []string
		h.repo.SetIntercept(func(w http.ResponseWriter, r *http.Request) bool {
			if !strings.HasPrefix(r.URL.Path, "/tuf/targets/") {
				return false
			}
			ranges = append(ranges, r.Header.Get("Range"))
			if r.Header.Get("Range") != "" {
				http.Error(w, "unavailable", http.StatusServiceUnavailable)
				return true
			}
			w.Header().Set("Content-Length", "1000") // a lie: the connection ends early
			w.Write(full[:half%1000+1])
			return true
		})
		_ = half
		err := h.u.CheckOnce(h.ctx)
		if err == nil {
			t.Fatal("a truncated download succeeded")
		}
		h.assertUntouched()
		// The connection comes back: the partial file is resumed with Range.
		ranges = nil
		h.repo.SetIntercept(func(w http.ResponseWriter, r *http.Request) bool {
			if strings.HasPrefix(r.URL.Path, "/tuf/targets/") {
				ranges = append(ranges, r.Header.Get("Range"))
			}
			return false
		})
		if err := h.u.CheckOnce(h.ctx); err != nil {
			t.Fatal(err)
		}
		h.assertRunning("2.0.0")
		if len(ranges) != 1 || !strings.HasPrefix(ranges[0], "bytes=") {
			t.Errorf("resume requests = %q, want one Range request", ranges)
		}
	})
	t.Run("oversized", func(t *testing.T) {
		h := attackHarness(t)
		full, _ := os.ReadFile(h.repo.TargetBlob(agentPath("2.0.0")))
		h.repo.SetIntercept(func(w http.ResponseWriter, r *http.Request) bool {
			if strings.HasPrefix(r.URL.Path, "/tuf/targets/") {
				w.Write(append(full, make([]byte, 4096)...))
				return true
			}
			return false
		})
		mustIs(t, h.u.CheckOnce(h.ctx), updater.ErrSecurity, updater.ErrTargetMismatch)
		h.assertUntouched()
		ents, _ := os.ReadDir(filepath.Join(h.state, "download"))
		if len(ents) != 0 {
			t.Errorf("download dir keeps %d files after a refused download", len(ents))
		}
	})
}
