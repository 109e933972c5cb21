package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// simBudget is the simulator's own CPU allowance per simulated report: at most this, it leaves
// the cores to the server it measures.
const simBudget = 50 * time.Microsecond

// stats counts what the hosts do. Rates and latencies count only inside the measured window;
// errors and totals count over the whole run.
type stats struct {
	measuring atomic.Bool

	totalCollected, totalAcked atomic.Int64

	collectedW, ackedW, requestsW, replayBatchesW, rawBytesW, wireBytesW atomic.Int64
	lat, pollLat                                                         hist

	mu   sync.Mutex
	errs map[string]int64

	enrolled, dropped, outageAttempts, wentSilent atomic.Int64
	enrollTime                                    time.Duration
}

func newStats() *stats { return &stats{errs: map[string]int64{}} }

func (st *stats) collected() {
	st.totalCollected.Add(1)
	if st.measuring.Load() {
		st.collectedW.Add(1)
	}
}

// request records one acknowledged POST: its latency and sizes.
func (st *stats) request(lat time.Duration, raw, wire int) {
	if st.measuring.Load() {
		st.requestsW.Add(1)
		st.rawBytesW.Add(int64(raw))
		st.wireBytesW.Add(int64(wire))
		st.lat.Record(lat)
	}
}

// acked records n reports acknowledged by one answer.
func (st *stats) acked(n int, replay bool) {
	st.totalAcked.Add(int64(n))
	if st.measuring.Load() {
		st.ackedW.Add(int64(n))
		if replay {
			st.replayBatchesW.Add(1)
		}
	}
}

func (st *stats) poll(lat time.Duration) {
	if st.measuring.Load() {
		st.pollLat.Record(lat)
	}
}

func (st *stats) addError(kind string) {
	st.mu.Lock()
	st.errs[kind]++
	st.mu.Unlock()
}

// Result is what a run measured. Latencies are of POST /api/v1/reports requests that were
// answered 200, from sending to the ack; CPU per report divides by reports acknowledged.
type Result struct {
	Hosts                 int     `json:"hosts"`
	EnrolledThisRun       int64   `json:"enrolled_this_run"`
	EnrollSeconds         float64 `json:"enroll_seconds"`
	IntervalSeconds       float64 `json:"interval_seconds"`
	WindowSeconds         float64 `json:"window_seconds"`
	ExpectedReportsPerSec float64 `json:"expected_reports_per_s"`
	ReportsPerSec         float64 `json:"reports_per_s"`
	RequestsPerSec        float64 `json:"requests_per_s"`
	CollectedInWindow     int64   `json:"collected_in_window"`
	AckedInWindow         int64   `json:"acked_in_window"`
	ReplayBatches         int64   `json:"replay_batches"`
	AvgReportBytes        float64 `json:"avg_report_bytes"`
	// AvgRequestGzipBytes is the average request body on the wire: gzipped from 4 KiB, as the
	// agent sends it (the name predates uncompressed single reports).
	AvgRequestGzipBytes float64 `json:"avg_request_gzip_bytes"`

	LatencyP50Ms  float64 `json:"latency_p50_ms"`
	LatencyP99Ms  float64 `json:"latency_p99_ms"`
	LatencyMaxMs  float64 `json:"latency_max_ms"`
	LatencyMeanMs float64 `json:"latency_mean_ms"`
	Polls         uint64  `json:"updater_polls"`
	PollP50Ms     float64 `json:"updater_poll_p50_ms"`
	PollP99Ms     float64 `json:"updater_poll_p99_ms"`

	Errors         map[string]int64 `json:"errors"`
	Status429      int64            `json:"status_429"`
	Status503      int64            `json:"status_503"`
	OutageAttempts int64            `json:"outage_attempts"`
	WentSilent     int64            `json:"went_silent"`
	Dropped        int64            `json:"dropped_refused"`

	ServerCPUPerReportUs   *float64 `json:"server_cpu_us_per_report,omitempty"`
	ServerCPUPct           *float64 `json:"server_cpu_pct_of_one_core,omitempty"`
	PostgresCPUPerReportUs *float64 `json:"postgres_cpu_us_per_report,omitempty"`
	PostgresCPUPct         *float64 `json:"postgres_cpu_pct_of_one_core,omitempty"`
	SimCPUPerReportUs      float64  `json:"sim_cpu_us_per_report"`
	SimCPUPct              float64  `json:"sim_cpu_pct_of_one_core"`
	SimWithinBudget        bool     `json:"sim_within_budget"`

	FDLimit     uint64 `json:"fd_limit"`
	PeakFDs     int64  `json:"peak_open_fds"`
	SimRSSBytes uint64 `json:"sim_rss_bytes"`

	TotalCollected int64 `json:"total_collected"`
	TotalAcked     int64 `json:"total_acked"`
	Unacked        int   `json:"unacked_at_end"`

	HostsAtEnd []HostEnd `json:"-"`
}

