package app_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilhq/vigil/server/app"
)

// TestSecurityHeaders: every response, API, probe, dashboard, TUF, install files and errors alike,
// carries HSTS (the server only speaks TLS), X-Frame-Options DENY, nosniff and a Referrer-Policy.
func TestSecurityHeaders(t *testing.T) {
	s := startServer(t, "")
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/api/v1/hosts", "/api/v1/nope", "/", "/login",
		"/tuf/metadata/timestamp.json", "/install.sh"} {
		resp, err := s.get(s.URL+path, "")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		for h, want := range map[string]string{
			"Strict-Transport-Security": "max-age=31536000",
			"X-Frame-Options":           "DENY",
			"X-Content-Type-Options":    "nosniff",
		} {
			if got := resp.Header.Get(h); got != want {
				t.Errorf("%s (%d): %s = %q, want %q", path, resp.StatusCode, h, got, want)
			}
		}
		if resp.Header.Get("Referrer-Policy") == "" {
			t.Errorf("%s: no Referrer-Policy", path)
		}
	}
}

// TestTLS12OnlyAEAD: a TLS 1.2 client offering only CBC (or only non-ECDHE) suites is refused;
// one offering ECDHE with AES-GCM or ChaCha20-Poly1305 is served.
func TestTLS12OnlyAEAD(t *testing.T) {
	s := startServer(t, "")
	host := strings.TrimPrefix(s.URL, "https://")
	dial := func(suites ...uint16) error {
		conn, err := tls.Dial("tcp", host, &tls.Config{
			InsecureSkipVerify: true, // only the handshake's cipher choice is under test
			MinVersion:         tls.VersionTLS12, MaxVersion: tls.VersionTLS12, CipherSuites: suites,
		})
		if err == nil {
			conn.Close()
		}
		return err
	}
	for name, suite := range map[string]uint16{
		"ECDHE-ECDSA-AES128-CBC-SHA":    tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
		"ECDHE-ECDSA-AES256-CBC-SHA":    tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
		"ECDHE-ECDSA-AES128-CBC-SHA256": tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
		"RSA-AES128-GCM (no ECDHE)":     tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
		"RSA-AES128-CBC-SHA":            tls.TLS_RSA_WITH_AES_128_CBC_SHA,
	} {
		if err := dial(suite); err == nil {
			t.Errorf("TLS 1.2 with only %s: handshake succeeded, want refused", name)
		}
	}
	for name, suite := range map[string]uint16{
		"ECDHE-ECDSA-AES128-GCM": tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		"ECDHE-ECDSA-AES256-GCM": tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		"ECDHE-ECDSA-CHACHA20":   tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	} {
		if err := dial(suite); err != nil {
			t.Errorf("TLS 1.2 with %s: %v, want served", name, err)
		}
	}
}

// TestSQLiteFilesPrivate: the data directory is 0700 and vigil.db and its -wal and -shm files are
// 0600, on a new data directory and on an existing one that had looser modes.
func TestSQLiteFilesPrivate(t *testing.T) {
	dir := t.TempDir()
	check := func(when string) {
		t.Helper()
		if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
			t.Fatalf("%s: data dir mode %v (%v), want 0700", when, fi.Mode().Perm(), err)
		}
		for _, f := range []string{"vigil.db", "vigil.db-wal", "vigil.db-shm"} {
			fi, err := os.Stat(filepath.Join(dir, f))
			if err != nil {
				t.Fatalf("%s: %v", when, err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: %s mode %v, want 0600", when, f, fi.Mode().Perm())
			}
		}
	}
	s, _ := startWith(t, app.Config{DataDir: dir}, "")
	// A write, so the WAL has content and every file exists.
	s.enroll(t, "perm-1")
	check("new data dir")
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}

	// An installation from before the fix: everything world-readable.
	for _, f := range []string{"", "vigil.db", "vigil.db-wal", "vigil.db-shm"} {
		mode := os.FileMode(0o644)
		if f == "" {
			mode = 0o755
		}
		if err := os.Chmod(filepath.Join(dir, f), mode); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
	s, _ = startWith(t, app.Config{DataDir: dir}, "")
	s.enroll(t, "perm-2")
	check("existing data dir")
}
