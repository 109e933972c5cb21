package updater

import (
	"context"
	"log/slog"
	"runtime"
	"runtime/debug"
)

// releaseMemory returns the heap an update cycle left behind to the operating system, once, when
// the cycle is over.
//
// A cycle allocates far more than the updater keeps: a new go-tuf updater parses every trusted
// metadata file, TLS and HTTP/2 buffers carry a download, and the checks start processes. The
// live heap afterwards is ~1-2 MB, but the Go runtime keeps the pages it grew into (at least its
// 4 MB minimum heap goal) for reuse and hands them back only slowly, so without this an updater
// that checked or installed anything holds several MiB of anonymous memory it will not touch
// until the next poll, minutes later. debug.FreeOSMemory collects and returns every free page
// at once; the next cycle faults in what it needs. It costs one collection of a small heap and
// the page faults of the next cycle: a few milliseconds of CPU per poll (docs/BENCHMARKS.md).
//
// After a cycle that downloaded a build, one collection is not enough: 4-6 MB stayed live after it
// until the next poll's collection. That is what sync.Pool's victim cache does (a pool keeps what it
// held for one more collection); the download's HTTP/2 and TLS buffers are the likely contents,
// not profiled. A first runtime.GC moves them to
// the victim cache, the collection in debug.FreeOSMemory frees them, and their pages are returned.
func releaseMemory(ctx context.Context, log *slog.Logger, downloaded bool) {
	var before, after runtime.MemStats
	debugOn := log.Enabled(ctx, slog.LevelDebug)
	if debugOn {
		runtime.ReadMemStats(&before)
	}
	if downloaded {
		runtime.GC()
	}
	debug.FreeOSMemory()
	if !debugOn {
		return
	}
	runtime.ReadMemStats(&after)
	// HeapIdle - HeapReleased is free heap still resident: what this call gives back.
	log.DebugContext(ctx, "Returned the update cycle's free heap to the OS.",
		"downloaded", downloaded, "heap_inuse_before", before.HeapInuse, "heap_free_resident_before", before.HeapIdle-before.HeapReleased,
		"heap_inuse", after.HeapInuse, "heap_free_resident", after.HeapIdle-after.HeapReleased,
		"stack_inuse", after.StackInuse, "sys", after.Sys)
}
