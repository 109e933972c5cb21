// Package benchout is the JSON the benchmark drivers under e2e/benchcmd write into make bench's
// output directory (bench-out/) and benchcharts reads to draw docs/img/bench/*.svg: one file per
// driver, each with the machine it ran on, so every chart says where and when its figures were
// measured. Writers and the reader share these types, so a field renamed on one side is a
// compile error on the other.
package benchout

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// Machine describes where and when a driver ran.
type Machine struct {
	CPU   string `json:"cpu"`   // model name from /proc/cpuinfo
	Cores int    `json:"cores"` // runtime.NumCPU
	Go    string `json:"go"`    // runtime.Version of the driver
	// Start and End bound the run (UTC); LoadStart and LoadEnd are the 1-minute load averages
	// then (the machine is shared: a reader weighs the figures with them).
	Start     time.Time `json:"start"`
	End       time.Time `json:"end,omitzero"`
	LoadStart float64   `json:"load_start"`
	LoadEnd   float64   `json:"load_end,omitempty"`
}

// Probe describes this machine now; call Finish when the run ends.
func Probe() Machine {
	return Machine{CPU: cpuModel(), Cores: runtime.NumCPU(), Go: runtime.Version(), Start: time.Now().UTC().Truncate(time.Second), LoadStart: load1()}
}

// Finish records the end of the run.
func (m *Machine) Finish() {
	m.End, m.LoadEnd = time.Now().UTC().Truncate(time.Second), load1()
}

// String is one line for a chart's subtitle: "2 × Intel Xeon …, 2026-12-02 17:01–17:09 UTC, load 3.1–5.0".
func (m Machine) String() string {
	s := fmt.Sprintf("%d × %s, %s", m.Cores, m.CPU, m.Start.Format("2006-01-02 15:04"))
	if !m.End.IsZero() {
		s += "–" + m.End.Format("15:04")
	}
	s += " UTC"
	if m.LoadEnd != 0 {
		s += fmt.Sprintf(", load %.1f–%.1f", m.LoadStart, m.LoadEnd)
	} else {
		s += fmt.Sprintf(", load %.1f", m.LoadStart)
	}
	return s
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	return runtime.GOARCH
}

func load1() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	var l float64
	fmt.Sscanf(string(b), "%f", &l)
	return l
}

// Ingest is ingestbench's output (file IngestFile): saturated ingest, 32 busy connections.
type Ingest struct {
	Machine Machine `json:"machine"`
	// Workers is the number of keep-alive connections; DurationS the measured window per run.
	Workers   int         `json:"workers"`
	DurationS float64     `json:"duration_s"`
	Runs      []IngestRun `json:"runs"`
}

// IngestRun is one measurement: a fresh server with Store, Hosts enrolled, Batch reports per request.
type IngestRun struct {
	Round         int     `json:"round"`
	Store         string  `json:"store"` // discard, sqlite or postgres
	Hosts         int     `json:"hosts"`
	Batch         int     `json:"batch"`
	ReportsPerS   float64 `json:"reports_per_s"`
	ServerUSPer   float64 `json:"server_cpu_us_per_report"`
	PostgresUSPer float64 `json:"postgres_cpu_us_per_report,omitempty"`
	Requests      int64   `json:"requests"`
	Errors        int64   `json:"errors"`
}

// Sim is simbench's output (file SimFile): vigil-sim, one connection per host, at the report interval.
type Sim struct {
	Machine   Machine  `json:"machine"`
	IntervalS float64  `json:"interval_s"`
	DurationS float64  `json:"duration_s"`
	Runs      []SimRun `json:"runs"`
}

// SimRun is one vigil-sim run against a fresh server with Store.
type SimRun struct {
	Round  int    `json:"round"`
	Store  string `json:"store"` // discard, sqlite or postgres
	Client string `json:"client"`
	// Result is vigil-sim's --json output, whole; SimResult names the fields the charts read.
	Result json.RawMessage `json:"result"`
}

// SimResult is the part of vigil-sim's --json output the charts read.
type SimResult struct {
	Hosts          int              `json:"hosts"`
	ExpectedPerS   float64          `json:"expected_reports_per_s"`
	ReportsPerS    float64          `json:"reports_per_s"`
	LatencyP50Ms   float64          `json:"latency_p50_ms"`
	LatencyP99Ms   float64          `json:"latency_p99_ms"`
	LatencyMaxMs   float64          `json:"latency_max_ms"`
	Errors         map[string]int64 `json:"errors"`
	ServerUSPer    *float64         `json:"server_cpu_us_per_report"`
	PostgresUSPer  *float64         `json:"postgres_cpu_us_per_report"`
	SimUSPerReport float64          `json:"sim_cpu_us_per_report"`
}

// File names in the output directory.
const (
	IngestFile    = "ingestbench.json"
	SimFile       = "simbench.json"
	AlertFile     = "alert-bench.txt"        // `go test -bench BenchmarkEvaluationCycle` output
	FootprintFile = "footprint-series.jsonl" // footprint -series: one JSON line per process every 30 s
)

// Write writes v as indented JSON to path (creating its directory), through a temporary file so
// a reader never sees half a file.
func Write(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
