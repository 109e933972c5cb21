// Command reltable turns a `go test -json` run of the fault suite (and the regression tests it
// reuses) into docs/RELIABILITY.md: each fault and attack tried, how often, and the result. The
// fault tests log one "RELIABILITY {json}" line each when they pass; the reused tests are
// described here and reported with their outcome and how many cases (subtests) ran.
//
//	go test -json -count=1 ./e2e/faults/ ... | go run ./e2e/faults/reltable -o docs/RELIABILITY.md
//
// It exits non-zero, writing nothing, when any test failed or a fault test passed without its
// line, so a stale table is never committed over a failing run. It trusts its input (our own test
// output) and bounds nothing beyond bufio's line limit, raised for long test output.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Time    time.Time
	Action  string
	Package string
	Test    string
	Elapsed float64
	Output  string
}

// row is one line of the table, as the fault tests log it.
type row struct {
	Fault  string `json:"fault"`
	Tried  string `json:"tried"`
	Result string `json:"result"`
	Test   string `json:"-"`
}

// reused describes a regression test the suite reuses (it logs no RELIABILITY line).
type reused struct {
	pkg, test, fault, tried, result string
}

// details picks, for a reused test, its own log line containing this text to add to its result.
var details = map[string]string{"TestBadInputOverRouteTable": "bad requests"}

var reusedTests = []reused{
	{"github.com/vigilhq/vigil/server/app", "TestOneHostCannotStopIngestion",
		"one host holds 40 slow report bodies (red-team finding, medium)",
		"40 slow bodies from one credential while 50 hosts report every second",
		"no 503 and no silence alert for the 50; the slow host alone is alerted"},
	{"github.com/vigilhq/vigil/updater", "TestKillAtEveryJournalStep",
		"vigil-updater killed -9 at every journal step of an update, rollback and self-update",
		"one kill per step",
		"exactly one complete, linked version runs; a trial is never committed silently; an interrupted trial is rolled back, not quarantined; every outcome reaches the server exactly once"},
	{"github.com/vigilhq/vigil/updater", "TestInterruptedTrialRetried",
		"supervisor restarted during a trial",
		"interrupted trials",
		"rolled back, retried once, quarantined only after a failed gate or a second interruption"},
	{"github.com/vigilhq/vigil/server/httpapi", "TestBadInputOverRouteTable",
		"bad input over the router's own route table",
		"malformed, oversized, wrong-typed, wrong content type, unauthenticated and wrong-role requests to every route",
		"a 4xx with the JSON error shape every time; nothing written"},
	{"github.com/vigilhq/vigil/server/httpapi", "TestBruteForceAPITokens",
		"brute force of API tokens", "bad tokens from one address past the burst (30)",
		"401 for the burst, then 429 with Retry-After (a good token from there too); other addresses unaffected; each failure logged at WARN with a hash prefix, never the token"},
	{"github.com/vigilhq/vigil/server/httpapi", "TestBruteForceHostCredential",
		"brute force of host credentials", "one revoked credential retried from many addresses",
		"limited per credential while the addresses stay free for other hosts; revoked and unknown credentials answered alike"},
	{"github.com/vigilhq/vigil/server/httpapi", "TestBruteForceEnroll",
		"enrollment token flood", "bad enrollment tokens from one address past the burst",
		"the store is reached for the burst (30) only, then 429"},
	{"github.com/vigilhq/vigil/agent", "TestSpoolDiskFullDropsOldest",
		"the agent's spool disk full with several segments (256 KiB tmpfs)", "3,000 reports onto a 256 KiB disk",
		"oldest segments dropped and counted, the newest reports kept contiguous and readable after reopening"},
	{"github.com/vigilhq/vigil/server/app", "TestRolloutSurvivesRestart",
		"vigil-server stopped (gracefully) mid-rollout and restarted", "one restart at a running stage",
		"same rollout at the same stage, every host answered as before, the driver carries it to the end"},
	{"github.com/vigilhq/vigil/updater", "TestWatchdogFedWhileSupervisorAnswers",
		"systemd watchdog with a stuck supervisor loop", "the loop stops answering, then answers again",
		"WATCHDOG=1 stops while it is stuck, resumes after"},
	{"github.com/vigilhq/vigil/updater", "TestRefTimeAhead",
		"the updater's clock two days ahead (TUF reference time)", "a timestamp still valid for a day",
		"refused as expired (security error); the same metadata passes on the system clock"},
	{"github.com/vigilhq/vigil/updater", "TestRefTimeBehind",
		"the updater's clock two days behind, with replayed metadata (TUF reference time)", "a timestamp expired an hour ago, then an older version replayed",
		"the expired one accepted (a slow clock widens a freeze by its skew, as documented); the replayed older version refused: version numbers, not the clock, stop rollbacks"},
}

type testKey struct{ pkg, test string }

type outcome struct {
	action   string
	elapsed  float64
	subtests int
	lines    []string
}

func main() {
	out := flag.String("o", "", "write the table to this `file` (default stdout)")
	flag.Parse()
	if err := run(os.Stdin, *out); err != nil {
		fmt.Fprintln(os.Stderr, "reltable:", err)
		os.Exit(1)
	}
}

