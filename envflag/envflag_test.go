package envflag

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

func TestApply(t *testing.T) {
	env := map[string]string{
		"VIGIL_CA_FINGERPRINT": "abc",
		"VIGIL_INTERVAL":       "5s",
		"VIGIL_SERVER":         "https://env",
		"VIGIL_VERSION":        "true",
		"VIGIL_STATE_DIR":      "",
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fp := fs.String("ca-fingerprint", "", "")
	iv := fs.Duration("interval", 10*time.Second, "")
	srv := fs.String("server", "", "")
	ver := fs.Bool("version", false, "")
	dir := fs.String("state-dir", "/default", "")
	if err := fs.Parse([]string{"--server", "https://flag"}); err != nil {
		t.Fatal(err)
	}
	if err := Apply(fs, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if *fp != "abc" || *iv != 5*time.Second {
		t.Errorf("env not applied: %q %v", *fp, *iv)
	}
	if *srv != "https://flag" {
		t.Errorf("command line lost to the environment: %q", *srv)
	}
	if *ver {
		t.Error("VIGIL_VERSION turned on --version")
	}
	if *dir != "/default" {
		t.Errorf("empty variable overrode the default: %q", *dir)
	}

	fs2 := flag.NewFlagSet("t", flag.ContinueOnError)
	fs2.Duration("interval", 0, "")
	fs2.Parse(nil)
	err := Apply(fs2, func(string) string { return "soon" })
	if err == nil || !strings.Contains(err.Error(), "VIGIL_INTERVAL") {
		t.Fatalf("bad value: %v", err)
	}
}
