package main

import (
	"context"
	"encoding/json"
	"os"
	"sync"
	"time"
)

// seriesEvery is the spacing of the -series samples.
const seriesEvery = 30 * time.Second

// seriesLine is one line of the -series file: one process at one moment. Other tools (the chart of
// agent memory over time) read exactly these fields; keep them.
type seriesLine struct {
	T       int64  `json:"t_s"`          // seconds since the driver started the processes
	Process string `json:"process"`      // vigil-agent, vigil-agent-checks, vigil-updater or node_exporter
	Anon    int64  `json:"rss_anon_kib"` // RssAnon
	RSS     int64  `json:"vm_rss_kib"`   // VmRSS
	Pss     int64  `json:"pss_kib"`      // Pss from smaps_rollup
	CPU     int64  `json:"cpu_ms"`       // utime+stime since the process started
}

// seriesProc names a measured process; pid is looked up at each sample (the updater replaces its
// agent on an update).
type seriesProc struct {
	name string
	pid  func() int
}

// writeSeries appends one line per process to path every seriesEvery from begin, until stop is
// called or ctx is done. A process not found at a sample is left out of it.
func writeSeries(ctx context.Context, path string, begin time.Time, procs []seriesProc) (stop func(), err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		enc := json.NewEncoder(f)
		for next := begin.Add(seriesEvery); ; next = next.Add(seriesEvery) {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(next)):
			}
			t := int64(time.Since(begin).Round(time.Second).Seconds())
			for _, p := range procs {
				s := measure(p.pid())
				if s.err != nil {
					continue
				}
				enc.Encode(seriesLine{T: t, Process: p.name, Anon: s.anonKB, RSS: s.rssKB, Pss: s.pssKB, CPU: s.cpu.Milliseconds()})
			}
		}
	}()
	return func() { cancel(); wg.Wait(); f.Close() }, nil
}
