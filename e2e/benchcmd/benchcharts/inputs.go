package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/vigilhq/vigil/e2e/benchcmd/internal/benchout"
)

// maxInputLine bounds one line of a benchmark's text or JSON-lines output.
const maxInputLine = 1 << 20

// storeOrder sorts series: the discard reference first, then the stores.
func storeOrder(s string) int {
	switch s {
	case "discard":
		return 0
	case "sqlite":
		return 1
	case "postgres":
		return 2
	}
	return 3
}

// storeColor keeps one colour per store across every chart.
func storeColor(s string) string {
	switch s {
	case "discard":
		return palette[0]
	case "sqlite":
		return palette[1]
	case "postgres":
		return palette[2]
	}
	return palette[3]
}

func storeName(s string) string {
	switch s {
	case "discard":
		return "discard (no storage)"
	case "sqlite":
		return "SQLite"
	case "postgres":
		return "PostgreSQL"
	}
	return s
}

func median(vs []float64) float64 {
	s := slices.Clone(vs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// group collects measurements by series key and X, and makes series of their medians with every
// measurement as a dot.
type group struct {
	order []string
	name  map[string]string
	style map[string]Style
	vals  map[string]map[float64][]float64
}

func newGroup() *group {
	return &group{name: map[string]string{}, style: map[string]Style{}, vals: map[string]map[float64][]float64{}}
}

func (g *group) add(key, name string, st Style, x, y float64) {
	if _, ok := g.vals[key]; !ok {
		g.order = append(g.order, key)
		g.name[key], g.style[key] = name, st
		g.vals[key] = map[float64][]float64{}
	}
	g.vals[key][x] = append(g.vals[key][x], y)
}

func (g *group) series() []Series {
	var out []Series
	for _, k := range g.order {
		s := Series{Name: g.name[k], Style: g.style[k]}
		xs := make([]float64, 0, len(g.vals[k]))
		for x := range g.vals[k] {
			xs = append(xs, x)
		}
		slices.Sort(xs)
		for _, x := range xs {
			ys := g.vals[k][x]
			s.Points = append(s.Points, Point{x, median(ys)})
			if len(ys) > 1 {
				for _, y := range ys {
					s.Dots = append(s.Dots, Point{x, y})
				}
			}
		}
		out = append(out, s)
	}
	return out
}

func rounds(n int) string {
	if n <= 1 {
		return "single runs"
	}
	return fmt.Sprintf("line: median of %d rounds, dots: each round", n)
}

// ingestCharts draws ingestbench's saturated throughput and server CPU per report against fleet size.
func ingestCharts(in benchout.Ingest) map[string]Chart {
	runs := slices.Clone(in.Runs)
	slices.SortStableFunc(runs, func(a, b benchout.IngestRun) int {
		return cmp.Or(cmp.Compare(storeOrder(a.Store), storeOrder(b.Store)), cmp.Compare(a.Batch, b.Batch))
	})
	batches := map[int]bool{}
	maxRound, bmin := 0, 0
	for i, r := range runs {
		batches[r.Batch], maxRound = true, max(maxRound, r.Round)
		if i == 0 || r.Batch < bmin {
			bmin = r.Batch
		}
	}
	label := func(r benchout.IngestRun) (string, string) {
		key := fmt.Sprintf("%s/%d", r.Store, r.Batch)
		if len(batches) == 1 {
			return key, storeName(r.Store)
		}
		return key, fmt.Sprintf("%s, %d/request", storeName(r.Store), r.Batch)
	}
	tp, cpu := newGroup(), newGroup()
	ingestRef := ""
	if len(batches) == 1 {
		ingestRef = storeName("discard")
	}
	for _, r := range runs {
		key, name := label(r)
		st := Style{Color: storeColor(r.Store), Dash: batchDash(r.Batch, bmin)}
		tp.add(key, name, st, float64(r.Hosts), r.ReportsPerS)
		cpu.add(key, name, st, float64(r.Hosts), r.ServerUSPer)
	}
	for _, r := range runs {
		if r.Store == "postgres" && r.PostgresUSPer > 0 {
			key, name := label(r)
			cpu.add(key+"/pg", name+": PostgreSQL backends", Style{Color: palette[4], Dash: batchDash(r.Batch, bmin)}, float64(r.Hosts), r.PostgresUSPer)
		}
	}
	sub := fmt.Sprintf("ingestbench: %d keep-alive TLS connections sending as fast as acknowledged, %gs per run\n%s", in.Workers, in.DurationS, in.Machine)
	note := rounds(maxRound) + "; stores alternate within a round; compare stores at one fleet size (same run)"
	xlog := spans(runs, func(r benchout.IngestRun) float64 { return float64(r.Hosts) })
	return map[string]Chart{
		"ingest-throughput.svg": {Title: "Saturated ingest: reports acknowledged per second", Subtitle: sub, XLabel: "enrolled hosts (fleet size)",
			YLabel: "reports/s", XLog: xlog, YZero: true, Series: tp.series(), Note: note, RatioTo: ingestRef},
		"ingest-cpu.svg": {Title: "Saturated ingest: server CPU per report", Subtitle: sub, XLabel: "enrolled hosts (fleet size)",
			YLabel: "CPU µs per acknowledged report", XLog: xlog, YZero: true, Series: cpu.series(), Note: note, RatioTo: ingestRef},
	}
}

// batchDash draws the smallest batch solid and larger ones dashed.
func batchDash(batch, smallest int) string {
	if batch == smallest {
		return ""
	}
	return dashed
}

// spans says whether X values cover at least a factor of 10 (then a log axis reads better).
func spans[T any](rs []T, x func(T) float64) bool {
	lo, hi := 0.0, 0.0
	for i, r := range rs {
		v := x(r)
		if i == 0 || v < lo {
			lo = v
		}
		hi = max(hi, v)
	}
	return lo > 0 && hi/lo >= 10
}

// simCharts draws vigil-sim's figures (one connection per host, at the report interval) against fleet size.
func simCharts(in benchout.Sim) (map[string]Chart, error) {
	type run struct {
		benchout.SimRun
		res benchout.SimResult
	}
	var runs []run
	clients := map[string]bool{}
	maxRound := 0
	for _, r := range in.Runs {
		var res benchout.SimResult
		if err := json.Unmarshal(r.Result, &res); err != nil {
			return nil, fmt.Errorf("simbench run %d %s: %w", r.Round, r.Store, err)
		}
		runs = append(runs, run{r, res})
		clients[r.Client], maxRound = true, max(maxRound, r.Round)
	}
	slices.SortStableFunc(runs, func(a, b run) int {
		return cmp.Or(cmp.Compare(storeOrder(a.Store), storeOrder(b.Store)), cmp.Compare(a.Client, b.Client))
	})
	clientDash := func(c string, clients map[string]bool) string {
		if len(clients) > 1 && c != "net/http" {
			return dashed
		}
		return ""
	}
	label := func(r run) (string, string) {
		if len(clients) == 1 {
			return r.Store, storeName(r.Store)
		}
		return r.Store + "/" + r.Client, storeName(r.Store) + " (" + r.Client + ")"
	}
	tp, cpu, lat := newGroup(), newGroup(), newGroup()
	simRef := ""
	if len(clients) == 1 {
		simRef = storeName("discard")
	}
	for _, r := range runs {
		x := float64(r.res.Hosts)
		tp.add("offered", "offered (hosts ÷ interval)", Style{Color: "#000000", Dash: dotted}, x, r.res.ExpectedPerS)
	}
	for _, r := range runs {
		key, name := label(r)
		x := float64(r.res.Hosts)
		st := Style{Color: storeColor(r.Store), Dash: clientDash(r.Client, clients)}
		tp.add(key, name, st, x, r.res.ReportsPerS)
		if r.res.ServerUSPer != nil {
			cpu.add(key, name, st, x, *r.res.ServerUSPer)
		}
	}
	for _, r := range runs {
		if key, name := label(r); r.res.PostgresUSPer != nil && r.Store == "postgres" {
			cpu.add(key+"/pg", name+": PostgreSQL backends", Style{Color: palette[4], Dash: clientDash(r.Client, clients)}, float64(r.res.Hosts), *r.res.PostgresUSPer)
		}
	}
	for _, r := range runs {
		key, name := label(r)
		lat.add(key+"/p99", name+" p99", Style{Color: storeColor(r.Store)}, float64(r.res.Hosts), r.res.LatencyP99Ms)
		lat.add(key+"/p50", name+" p50", Style{Color: storeColor(r.Store), Dash: dashed}, float64(r.res.Hosts), r.res.LatencyP50Ms)
	}
	sub := fmt.Sprintf("vigil-sim: one keep-alive TLS connection per host, a report every %gs, %gs measured window\n%s", in.IntervalS, in.DurationS, in.Machine)
	note := rounds(maxRound) + "; every store in the same run; server and simulator share the machine"
	xlog := spans(runs, func(r run) float64 { return float64(r.res.Hosts) })
	return map[string]Chart{
		"sim-throughput.svg": {Title: "Fleet simulator: reports acknowledged per second", Subtitle: sub, XLabel: "simulated hosts",
			YLabel: "reports/s", XLog: xlog, YLog: xlog, YZero: true, Series: tp.series(), Note: note},
		"sim-cpu.svg": {Title: "Fleet simulator: server CPU per report", Subtitle: sub, XLabel: "simulated hosts",
			YLabel: "CPU µs per acknowledged report", XLog: xlog, YZero: true, Series: cpu.series(), Note: note, RatioTo: simRef},
		"sim-latency.svg": {Title: "Fleet simulator: report latency, send to acknowledgement", Subtitle: sub, XLabel: "simulated hosts",
			YLabel: "latency, ms", XLog: xlog, YLog: true, Series: lat.series(), Note: note + "; dashed p50, solid p99"},
	}, nil
}

// benchLine matches a Go benchmark result line of BenchmarkEvaluationCycle, with or without the
// hosts=N level: BenchmarkEvaluationCycle/sqlite/hosts=10000/scan-idle-2   3   550000000 ns/op
var benchLine = regexp.MustCompile(`^BenchmarkEvaluationCycle/([^/\s]+)/(?:hosts=(\d+)/)?([^\s/]+?)(?:-\d+)?\s+\d+\s+([0-9.e+]+) ns/op`)

// cpuMetric matches the benchmark's own CPU time per operation (b.ReportMetric "cpu-ns/op").
var cpuMetric = regexp.MustCompile(`\s([0-9.e+]+) cpu-ns/op`)

// alertPeriod is how often each case runs in a server with default settings: the tick every
// EvalInterval (1 s), a scan every ScanInterval (10 s). Cost per period is a share of one core.
var alertPeriod = map[string]float64{"tick": 1e9, "scan-idle": 10e9, "scan-all-new": 10e9}

// alertChart reads `go test -bench BenchmarkEvaluationCycle` output; names without hosts=N are
// defaultHosts (the benchmark's fleet before it had sizes).
func alertChart(r io.Reader, defaultHosts int, machine string) (Chart, error) {
	g := newGroup()
	type key struct{ store, cas string }
	var keys []key
	seen := map[key]bool{}
	type m struct {
		k     key
		hosts float64
		pct   float64
	}
	var ms []m
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxInputLine)
	for sc.Scan() {
		sm := benchLine.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if sm == nil {
			continue
		}
		period, ok := alertPeriod[sm[3]]
		if !ok {
			continue
		}
		hosts := defaultHosts
		if sm[2] != "" {
			hosts, _ = strconv.Atoi(sm[2])
		}
		ns, err := strconv.ParseFloat(sm[4], 64)
		if err != nil {
			return Chart{}, fmt.Errorf("%q: %w", sc.Text(), err)
		}
		// The process's own CPU time when the benchmark reports it: on a loaded machine wall
		// time also counts waiting for a core.
		if cm := cpuMetric.FindStringSubmatch(sc.Text()); cm != nil {
			if ns, err = strconv.ParseFloat(cm[1], 64); err != nil {
				return Chart{}, fmt.Errorf("%q: %w", sc.Text(), err)
			}
		}
		k := key{sm[1], sm[3]}
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
		ms = append(ms, m{k, float64(hosts), 100 * ns / period})
	}
	if err := sc.Err(); err != nil {
		return Chart{}, err
	}
	if len(ms) == 0 {
		return Chart{}, errors.New("no BenchmarkEvaluationCycle result lines")
	}
	caseOrder := map[string]int{"scan-all-new": 0, "scan-idle": 1, "tick": 2}
	slices.SortStableFunc(keys, func(a, b key) int {
		return cmp.Or(cmp.Compare(caseOrder[a.cas], caseOrder[b.cas]), cmp.Compare(storeOrder(a.store), storeOrder(b.store)))
	})
	caseDash := map[string]string{"scan-all-new": "", "scan-idle": dashed, "tick": dotted}
	caseName := map[string]string{"scan-all-new": "scan, every host new (per 10 s)", "scan-idle": "scan, nothing new (per 10 s)", "tick": "tick (per 1 s)"}
	for _, k := range keys {
		for _, x := range ms {
			if x.k == k {
				g.add(k.store+"/"+k.cas, storeName(k.store)+": "+caseName[k.cas], Style{Color: storeColor(k.store), Dash: caseDash[k.cas]}, x.hosts, x.pct)
			}
		}
	}
	return Chart{Title: "Alert evaluation: CPU per period as a share of one core", Subtitle: "go test -bench BenchmarkEvaluationCycle ./server/alert/: the engine on a real store seeded with N hosts, fake clock\n" + machine,
		XLabel: "hosts", YLabel: "% of one core", XLog: true, YLog: true, Series: g.series(),
		Note: "CPU time of one cycle (cpu-ns/op; ns/op where absent) ÷ its period (tick: 1 s, scans: 10 s); line: median of -count runs, dots: each run"}, nil
}

// footprintSample is one line of footprint -series.
type footprintSample struct {
	T       float64 `json:"t_s"`
	Process string  `json:"process"`
	RssAnon float64 `json:"rss_anon_kib"`
	VmRSS   float64 `json:"vm_rss_kib"`
	Pss     float64 `json:"pss_kib"`
	CPUms   float64 `json:"cpu_ms"`
}

var processOrder = map[string]int{"vigil-agent": 0, "vigil-agent-checks": 1, "vigil-updater": 2, "node_exporter": 3}

// footprintCharts draws RssAnon and CPU share over time per process from footprint -series lines.
func footprintCharts(r io.Reader, machine string) (map[string]Chart, error) {
	var samples []footprintSample
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxInputLine)
	for n := 1; sc.Scan(); n++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var s footprintSample
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if s.Process == "" {
			return nil, fmt.Errorf("line %d: no process", n)
		}
		samples = append(samples, s)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(samples) == 0 {
		return nil, errors.New("no samples")
	}
	slices.SortStableFunc(samples, func(a, b footprintSample) int {
		oa, ok := processOrder[a.Process]
		if !ok {
			oa = len(processOrder)
		}
		ob, ok := processOrder[b.Process]
		if !ok {
			ob = len(processOrder)
		}
		return cmp.Or(cmp.Compare(oa, ob), strings.Compare(a.Process, b.Process), cmp.Compare(a.T, b.T))
	})
	mem, cpu := newGroup(), newGroup()
	tmax := 0.0
	prev := map[string]footprintSample{}
	for _, s := range samples {
		mem.add(s.Process, s.Process, Style{}, s.T/60, s.RssAnon/1024)
		// A process that restarted (the agent after an update: a new pid) starts its CPU time
		// again; that interval has no rate.
		if p, ok := prev[s.Process]; ok && s.T > p.T && s.CPUms >= p.CPUms {
			cpu.add(s.Process, s.Process, Style{}, s.T/60, 100*(s.CPUms-p.CPUms)/(1000*(s.T-p.T)))
		}
		prev[s.Process] = s
		tmax = max(tmax, s.T/60)
	}
	mem.add("budget", "agent budget: 4 MiB", Style{Color: "#000000", Dash: dotted, NoMarks: true}, 0, 4)
	mem.add("budget", "agent budget: 4 MiB", Style{Color: "#000000", Dash: dotted, NoMarks: true}, tmax, 4)
	sub := "footprint -series: RssAnon (heap, stacks, runtime: what the host cannot reclaim), every 30 s\n" + machine
	return map[string]Chart{
		"agent-memory.svg": {Title: "Host footprint: anonymous resident memory over time", Subtitle: sub, XLabel: "minutes since start",
			YLabel: "RssAnon, MiB", YZero: true, Series: mem.series(), Note: "per process, its own /proc/<pid>/status; other benchmarks ran beside it (see BENCHMARKS.md)"},
		"agent-cpu.svg": {Title: "Host footprint: CPU over time", Subtitle: "footprint -series: utime+stime between samples ÷ wall time between them\n" + machine,
			XLabel: "minutes since start", YLabel: "% of one core", YZero: true, Series: cpu.series(),
			Note: "per process, its own /proc/<pid>/stat, averaged over each 30 s between samples"},
	}, nil
}
