package collect

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vigilhq/vigil/wire"
)

// commLen is the longest comm the kernel keeps (TASK_COMM_LEN - 1); longer names are truncated.
const commLen = 15

// userHZ is the unit of /proc/<pid>/stat start times. It is 100 on every Linux architecture
// procfs supports (the same assumption prometheus/procfs makes).
const userHZ = 100

// maxTrackedPIDs bounds the instances remembered per watch entry.
const maxTrackedPIDs = 1024

// inst is one process instance: a PID and its start time in clock ticks since boot. A PID reused
// by a new process has a different start time, so the pair identifies one process.
type inst struct {
	pid   int
	start uint64
}

type procState struct {
	watches []wire.ProcessWatch
	prev    map[string][]inst // by watch label; absent = not observed yet
	cur     map[string][]inst
}

func label(w wire.ProcessWatch) string {
	if w.Exe != "" {
		return w.Exe
	}
	return w.Name
}

func (s *procState) setWatches(ws []wire.ProcessWatch) {
	s.watches = ws
	if s.prev == nil {
		s.prev, s.cur = make(map[string][]inst), make(map[string][]inst)
	}
	keep := make(map[string]bool, len(ws))
	for _, w := range ws {
		keep[label(w)] = true
	}
	for k := range s.prev {
		if !keep[k] {
			delete(s.prev, k)
		}
	}
}

// collectProcesses reports every watched process entry with its running instances, and the
// started / restarted / gone events since the previous cycle. The first cycle for an entry sets
// the baseline and emits no events.
//
// Executable paths come from /proc/<pid>/exe; when that link is not readable (an unprivileged
// agent looking at another user's process) the first word of the command line is used if it is an
// absolute path.
func (c *Collector) collectProcesses(now time.Time, r *wire.Report) error {
	ws := c.procs.watches
	if len(ws) == 0 {
		return nil
	}
	boot, err := c.boot()
	if err != nil {
		return err
	}
	needComm, needExe := false, false
	for _, w := range ws {
		needComm = needComm || w.Name != ""
		needExe = needExe || w.Exe != ""
	}
	d, err := os.Open(c.cfg.ProcRoot)
	if err != nil {
		return err
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return err
	}

	s := &c.procs
	clear(s.cur)
	buf := make([]byte, 0, 512)
	for _, n := range names {
		pid, err := strconv.Atoi(n)
		if err != nil || pid <= 0 {
			continue
		}
		var comm, exe string
		if needComm {
			if buf, err = readInto(buf, filepath.Join(c.cfg.ProcRoot, n, "comm")); err != nil {
				continue // the process exited, or is not readable
			}
			comm = string(bytes.TrimRight(buf, "\n"))
		}
		if needExe {
			exe = c.exePath(n)
		}
		var start uint64
		started := false
		for _, w := range ws {
			if !matches(w, comm, exe) {
				continue
			}
			if !started {
				if start, err = c.startTicks(n, &buf); err != nil {
					break
				}
				started = true
			}
			k := label(w)
			if len(s.cur[k]) < maxTrackedPIDs {
				s.cur[k] = append(s.cur[k], inst{pid, start})
			}
		}
	}

	for _, w := range ws {
		k := label(w)
		cur := s.cur[k]
		sort.Slice(cur, func(i, j int) bool { return cur[i].pid < cur[j].pid }) // see devices.go
		p := wire.Process{Name: k, Running: len(cur)}
		for _, in := range cur[:min(len(cur), wire.MaxPIDs)] {
			p.Instances = append(p.Instances, wire.ProcInst{PID: in.pid, StartTime: ticksTime(boot, in.start)})
		}
		if len(r.Processes) < wire.MaxProcesses {
			r.Processes = append(r.Processes, p)
		}
		prev, seen := s.prev[k]
		if seen {
			r.Events = appendEvents(r.Events, k, prev, cur, now)
		}
		s.prev[k] = append(prev[:0], cur...)
	}
	return nil
}

