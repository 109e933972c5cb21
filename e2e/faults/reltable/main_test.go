package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func events(t *testing.T, evs ...event) string {
	t.Helper()
	var b strings.Builder
	for _, e := range evs {
		j, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

const faultsPkg = "github.com/vigilhq/vigil/e2e/faults"

func TestTable(t *testing.T) {
	in := events(t,
		event{Action: "output", Package: faultsPkg, Test: "TestA", Output: `    a_test.go:9: RELIABILITY {"fault":"server killed | -9","tried":"3 kills","result":"lost 0"}` + "\n"},
		event{Action: "pass", Package: faultsPkg, Test: "TestA", Elapsed: 12},
		event{Action: "output", Package: faultsPkg, Test: "TestB", Output: "    b_test.go:3: no tmpfs here\n"},
		event{Action: "skip", Package: faultsPkg, Test: "TestB"},
		event{Action: "pass", Package: "github.com/vigilhq/vigil/updater", Test: "TestKillAtEveryJournalStep/trial", Elapsed: 1},
		event{Action: "pass", Package: "github.com/vigilhq/vigil/updater", Test: "TestKillAtEveryJournalStep/commit", Elapsed: 1},
		event{Action: "pass", Package: "github.com/vigilhq/vigil/updater", Test: "TestKillAtEveryJournalStep", Elapsed: 30},
	)
	out := filepath.Join(t.TempDir(), "RELIABILITY.md")
	if err := run(strings.NewReader(in), out); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	for _, want := range []string{
		"| server killed \\| -9 | 3 kills | lost 0 | `TestA` (12 s) |",
		"one kill per step: 2 cases",
		"Skipped in the run that wrote this file: TestB (no tmpfs here).",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("table lacks %q:\n%s", want, got)
		}
	}
}

func TestFailedRunWritesNothing(t *testing.T) {
	for name, in := range map[string]string{
		"a test failed": events(t,
			event{Action: "output", Package: faultsPkg, Test: "TestA", Output: `RELIABILITY {"fault":"f","tried":"t","result":"r"}`},
			event{Action: "pass", Package: faultsPkg, Test: "TestA"},
			event{Action: "fail", Package: "github.com/vigilhq/vigil/updater", Test: "TestKillAtEveryJournalStep"}),
		"a fault test without its line": events(t, event{Action: "pass", Package: faultsPkg, Test: "TestA"}),
		"no results":                    "",
	} {
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "RELIABILITY.md")
			if err := run(strings.NewReader(in), out); err == nil {
				t.Fatal("no error")
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("a table was written: %v", err)
			}
		})
	}
}
