package collect

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/vigilhq/vigil/wire"
)

// cpuState is the previous /proc/stat CPU sample and the buffer /proc/stat is read into.
type cpuState struct {
	prev cpuTicks
	ok   bool
	buf  []byte
}

// cpuTicks are the aggregate "cpu" line of /proc/stat, in USER_HZ ticks: user, nice, system, idle,
// iowait, irq, softirq, steal. (Guest time is already included in user time.)
type cpuTicks [8]float64

// maxStatBytes bounds the read of /proc/stat (a few hundred bytes per CPU).
const maxStatBytes = 4 << 20

// parseStat reads the aggregate CPU times, the number of CPUs and the boot time (0 if absent) from
// /proc/stat (proc(5)) without allocating.
func parseStat(data []byte) (t cpuTicks, cores int, btime int64, err error) {
	sawCPU := false
	for line := range bytes.Lines(data) {
		switch {
		case bytes.HasPrefix(line, []byte("cpu ")):
			f := line[len("cpu "):]
			for i := range t {
				var v uint64
				if v, f, err = nextUint(f); err != nil {
					return t, 0, 0, fmt.Errorf("parse /proc/stat cpu line: %w", err)
				}
				t[i] = float64(v)
			}
			sawCPU = true
		case bytes.HasPrefix(line, []byte("cpu")):
			cores++
		case bytes.HasPrefix(line, []byte("btime ")):
			v, _, err := nextUint(line[len("btime "):])
			if err != nil {
				return t, 0, 0, fmt.Errorf("parse btime: %w", err)
			}
			btime = int64(v)
		}
	}
	if !sawCPU {
		return t, 0, 0, errors.New("no cpu line in /proc/stat")
	}
	return t, cores, btime, nil
}

// nextUint parses the next space-separated decimal field of b and returns the rest. A missing
// field reads as 0 (older kernels have fewer columns).
func nextUint(b []byte) (uint64, []byte, error) {
	b = bytes.TrimLeft(b, " ")
	var v uint64
	i := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		if v > (1<<64-1)/10 {
			return 0, b, errors.New("number too large")
		}
		v = v*10 + uint64(b[i]-'0')
	}
	if i < len(b) && b[i] != ' ' && b[i] != '\n' {
		return 0, b, fmt.Errorf("unexpected %q", b[i])
	}
	return v, b[i:], nil
}

func (c *Collector) collectCPU(_ time.Time, r *wire.Report) error {
	if c.procErr != nil {
		return c.procErr
	}
	var err error
	if c.cpu.buf, err = readFileInto(c.cpu.buf, c.statPath, maxStatBytes); err != nil {
		return err
	}
	cur, cores, btime, err := parseStat(c.cpu.buf)
	if err != nil {
		return err
	}
	if btime != 0 {
		c.bootTime = time.Unix(btime, 0).UTC()
	}
	prev, ok := c.cpu.prev, c.cpu.ok
	c.cpu.prev, c.cpu.ok = cur, true
	if !ok {
		return nil // first sample: no interval to compute shares over
	}
	const user, nice, system, idle, iowait, irq, softirq, steal = 0, 1, 2, 3, 4, 5, 6, 7
	var dt float64
	for i := range cur {
		dt += cur[i] - prev[i]
	}
	if dt <= 0 {
		return nil // counters went backwards or did not move
	}
	d := func(i int) float64 { return cur[i] - prev[i] }
	r.CPU = &wire.CPU{
		Cores:     cores,
		BusyPct:   pct(d(user)+d(nice)+d(system)+d(irq)+d(softirq), dt),
		IOWaitPct: pct(d(iowait), dt),
		StealPct:  pct(d(steal), dt),
	}
	return nil
}

// pct returns part/whole in percent, clamped to 0..100 and rounded to 0.01.
func pct(part, whole float64) float64 {
	if whole <= 0 || part <= 0 {
		return 0
	}
	p := part / whole * 100
	if p > 100 {
		p = 100
	}
	return round2(p)
}

func round2(v float64) float64 {
	return float64(int64(v*100+0.5)) / 100
}

func (c *Collector) collectLoad(_ time.Time, r *wire.Report) error {
	if c.procErr != nil {
		return c.procErr
	}
	l, err := c.proc.LoadAvg()
	if err != nil {
		return err
	}
	r.Load = &wire.Load{Load1: l.Load1, Load5: l.Load5, Load15: l.Load15}
	return nil
}

func (c *Collector) collectMemory(_ time.Time, r *wire.Report) error {
	if c.procErr != nil {
		return c.procErr
	}
	var err error
	if c.memBuf, err = readFileInto(c.memBuf, c.meminfoPath, maxProcFileBytes); err != nil {
		return err
	}
	m, err := parseMeminfo(c.memBuf)
	if err != nil {
		return err
	}
	total := m.total * 1024
	avail := m.available * 1024
	if !m.hasAvailable {
		// Kernels before 3.14 (and some container views) lack MemAvailable: approximate it.
		avail = (m.free + m.buffers + m.cached) * 1024
	}
	avail = min(avail, total)
	swapTotal := m.swapTotal * 1024
	r.Memory = &wire.Memory{
		TotalBytes:     total,
		AvailableBytes: avail,
		UsedPct:        pct(float64(total-avail), float64(total)),
		SwapTotalBytes: swapTotal,
		SwapFreeBytes:  min(m.swapFree*1024, swapTotal),
	}
	return nil
}

func (c *Collector) collectUptime(_ time.Time, r *wire.Report) error {
	bt, err := c.boot()
	if err != nil {
		return err
	}
	r.BootTime = bt
	data, err := os.ReadFile(c.procPath("uptime"))
	if err != nil {
		return err
	}
	f, _, _ := bytes.Cut(bytes.TrimSpace(data), []byte(" "))
	up, err := strconv.ParseFloat(string(f), 64)
	if err != nil || up < 0 {
		return fmt.Errorf("parse uptime %q", data)
	}
	r.UptimeSeconds = up
	return nil
}

// boot returns the boot time from /proc/stat, cached after the first successful read.
func (c *Collector) boot() (time.Time, error) {
	if !c.bootTime.IsZero() {
		return c.bootTime, nil
	}
	data, err := os.ReadFile(c.procPath("stat"))
	if err != nil {
		return time.Time{}, err
	}
	for line := range bytes.Lines(data) {
		if v, ok := bytes.CutPrefix(line, []byte("btime ")); ok {
			n, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
			if err != nil {
				return time.Time{}, fmt.Errorf("parse btime: %w", err)
			}
			c.bootTime = time.Unix(n, 0).UTC()
			return c.bootTime, nil
		}
	}
	return time.Time{}, errors.New("no btime in stat")
}
