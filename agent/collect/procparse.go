package collect

import (
	"bytes"
	"errors"
	"fmt"
)

// Small parsers for the /proc files read every cycle. They read into buffers the collector keeps
// and allocate nothing in the steady state (device and interface names are interned), where
// procfs's general parsers allocate a scanner, a string per field and a map per call.

// maxProcFileBytes bounds the read of /proc/diskstats, /proc/meminfo and /proc/net/dev.
const maxProcFileBytes = 4 << 20

// names interns the device and interface names seen, so a cycle does not allocate them again.
// It is bounded: past maxNames distinct names, new ones are returned uninterned.
type names map[string]string

const maxNames = 4096

func (n names) intern(b []byte) string {
	if s, ok := n[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(n) < maxNames {
		n[s] = s
	}
	return s
}

// fields splits line on spaces and tabs into dst, reusing its capacity.
func fields(dst [][]byte, line []byte) [][]byte {
	dst = dst[:0]
	for {
		line = bytes.TrimLeft(line, " \t\n")
		if len(line) == 0 {
			return dst
		}
		i := bytes.IndexAny(line, " \t\n")
		if i < 0 {
			i = len(line)
		}
		dst = append(dst, line[:i])
		line = line[i:]
	}
}

// parseUint parses a decimal field.
func parseUint(b []byte) (uint64, error) {
	v, rest, err := nextUint(b)
	if err == nil && (len(b) == 0 || len(bytes.TrimSpace(rest)) != 0) {
		err = fmt.Errorf("not a number: %q", b)
	}
	return v, err
}

// diskStat is one line of /proc/diskstats.
type diskStat struct {
	name                           string
	readIOs, readSectors, writeIOs uint64
	writeSectors, ioTicks          uint64
}

// parseDiskstats appends the devices of /proc/diskstats (proc(5): major minor name, then the
// counters; 14 fields at least) to dst.
func parseDiskstats(dst []diskStat, data []byte, scratch [][]byte, in names) ([]diskStat, [][]byte, error) {
	for line := range bytes.Lines(data) {
		scratch = fields(scratch, line)
		if len(scratch) == 0 {
			continue
		}
		if len(scratch) < 14 {
			return dst, scratch, fmt.Errorf("parse diskstats line %q: %d fields", bytes.TrimSpace(line), len(scratch))
		}
		var v [5]uint64
		for i, f := range [5]int{3, 5, 7, 9, 12} {
			var err error
			if v[i], err = parseUint(scratch[f]); err != nil {
				return dst, scratch, fmt.Errorf("parse diskstats: %w", err)
			}
		}
		dst = append(dst, diskStat{name: in.intern(scratch[2]), readIOs: v[0], readSectors: v[1], writeIOs: v[2],
			writeSectors: v[3], ioTicks: v[4]})
	}
	return dst, scratch, nil
}

// memInfo holds the /proc/meminfo fields the collector uses, in kB; has tells which were present.
type memInfo struct {
	total, free, available, buffers, cached, swapTotal, swapFree uint64
	hasTotal, hasAvailable                                       bool
}

// parseMeminfo reads the lines "Key:   value kB" of /proc/meminfo.
func parseMeminfo(data []byte) (memInfo, error) {
	var m memInfo
	for line := range bytes.Lines(data) {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		var dst *uint64
		switch string(k) {
		case "MemTotal":
			dst, m.hasTotal = &m.total, true
		case "MemFree":
			dst = &m.free
		case "MemAvailable":
			dst, m.hasAvailable = &m.available, true
		case "Buffers":
			dst = &m.buffers
		case "Cached":
			dst = &m.cached
		case "SwapTotal":
			dst = &m.swapTotal
		case "SwapFree":
			dst = &m.swapFree
		default:
			continue
		}
		n, _, err := nextUint(bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(v), []byte("kB"))))
		if err != nil {
			return m, fmt.Errorf("parse meminfo %s: %w", k, err)
		}
		*dst = n
	}
	if !m.hasTotal {
		return m, errors.New("meminfo has no MemTotal")
	}
	return m, nil
}

// netStat is one interface of /proc/net/dev.
type netStat struct {
	name             string
	rxBytes, txBytes uint64
}

// parseNetDev appends the interfaces of /proc/net/dev (two header lines, then "name: 8 receive
// counters, 8 transmit counters") to dst.
func parseNetDev(dst []netStat, data []byte, scratch [][]byte, in names) ([]netStat, [][]byte, error) {
	for line := range bytes.Lines(data) {
		name, rest, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue // the header lines
		}
		scratch = fields(scratch, rest)
		if len(scratch) < 16 {
			return dst, scratch, fmt.Errorf("parse net/dev line %q: %d fields", bytes.TrimSpace(line), len(scratch))
		}
		rx, err := parseUint(scratch[0])
		if err != nil {
			return dst, scratch, fmt.Errorf("parse net/dev: %w", err)
		}
		tx, err := parseUint(scratch[8])
		if err != nil {
			return dst, scratch, fmt.Errorf("parse net/dev: %w", err)
		}
		dst = append(dst, netStat{name: in.intern(bytes.TrimSpace(name)), rxBytes: rx, txBytes: tx})
	}
	return dst, scratch, nil
}
