package main

import (
	"runtime/metrics"
)

// releaseAfterBytes is how much the agent allocates (its loop and its health checks together) between
// two returns of freed memory to the OS. The plain loop allocates ~27 KB a cycle, so it returns
// memory about every seventh cycle (once every 70 s at the default interval); ten health checks every
// 10 s allocate several times that, and the agent returns memory more often, so the garbage resident
// between two returns stays about the same whatever the agent runs.
const releaseAfterBytes = 192 << 10

// allocsMetric is the runtime's count of bytes allocated on the heap since the process started.
// Reading it is cheap (no stop-the-world, unlike runtime.ReadMemStats): measured by
// BenchmarkAllocatedBytes.
const allocsMetric = "/gc/heap/allocs:bytes"

// allocatedBytes returns a function that reads allocsMetric.
func allocatedBytes() func() uint64 {
	s := []metrics.Sample{{Name: allocsMetric}}
	return func() uint64 {
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
}

// releaseAfter returns an Idle hook that calls free when allocated() has grown by at least n bytes
// since the last call of free (or since the hook was made). It is not safe for concurrent use: the
// agent calls Idle from its loop only.
func releaseAfter(n uint64, allocated func() uint64, free func()) func() {
	last := allocated()
	return func() {
		if now := allocated(); now-last >= n {
			free()
			last = now // free's own allocations count towards the next release
		}
	}
}