// appendEvents compares two sorted instance lists. Instances that disappeared and appeared are
// paired, oldest PID first, into restarts (a PID change or the same PID with a new start time);
// the remaining new ones are starts, the remaining old ones are gone.
func appendEvents(ev []wire.ProcEvent, name string, prev, cur []inst, now time.Time) []wire.ProcEvent {
	var gone, born []inst
	for _, p := range prev {
		if !slices.Contains(cur, p) {
			gone = append(gone, p)
		}
	}
	for _, c := range cur {
		if !slices.Contains(prev, c) {
			born = append(born, c)
		}
	}
	add := func(kind string, pid int) {
		if len(ev) < wire.MaxEvents {
			ev = append(ev, wire.ProcEvent{Name: name, Kind: kind, PID: pid, Time: now})
		}
	}
	n := min(len(gone), len(born))
	for i := range n {
		add(wire.ProcRestarted, born[i].pid)
	}
	for _, b := range born[n:] {
		add(wire.ProcStarted, b.pid)
	}
	for _, g := range gone[n:] {
		add(wire.ProcGone, g.pid)
	}
	return ev
}

func matches(w wire.ProcessWatch, comm, exe string) bool {
	if w.Exe != "" {
		return exe == w.Exe
	}
	name := w.Name
	if len(name) > commLen {
		name = name[:commLen]
	}
	return comm == name
}

func (c *Collector) exePath(pid string) string {
	exe, err := os.Readlink(filepath.Join(c.cfg.ProcRoot, pid, "exe"))
	if err == nil {
		return strings.TrimSuffix(exe, " (deleted)") // the binary was replaced, as by a package upgrade
	}
	if !errors.Is(err, os.ErrPermission) {
		return ""
	}
	cmd, err := os.ReadFile(filepath.Join(c.cfg.ProcRoot, pid, "cmdline"))
	if err != nil {
		return ""
	}
	arg0, _, _ := bytes.Cut(cmd, []byte{0})
	if len(arg0) == 0 || arg0[0] != '/' {
		return ""
	}
	return string(arg0)
}

// startTicks reads field 22 of /proc/<pid>/stat, the start time in clock ticks since boot.
func (c *Collector) startTicks(pid string, buf *[]byte) (uint64, error) {
	var err error
	if *buf, err = readInto(*buf, filepath.Join(c.cfg.ProcRoot, pid, "stat")); err != nil {
		return 0, err
	}
	// The comm field may contain spaces and parentheses: fields are counted after the last ')'.
	i := bytes.LastIndexByte(*buf, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed stat of pid %s", pid)
	}
	fields := bytes.Fields((*buf)[i+1:])
	const startField = 22 - 3 // fields 1 (pid) and 2 (comm) precede the ')'; index from 0
	if len(fields) <= startField {
		return 0, fmt.Errorf("short stat of pid %s", pid)
	}
	return strconv.ParseUint(string(fields[startField]), 10, 64)
}

func ticksTime(boot time.Time, ticks uint64) time.Time {
	return boot.Add(time.Duration(ticks) * (time.Second / userHZ))
}

// readInto reads a small file (at most 64 KiB) into buf, reusing its capacity.
func readInto(buf []byte, path string) ([]byte, error) { return readFileInto(buf, path, 64<<10) }

// readFileInto reads the file at path into buf, reusing its capacity, and fails on a file of limit
// bytes or more.
func readFileInto(buf []byte, path string, limit int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return buf[:0], err
	}
	defer f.Close()
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			if cap(buf) >= limit {
				return buf, fmt.Errorf("%s: too large", path)
			}
			buf = slices.Grow(buf, max(cap(buf), 512))
		}
		n, err := f.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil {
			if errors.Is(err, io.EOF) {
				return buf, nil
			}
			return buf, err
		}
		if n == 0 {
			return buf, nil
		}
	}
}
