package main

import (
	"bytes"
	"os"
	"strconv"
	"testing"
)

// TestReleaseStartupPages drops the mappings of the test binary's code and read-only data, then
// keeps running that code: the pages fault back in.
func TestReleaseStartupPages(t *testing.T) {
	before := rssFileKB(t)
	releaseStartupPages()
	after := rssFileKB(t)
	t.Logf("RssFile %d kB → %d kB", before, after)
	if after > before {
		t.Errorf("RssFile grew from %d to %d kB", before, after)
	}
	// Code and read-only data still work.
	if o, err := parseArgs([]string{"--server", "https://x"}, func(string) string { return "" }, nil); err != nil || o.server != "https://x" {
		t.Fatalf("after releasing pages: %v", err)
	}
}

func rssFileKB(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip(err)
	}
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		if f := bytes.Fields(line); len(f) >= 2 && string(f[0]) == "RssFile:" {
			n, _ := strconv.Atoi(string(f[1]))
			return n
		}
	}
	t.Skip("no RssFile in /proc/self/status")
	return 0
}