// HostEnd is one host's state after the run (tests check it against the server).
type HostEnd struct {
	HostID   string
	LastSeq  uint64
	Unacked  int
	Replayed int
	InOutage bool
}

// meter measures CPU of the simulator, the server and PostgreSQL over the window.
type meter struct {
	s         *Sim
	serverPID int
	postgres  bool
	fdLimit   uint64
	peakFDs   atomic.Int64

	t0, t1       time.Time
	self0, self1 time.Duration
	srv0, srv1   time.Duration
	srvErr       error
	pg0, pg1     cpuSnapshot
	profile      *os.File
}

func newMeter(s *Sim) *meter {
	return &meter{s: s, serverPID: s.cfg.ServerPID, postgres: s.cfg.PostgresCPU, fdLimit: s.cfg.FDLimit}
}

// sampleFDs records the peak of open descriptors every 10 s (reading /proc/self/fd costs ~1 µs
// an entry: every second it would be a visible share of the simulator's own CPU).
func (m *meter) sampleFDs(ctx context.Context) {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		if n := int64(openFDs()); n > m.peakFDs.Load() {
			m.peakFDs.Store(n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (m *meter) begin() {
	if p := m.s.cfg.CPUProfile; p != "" {
		if f, err := os.Create(p); err == nil && pprof.StartCPUProfile(f) == nil {
			m.profile = f
		}
	}
	m.t0 = time.Now()
	m.self0 = selfCPU()
	if m.serverPID > 0 {
		m.srv0, m.srvErr = procCPU(m.serverPID)
	}
	if m.postgres {
		m.pg0 = snapshotCPU(pidsByName("postgres"))
	}
	m.s.stats.measuring.Store(true)
}

func (m *meter) end() {
	if n := int64(openFDs()); n > m.peakFDs.Load() {
		m.peakFDs.Store(n)
	}
	m.s.stats.measuring.Store(false)
	m.t1 = time.Now()
	if m.profile != nil {
		pprof.StopCPUProfile()
		m.profile.Close()
	}
	m.self1 = selfCPU()
	if m.serverPID > 0 && m.srvErr == nil {
		m.srv1, m.srvErr = procCPU(m.serverPID)
	}
	if m.postgres {
		m.pg1 = snapshotCPU(pidsByName("postgres"))
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (m *meter) result() *Result {
	st := m.s.stats
	secs := m.t1.Sub(m.t0).Seconds()
	acked := st.ackedW.Load()
	r := &Result{
		Hosts: len(m.s.hosts), EnrolledThisRun: st.enrolled.Load(), EnrollSeconds: st.enrollTime.Seconds(),
		IntervalSeconds: m.s.cfg.Interval.Seconds(), WindowSeconds: secs,
		ExpectedReportsPerSec: float64(m.s.cfg.Hosts) / m.s.cfg.Interval.Seconds(),
		CollectedInWindow:     st.collectedW.Load(), AckedInWindow: acked, ReplayBatches: st.replayBatchesW.Load(),
		LatencyP50Ms: ms(st.lat.Quantile(0.5)), LatencyP99Ms: ms(st.lat.Quantile(0.99)), LatencyMaxMs: ms(st.lat.Max()),
		LatencyMeanMs: ms(st.lat.Mean()),
		Polls:         st.pollLat.Count(), PollP50Ms: ms(st.pollLat.Quantile(0.5)), PollP99Ms: ms(st.pollLat.Quantile(0.99)),
		OutageAttempts: st.outageAttempts.Load(), WentSilent: st.wentSilent.Load(), Dropped: st.dropped.Load(),
		FDLimit: m.fdLimit, PeakFDs: m.peakFDs.Load(), SimRSSBytes: selfRSS(),
		TotalCollected: st.totalCollected.Load(), TotalAcked: st.totalAcked.Load(),
	}
	st.mu.Lock()
	r.Errors = maps.Clone(st.errs)
	st.mu.Unlock()
	r.Status429, r.Status503 = r.Errors["http_429"], r.Errors["http_503"]
	if secs > 0 {
		r.ReportsPerSec = float64(acked) / secs
		r.RequestsPerSec = float64(st.requestsW.Load()) / secs
	}
	if n := st.requestsW.Load(); n > 0 {
		r.AvgRequestGzipBytes = float64(st.wireBytesW.Load()) / float64(n)
	}
	if acked > 0 {
		r.AvgReportBytes = float64(st.rawBytesW.Load()) / float64(acked)
		per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 / float64(acked) }
		pct := func(d time.Duration) float64 { return d.Seconds() / secs * 100 }
		self := m.self1 - m.self0
		r.SimCPUPerReportUs, r.SimCPUPct = per(self), pct(self)
		r.SimWithinBudget = self <= time.Duration(acked)*simBudget
		if m.serverPID > 0 && m.srvErr == nil {
			v, p := per(m.srv1-m.srv0), pct(m.srv1-m.srv0)
			r.ServerCPUPerReportUs, r.ServerCPUPct = &v, &p
		}
		if m.postgres && len(m.pg1) > 0 {
			d := cpuSince(m.pg0, m.pg1)
			v, p := per(d), pct(d)
			r.PostgresCPUPerReportUs, r.PostgresCPUPct = &v, &p
		}
	}
	return r
}

// writeTable prints the summary for people.
func (r *Result) writeTable(w io.Writer) {
	opt := func(v *float64, unit string) string {
		if v == nil {
			return "n/a"
		}
		return fmt.Sprintf("%.1f %s", *v, unit)
	}
	verdict := "within"
	if !r.SimWithinBudget {
		verdict = "OVER"
	}
	errs := "none"
	if len(r.Errors) > 0 {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(r.Errors)) {
			parts = append(parts, fmt.Sprintf("%s=%d", k, r.Errors[k]))
		}
		errs = strings.Join(parts, " ")
	}
	fmt.Fprintf(w, "vigil-sim: %d hosts, interval %.0fs, window %.1fs (enrolled %d this run in %.1fs)\n",
		r.Hosts, r.IntervalSeconds, r.WindowSeconds, r.EnrolledThisRun, r.EnrollSeconds)
	rows := [][2]string{
		{"reports/s acknowledged", fmt.Sprintf("%.1f (fleet nominal %.1f)", r.ReportsPerSec, r.ExpectedReportsPerSec)},
		{"requests/s", fmt.Sprintf("%.1f (%d replay batches)", r.RequestsPerSec, r.ReplayBatches)},
		{"report size", fmt.Sprintf("%.0f B JSON, %.0f B on the wire per request (gzip from 4 KiB, as the agent)", r.AvgReportBytes, r.AvgRequestGzipBytes)},
		{"latency p50 / p99 / max", fmt.Sprintf("%.1f / %.1f / %.1f ms (mean %.1f)", r.LatencyP50Ms, r.LatencyP99Ms, r.LatencyMaxMs, r.LatencyMeanMs)},
		{"errors", errs},
		{"429 / 503", fmt.Sprintf("%d / %d", r.Status429, r.Status503)},
		{"churn", fmt.Sprintf("%d went silent, %d outage attempts held back, %d refused reports dropped", r.WentSilent, r.OutageAttempts, r.Dropped)},
		{"server CPU per report", opt(r.ServerCPUPerReportUs, "µs") + " (" + opt(r.ServerCPUPct, "% of a core") + ")"},
		{"PostgreSQL CPU per report", opt(r.PostgresCPUPerReportUs, "µs") + " (" + opt(r.PostgresCPUPct, "% of a core") + ")"},
		{"simulator CPU per report", fmt.Sprintf("%.1f µs (%.1f%% of a core): %s the %s budget", r.SimCPUPerReportUs, r.SimCPUPct, verdict, simBudget)},
		{"file descriptors", fmt.Sprintf("peak %d open, limit %d", r.PeakFDs, r.FDLimit)},
		{"simulator RSS", fmt.Sprintf("%.1f MB (%.1f KB per host)", float64(r.SimRSSBytes)/1e6, float64(r.SimRSSBytes)/1e3/float64(max(r.Hosts, 1)))},
		{"delivery", fmt.Sprintf("%d collected, %d acknowledged, %d unacknowledged at the end", r.TotalCollected, r.TotalAcked, r.Unacked)},
	}
	if r.Polls > 0 {
		rows = append(rows, [2]string{"updater polls", fmt.Sprintf("%d, p50 %.1f ms, p99 %.1f ms", r.Polls, r.PollP50Ms, r.PollP99Ms)})
	}
	for _, row := range rows {
		fmt.Fprintf(w, "  %-27s %s\n", row[0], row[1])
	}
}

func (r *Result) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
