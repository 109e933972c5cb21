package agent

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"syscall"
	"testing"
	"time"

	"github.com/vigilhq/vigil/tlspin"
)

// BenchmarkCycle measures one agent cycle as vigil-agent runs it: collect from this host's /proc
// and /sys, spool, push the gzip-compressed batch over the kept-alive TLS connection (to an
// in-process server, whose CPU and garbage are counted too), then the Idle hook: none,
// debug.FreeOSMemory (what cmd/vigil-agent runs when 192 KiB were allocated since the last time)
// or runtime.GC, every cycle.
// cpu-ns/op is the process's CPU time a cycle, heap-resident-B the heap held in RAM after the hook,
// averaged over the cycles. Use it to see where a cycle's CPU goes (-cpuprofile) and to compare
// changes side by side; it is not the agent's footprint, whose heap is a fraction of the
// benchmark's (docs/BENCHMARKS.md, "Host footprint", round 3).
func BenchmarkCycle(b *testing.B) {
	for _, bc := range []struct {
		name string
		idle func()
	}{{"idle=none", nil}, {"idle=FreeOSMemory", debug.FreeOSMemory}, {"idle=GC", runtime.GC}} {
		b.Run(bc.name, func(b *testing.B) {
			pki := sharedPKI()
			pinned, err := tlspin.PinnedCA(pki.caPEM())
			if err != nil {
				b.Fatal(err)
			}
			a, err := New(Config{
				Server: "https://vigil.test", TLS: pinned, Dial: pipeDialer(newFakeServer(), pki),
				EnrollToken: "enroll-token-1", StateDir: b.TempDir(), Interval: time.Second,
				Version: "1.0.0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			})
			if err != nil {
				b.Fatal(err)
			}
			defer a.Close()
			ctx := context.Background()
			if err := a.enroll(ctx); err != nil {
				b.Fatal(err)
			}
			far := time.Now().Add(time.Hour)
			b.ReportAllocs()
			var heap uint64
			cpu0 := cpuTime(b)
			for b.Loop() {
				a.cycle(time.Now())
				a.deliver(ctx, far)
				if a.spool.Pending() != 0 {
					b.Fatal("report not acknowledged")
				}
				if bc.idle != nil {
					bc.idle()
				}
				heap += heapResident()
			}
			b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(heap)/float64(b.N), "heap-resident-B")
		})
	}
}

// cpuTime is the process's user+system CPU time so far: the benchmark's ns/op is wall time, which
// includes the spool's fsyncs and whatever else runs on the machine.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// heapResident is the heap the process holds in RAM: objects, unused parts of spans and free
// pages not yet returned to the OS.
func heapResident() uint64 {
	m := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"},
		{Name: "/memory/classes/heap/free:bytes"}}
	metrics.Read(m)
	return m[0].Value.Uint64() + m[1].Value.Uint64() + m[2].Value.Uint64()
}
