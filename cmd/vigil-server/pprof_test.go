package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestPprofFlag: --pprof is in the help, and an address off loopback, given as the flag or as
// VIGIL_PPROF, stops the server before it serves anything.
func TestPprofFlag(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"--help"}, &out, &errOut); code != 0 || !strings.Contains(errOut.String(), "-pprof") ||
		!strings.Contains(errOut.String(), "LOOPBACK") {
		t.Fatalf("--help: exit %d, help lacks --pprof:\n%s", code, errOut.String())
	}
	for _, tc := range []struct {
		name string
		args []string
		env  string
	}{
		{"flag", []string{"--pprof", "0.0.0.0:6060"}, ""},
		{"env", nil, "0.0.0.0:6060"},
		{"all interfaces", []string{"--pprof", ":6060"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("VIGIL_PPROF", tc.env)
			dir := t.TempDir()
			var out, errOut bytes.Buffer
			args := append([]string{"--data-dir", dir, "--listen", "127.0.0.1:0"}, tc.args...)
			if code := run(context.Background(), args, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "must be on loopback") {
				t.Fatalf("exit %d, want 1 with a loopback error; stderr:\n%s", code, errOut.String())
			}
		})
	}
}
