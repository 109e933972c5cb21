package main

import (
	"runtime"
	"testing"
)

func TestReleaseAfter(t *testing.T) {
	var allocated uint64
	frees := 0
	idle := releaseAfter(100, func() uint64 { return allocated }, func() { frees++; allocated += 7 })
	for _, step := range []struct {
		alloc uint64
		want  int
	}{
		{0, 0},    // nothing allocated
		{60, 0},   // 60 since the start
		{39, 0},   // 99
		{1, 1},    // 100: release; free's own 7 bytes count towards the next
		{92, 1},   // 92 + 7 = 99 since the release
		{1, 2},    // 100
		{1000, 3}, // a burst: one release, however large
		{0, 3},
	} {
		allocated += step.alloc
		idle()
		if frees != step.want {
			t.Fatalf("after allocating %d more: %d releases, want %d", step.alloc, frees, step.want)
		}
	}
}

// TestAllocatedBytesCounts checks that allocsMetric counts what the process allocates.
func TestAllocatedBytesCounts(t *testing.T) {
	read := allocatedBytes()
	before := read()
	for range 16 {
		sink = make([]byte, 64<<10)
	}
	if got := read() - before; got < 16*64<<10 {
		t.Fatalf("allocated %d bytes, metric grew by %d", 16*64<<10, got)
	}
}

var sink []byte

// BenchmarkAllocatedBytes measures the Idle hook's own cost when it does not release: one read of
// allocsMetric, beside runtime.ReadMemStats (which stops the world) for comparison.
func BenchmarkAllocatedBytes(b *testing.B) {
	b.Run("metrics.Read", func(b *testing.B) {
		read := allocatedBytes()
		b.ReportAllocs()
		for b.Loop() {
			read()
		}
	})
	b.Run("ReadMemStats", func(b *testing.B) {
		var m runtime.MemStats
		b.ReportAllocs()
		for b.Loop() {
			runtime.ReadMemStats(&m)
		}
	})
}
