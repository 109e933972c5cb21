package collect

import (
	"errors"
	"io/fs"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/vigilhq/vigil/wire"
)

// counters is one device's cumulative counters from the previous cycle.
type counters [5]uint64

// rateState keeps the previous counters of a set of devices. Its maps hold at most the number of
// entries a report may carry, and are swapped rather than reallocated each cycle.
type rateState struct {
	prev, cur map[string]counters
	at        time.Time
}

func (s *rateState) begin() {
	if s.prev == nil {
		s.prev, s.cur = make(map[string]counters), make(map[string]counters)
	}
	clear(s.cur)
}

// end makes this cycle's counters the previous ones and returns the seconds since the previous
// cycle (0 if there was none).
func (s *rateState) end(now time.Time) float64 {
	dt := 0.0
	if !s.at.IsZero() {
		dt = now.Sub(s.at).Seconds()
	}
	s.prev, s.cur = s.cur, s.prev
	s.at = now
	return dt
}

// delta returns cur-prev per counter, and false if any counter went backwards (a reset or a
// wrap), in which case the device is left out of this cycle.
func delta(cur, prev counters) (d counters, ok bool) {
	for i := range cur {
		if cur[i] < prev[i] {
			return d, false
		}
		d[i] = cur[i] - prev[i]
	}
	return d, true
}

func rate(v uint64, dt float64) float64 { return round2(float64(v) / dt) }

// skipDisk tells devices that are never worth a series: loop devices, RAM disks, compressed RAM
// swap, floppies and optical drives.
func skipDisk(name string) bool {
	for _, p := range []string{"loop", "ram", "zram", "fd", "sr"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// blockCache keeps the list of whole block devices (/sys/block) while /proc/diskstats lists the
// same devices: a device added or removed changes that list, so /sys/block is read only then.
type blockCache struct {
	scratch, names []string // this cycle's diskstats devices; those whole was read for
	whole          []string
	useSys, ok     bool
}

// collectDisks reports IO rates of whole block devices. A device is whole when /sys/block has an
// entry for it; partitions only appear below their disk. Without a readable /sys/block (some
// containers) a name that extends another listed device's name by digits (sda1, nvme0n1p1) is
// taken for a partition.
func (c *Collector) collectDisks(now time.Time, r *wire.Report) error {
	if c.blockErr != nil {
		return c.blockErr
	}
	var err error
	if c.diskBuf, err = readFileInto(c.diskBuf, c.diskstatsPath, maxProcFileBytes); err != nil {
		return err
	}
	c.diskStats, c.scratch, err = parseDiskstats(c.diskStats[:0], c.diskBuf, c.scratch, c.interned)
	if err != nil {
		return err
	}
	stats := c.diskStats
	bc := &c.blockDevs
	names := bc.scratch[:0]
	for _, d := range stats {
		names = append(names, d.name)
	}
	bc.scratch = names
	if !bc.ok || !slices.Equal(names, bc.names) {
		whole, werr := c.block.SysBlockDevices()
		if werr != nil && !errors.Is(werr, fs.ErrNotExist) && !errors.Is(werr, os.ErrPermission) {
			return werr
		}
		bc.whole, bc.useSys, bc.ok = whole, werr == nil, true
		bc.names = append(bc.names[:0], names...)
	}
	whole, useSys := bc.whole, bc.useSys
	isPartition := func(name string) bool {
		if useSys {
			return !slices.Contains(whole, name)
		}
		for _, other := range names {
			if other != name && strings.HasPrefix(name, other) {
				rest := strings.TrimPrefix(strings.TrimPrefix(name, other), "p")
				if rest != "" && strings.Trim(rest, "0123456789") == "" {
					return true
				}
			}
		}
		return false
	}

	s := &c.disks
	s.begin()
	for _, d := range stats {
		if skipDisk(d.name) || isPartition(d.name) || len(s.cur) >= wire.MaxDevices {
			continue
		}
		s.cur[d.name] = counters{d.readSectors, d.writeSectors, d.readIOs, d.writeIOs, d.ioTicks}
	}
	prevAt := s.at
	dt := s.end(now)
	if dt <= 0 || prevAt.IsZero() {
		return nil
	}
	start := len(r.Disks)
	for name, cur := range s.prev { // s.prev now holds this cycle's counters
		old, ok := s.cur[name]
		if !ok {
			continue
		}
		dd, ok := delta(cur, old)
		if !ok {
			continue
		}
		const sector = 512 // /proc/diskstats counts 512-byte sectors whatever the device's sector size
		r.Disks = append(r.Disks, wire.DiskIO{
			Device:         name,
			ReadBytesPS:    rate(dd[0]*sector, dt),
			WriteBytesPS:   rate(dd[1]*sector, dt),
			ReadIOPS:       rate(dd[2], dt),
			WriteIOPS:      rate(dd[3], dt),
			UtilizationPct: pct(float64(dd[4]), dt*1000),
		})
	}
	// sort.Slice, not slices.SortFunc: each generic instantiation costs ~12 KB of binary.
	d := r.Disks[start:]
	sort.Slice(d, func(i, j int) bool { return d[i].Device < d[j].Device })
	return nil
}

// collectNetwork reports traffic rates of every interface but loopback.
func (c *Collector) collectNetwork(now time.Time, r *wire.Report) error {
	if c.procErr != nil {
		return c.procErr
	}
	var err error
	if c.netBuf, err = readFileInto(c.netBuf, c.netDevPath, maxProcFileBytes); err != nil {
		return err
	}
	c.netStats, c.scratch, err = parseNetDev(c.netStats[:0], c.netBuf, c.scratch, c.interned)
	if err != nil {
		return err
	}
	s := &c.net
	s.begin()
	for _, l := range c.netStats {
		if l.name == "lo" || len(s.cur) >= wire.MaxInterfaces || len(l.name) > wire.MaxNameLen {
			continue
		}
		s.cur[l.name] = counters{l.rxBytes, l.txBytes}
	}
	prevAt := s.at
	dt := s.end(now)
	if dt <= 0 || prevAt.IsZero() {
		return nil
	}
	start := len(r.Interfaces)
	for name, cur := range s.prev {
		old, ok := s.cur[name]
		if !ok {
			continue
		}
		dd, ok := delta(cur, old)
		if !ok {
			continue
		}
		r.Interfaces = append(r.Interfaces, wire.NetIO{Interface: name, RxBytesPS: rate(dd[0], dt), TxBytesPS: rate(dd[1], dt)})
	}
	n := r.Interfaces[start:]
	sort.Slice(n, func(i, j int) bool { return n[i].Interface < n[j].Interface })
	return nil
}
