package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestMakefileListsEveryFaultTest: `make reliability` and `make test-faults` run only the tests
// named in the Makefile's FAULT_TESTS, and a row of docs/RELIABILITY.md exists only for a test that
// ran. So every fault test of e2e/faults and every regression test the table reuses must be
// listed there, or its row silently disappears from the next regenerated file.
func TestMakefileListsEveryFaultTest(t *testing.T) {
	mk, err := os.ReadFile(filepath.Join("..", "..", "..", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^FAULT_TESTS := (.+)$`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("no FAULT_TESTS line in the Makefile")
	}
	listed := map[string]bool{}
	for _, name := range strings.Split(string(m[1]), "|") {
		listed[strings.TrimSpace(name)] = true
	}
	files, err := filepath.Glob(filepath.Join("..", "*_test.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fault test files (%v)", err)
	}
	testFunc := regexp.MustCompile(`(?m)^func (Test\w+)\(t \*testing\.T\)`)
	var want []string
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, fm := range testFunc.FindAllSubmatch(src, -1) {
			want = append(want, string(fm[1]))
		}
	}
	for _, r := range reusedTests {
		want = append(want, r.test)
	}
	for _, name := range want {
		if !listed[name] {
			t.Errorf("%s is not in the Makefile's FAULT_TESTS: make reliability would drop its row", name)
		}
	}
}
