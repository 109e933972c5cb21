// Command benchcharts draws the SVG charts of docs/BENCHMARKS.md from what make bench wrote into
// its output directory (package benchout's files): saturated ingest and the fleet simulator
// against fleet size per store and for the discard reference, latency percentiles, alert
// evaluation cost against fleet size, and the host footprint over time. Each chart is a
// standalone SVG (no script, no external reference) whose bytes depend only on its input, so a
// rerun on the same data changes nothing in git. An input that is missing is skipped with a note;
// one that is malformed is an error.
//
// It also writes the medians behind each chart as Markdown tables (-tables, default
// <in>/tables.md), to quote in docs/BENCHMARKS.md beside the charts.
//
//	go run ./e2e/benchcmd/benchcharts [-in bench-out] [-out docs/img/bench] [-tables FILE]
//	go run ./e2e/benchcmd/benchcharts -probe bench-out/machine.json   # record the machine at the start of a run
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vigilhq/vigil/e2e/benchcmd/internal/benchout"
)

// maxInputBytes bounds each input file.
const maxInputBytes = 64 << 20

// machineFile records the machine at the start of make bench, for the charts whose driver
// writes no machine of its own (the alert benchmark's text, the footprint series).
const machineFile = "machine.json"

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("benchcharts", flag.ContinueOnError)
	fl.SetOutput(stderr)
	in := fl.String("in", "bench-out", "directory make bench wrote its results to")
	out := fl.String("out", "docs/img/bench", "directory to write the SVG charts to")
	tables := fl.String("tables", "", "write the figures behind the charts as Markdown tables to this file (default <in>/tables.md)")
	probe := fl.String("probe", "", "only write this machine's description (CPU, cores, time, load) to this file")
	alertHosts := fl.Int("alert-default-hosts", 100_000, "hosts of a BenchmarkEvaluationCycle result whose name has no hosts=N")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if *probe != "" {
		if err := benchout.Write(*probe, benchout.Probe()); err != nil {
			fmt.Fprintln(stderr, "benchcharts:", err)
			return 1
		}
		return 0
	}
	charts, notes, err := build(*in, *alertHosts)
	for _, n := range notes {
		fmt.Fprintln(stdout, n)
	}
	if err != nil {
		fmt.Fprintln(stderr, "benchcharts:", err)
		return 1
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintln(stderr, "benchcharts:", err)
		return 1
	}
	var md strings.Builder
	for _, name := range slices.Sorted(maps.Keys(charts)) {
		p := filepath.Join(*out, name)
		if err := os.WriteFile(p, charts[name].SVG(), 0o644); err != nil {
			fmt.Fprintln(stderr, "benchcharts:", err)
			return 1
		}
		fmt.Fprintln(stdout, "wrote", p)
		md.WriteString(charts[name].Markdown(name))
	}
	if *tables == "" {
		*tables = filepath.Join(*in, "tables.md")
	}
	if len(charts) > 0 {
		if err := os.WriteFile(*tables, []byte(md.String()), 0o644); err != nil {
			fmt.Fprintln(stderr, "benchcharts:", err)
			return 1
		}
		fmt.Fprintln(stdout, "wrote", *tables)
	}
	return 0
}

// build reads every input present in dir and returns the charts by file name, with a note for
// each input that was missing.
func build(dir string, alertHosts int) (map[string]Chart, []string, error) {
	charts := map[string]Chart{}
	var notes []string
	machine := "machine not recorded"
	var m benchout.Machine
	switch err := readJSON(filepath.Join(dir, machineFile), &m); {
	case err == nil:
		machine = m.String()
	case !errors.Is(err, fs.ErrNotExist):
		return nil, nil, err
	}
	add := func(cs map[string]Chart) { maps.Copy(charts, cs) }

	var ing benchout.Ingest
	switch err := readJSON(filepath.Join(dir, benchout.IngestFile), &ing); {
	case errors.Is(err, fs.ErrNotExist):
		notes = append(notes, "skipped: no "+benchout.IngestFile)
	case err != nil:
		return nil, notes, err
	default:
		add(ingestCharts(ing))
	}

	var sim benchout.Sim
	switch err := readJSON(filepath.Join(dir, benchout.SimFile), &sim); {
	case errors.Is(err, fs.ErrNotExist):
		notes = append(notes, "skipped: no "+benchout.SimFile)
	case err != nil:
		return nil, notes, err
	default:
		cs, err := simCharts(sim)
		if err != nil {
			return nil, notes, err
		}
		add(cs)
	}

	if f, err := openInput(filepath.Join(dir, benchout.AlertFile)); errors.Is(err, fs.ErrNotExist) {
		notes = append(notes, "skipped: no "+benchout.AlertFile)
	} else if err != nil {
		return nil, notes, err
	} else {
		c, err := alertChart(f, alertHosts, machine)
		f.Close()
		if err != nil {
			return nil, notes, fmt.Errorf("%s: %w", benchout.AlertFile, err)
		}
		charts["alert-eval.svg"] = c
	}

	if f, err := openInput(filepath.Join(dir, benchout.FootprintFile)); errors.Is(err, fs.ErrNotExist) {
		notes = append(notes, "skipped: no "+benchout.FootprintFile)
	} else if err != nil {
		return nil, notes, err
	} else {
		cs, err := footprintCharts(f, machine)
		f.Close()
		if err != nil {
			return nil, notes, fmt.Errorf("%s: %w", benchout.FootprintFile, err)
		}
		add(cs)
	}
	return charts, notes, nil
}

type limitedFile struct {
	io.Reader
	f *os.File
}

func (l limitedFile) Close() error { return l.f.Close() }

func openInput(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	return limitedFile{io.LimitReader(f, maxInputBytes), f}, nil
}

func readJSON(path string, v any) error {
	f, err := openInput(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := json.NewDecoder(f).Decode(v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