func run(in io.Reader, out string) error {
	results := map[testKey]*outcome{}
	get := func(k testKey) *outcome {
		if results[k] == nil {
			results[k] = &outcome{}
		}
		return results[k]
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var e event
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.Test == "" {
			continue
		}
		top, sub, _ := strings.Cut(e.Test, "/")
		o := get(testKey{e.Package, top})
		switch e.Action {
		case "output":
			o.lines = append(o.lines, e.Output)
		case "pass", "fail", "skip":
			if sub != "" {
				if e.Action == "pass" {
					o.subtests++
				}
				continue
			}
			o.action, o.elapsed = e.Action, e.Elapsed
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}

	var rows []row
	var errs []error
	var skipped []string
	keys := make([]testKey, 0, len(results))
	for k := range results {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b testKey) int { return strings.Compare(a.pkg+a.test, b.pkg+b.test) })
	for _, k := range keys {
		o := results[k]
		switch o.action {
		case "fail":
			errs = append(errs, fmt.Errorf("%s %s failed", k.pkg, k.test))
			continue
		case "skip":
			skipped = append(skipped, fmt.Sprintf("%s (%s)", k.test, skipReason(o.lines)))
			continue
		case "":
			continue
		}
		if !strings.HasSuffix(k.pkg, "/e2e/faults") {
			continue
		}
		found := false
		for _, l := range o.lines {
			_, js, ok := strings.Cut(l, "RELIABILITY ")
			if !ok {
				continue
			}
			var r row
			if err := json.Unmarshal([]byte(strings.TrimSpace(js)), &r); err != nil {
				errs = append(errs, fmt.Errorf("%s: bad RELIABILITY line: %w", k.test, err))
				continue
			}
			r.Test = fmt.Sprintf("`%s` (%.0f s)", k.test, o.elapsed)
			rows = append(rows, r)
			found = true
		}
		if !found {
			errs = append(errs, fmt.Errorf("%s passed without a RELIABILITY line", k.test))
		}
	}
	for _, r := range reusedTests {
		o := results[testKey{r.pkg, r.test}]
		if o == nil || o.action != "pass" {
			continue
		}
		tried := r.tried
		if o.subtests > 0 {
			tried = fmt.Sprintf("%s: %d cases", tried, o.subtests)
		}
		res := r.result
		if d := details[r.test]; d != "" {
			for _, l := range o.lines {
				if _, msg, ok := strings.Cut(strings.TrimSpace(l), ": "); ok && strings.Contains(msg, d) {
					res = fmt.Sprintf("%s (%s)", res, msg)
				}
			}
		}
		rows = append(rows, row{Fault: r.fault, Tried: tried, Result: res,
			Test: fmt.Sprintf("`%s` in %s (%.0f s)", r.test, strings.TrimPrefix(r.pkg, "github.com/vigilhq/vigil/"), o.elapsed)})
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if len(rows) == 0 {
		return errors.New("no results in the input: run go test -json -v on the fault suite")
	}

	var b strings.Builder
	b.WriteString(`# Reliability

What Vigil was put through, how often, and what came out. Generated by ` + "`make reliability`" + `, which
runs the fault suite (e2e/faults, real vigil-server, vigil-agent and vigil-updater processes) with
VIGIL_FAULTS=long and the regression tests it reuses, then writes this file from their results
(e2e/faults/reltable). Every row is a test that passed; a failing run writes nothing. Do not edit by hand.

"Lost" counts reports the server acknowledged (to a real agent, or to a synthetic host that posts
back to back) that are not in the store afterwards; "duplicated" counts any (host, seq) stored twice.
For emails, each notification must arrive under its own Message-ID, one email per alert.

| Fault or attack | Tried | Result | Test |
|---|---|---|---|
`)
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", cell(r.Fault), cell(r.Tried), cell(r.Result), r.Test)
	}
	b.WriteString(`
Clock jumps: the agent and the updater schedule collection, retries, backoff, the health gate
and polls with Go's monotonic clock, which a wall-clock step does not move. Their wall-clock reads
(report, outage and event times, certificate validity, TUF expiry) go through internal/wallclock,
which the fault suite's vigil_fakeclock builds (never a release) shift per process by an offset
file: the rows for TestAgentClockJumps and TestUpdaterClockJumps step real processes' clocks
without touching the host's.

Found by this suite and still open:

- On a full disk with the whole spool in one segment (the default 32 MiB spool has 4 MiB segments, so
  any spool smaller than that), nothing older can be dropped: the report being written is lost
  instead, logged and counted (TestAgentDiskFull's case).
`)
	if len(skipped) > 0 {
		b.WriteString("\nSkipped in the run that wrote this file: " + strings.Join(skipped, "; ") + ".\n")
	}
	if out == "" {
		_, err := io.WriteString(os.Stdout, b.String())
		return err
	}
	return os.WriteFile(out, []byte(b.String()), 0o644)
}

// cell escapes a table cell.
func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// skipReason returns the message a skipped test gave.
func skipReason(lines []string) string {
	for _, l := range slices.Backward(lines) {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "---") || strings.HasPrefix(l, "===") {
			continue
		}
		if _, msg, ok := strings.Cut(l, ": "); ok {
			return msg
		}
		return l
	}
	return "no reason given"
}
