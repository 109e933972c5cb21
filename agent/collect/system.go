package collect

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/prometheus/procfs"

	"github.com/vigilhq/vigil/wire"
)

// cpuState is the previous /proc/stat CPU sample.
type cpuState struct {
	prev procfs.CPUStat
	ok   bool
}

func (c *Collector) collectCPU(_ time.Time, r *wire.Report) error {
	if c.procErr != nil {
		return c.procErr
	}
	st, err := c.proc.Stat()
	if err != nil {
		return err
	}
	if st.BootTime != 0 {
		c.bootTime = time.Unix(int64(st.BootTime), 0).UTC()
	}
	cur := st.CPUTotal
	prev, ok := c.cpu.prev, c.cpu.ok
	c.cpu.prev, c.cpu.ok = cur, true
	if !ok {
		return nil // first sample: no interval to compute shares over
	}
	// Guest time is already included in user time, so it is not added again.
	total := func(s procfs.CPUStat) float64 {
		return s.User + s.Nice + s.System + s.Idle + s.Iowait + s.IRQ + s.SoftIRQ + s.Steal
	}
	dt := total(cur) - total(prev)
	if dt <= 0 {
		return nil // counters went backwards or did not move
	}
	busy := (cur.User - prev.User) + (cur.Nice - prev.Nice) + (cur.System - prev.System) +
		(cur.IRQ - prev.IRQ) + (cur.SoftIRQ - prev.SoftIRQ)
	r.CPU = &wire.CPU{
		Cores:     len(st.CPU),
		BusyPct:   pct(busy, dt),
		IOWaitPct: pct(cur.Iowait-prev.Iowait, dt),
		StealPct:  pct(cur.Steal-prev.Steal, dt),
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
	m, err := c.proc.Meminfo()
	if err != nil {
		return err
	}
	if m.MemTotal == nil {
		return errors.New("meminfo has no MemTotal")
	}
	kb := func(p *uint64) uint64 {
		if p == nil {
			return 0
		}
		return *p * 1024
	}
	total := kb(m.MemTotal)
	avail := kb(m.MemAvailable)
	if m.MemAvailable == nil {
		// Kernels before 3.14 (and some container views) lack MemAvailable: approximate it.
		avail = kb(m.MemFree) + kb(m.Buffers) + kb(m.Cached)
	}
	avail = min(avail, total)
	swapTotal := kb(m.SwapTotal)
	r.Memory = &wire.Memory{
		TotalBytes:     total,
		AvailableBytes: avail,
		UsedPct:        pct(float64(total-avail), float64(total)),
		SwapTotalBytes: swapTotal,
		SwapFreeBytes:  min(kb(m.SwapFree), swapTotal),
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
