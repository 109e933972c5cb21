package updater_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/vigilhq/vigil/updater"
	"github.com/vigilhq/vigil/wire"
)

// TestInstallBundledAgent: the host package ships an agent build beside the updater. The first
// install uses it only when it is byte for byte the signed target of the version chosen; any
// other file is ignored and the signed build is downloaded.
func TestInstallBundledAgent(t *testing.T) {
	signed := func(t *testing.T) []byte { return readBin(t, "good-1.0.0") }
	for _, tt := range []struct {
		name    string
		bundle  func(t *testing.T) []byte // nil: no file at the configured path
		adopted bool
	}{
		{"signed build", signed, true},
		{"another version", func(t *testing.T) []byte { return readBin(t, "good-2.0.0") }, false},
		{"one byte more", func(t *testing.T) []byte { return append(signed(t), 0) }, false},
		{"one byte changed", func(t *testing.T) []byte {
			b := bytes.Clone(signed(t))
			b[len(b)/2] ^= 1
			return b
		}, false},
		{"missing", nil, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			cfg := h.config()
			cfg.BundledAgent = filepath.Join(t.TempDir(), "vigil-agent")
			if tt.bundle != nil {
				if err := os.WriteFile(cfg.BundledAgent, tt.bundle(t), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			u, err := updater.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if v, err := u.Install(h.ctx, "", "stable"); err != nil || v != "1.0.0" {
				t.Fatalf("Install = %q, %v", v, err)
			}
			got, err := os.ReadFile(filepath.Join(h.state, "versions", "1.0.0", "vigil-agent"))
			if err != nil || !bytes.Equal(got, signed(t)) {
				t.Fatalf("installed agent is not the signed build (%v)", err)
			}
			var adopted, downloaded bool
			for _, e := range h.eventsSeen() {
				if e.Phase == wire.PhaseDownload && e.Result == wire.ResultOK {
					adopted = adopted || e.Reason == "bundled build matches the signed target"
					downloaded = downloaded || e.Reason == ""
				}
			}
			if adopted != tt.adopted || downloaded == tt.adopted {
				t.Errorf("bundled build used: %v, downloaded: %v; want used %v (events %v)", adopted, downloaded, tt.adopted, h.eventsSeen())
			}
			if left, _ := filepath.Glob(filepath.Join(h.state, "download", "*")); len(left) > 0 {
				t.Errorf("files left in download/: %v", left)
			}
		})
	}
}
