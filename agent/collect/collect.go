// Package collect reads the state of a Linux host for vigil-agent: CPU, load, memory, filesystems,
// block devices, network interfaces, uptime, watched processes and critical systemd units.
//
// Everything is read from procfs and sysfs (through github.com/prometheus/procfs) under configurable
// roots, from statfs(2) for filesystem usage, and from the systemd manager on the system D-Bus for
// the configured units only. Collectors only read; none of them starts a process.
//
// Rates (CPU shares, disk and network throughput) are computed from the difference between two
// consecutive calls to Collect, so the first call reports no rates.
//
// A Collector is NOT safe for concurrent use: the agent calls it from its single loop goroutine.
package collect

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"time"

	"github.com/prometheus/procfs"
	"github.com/prometheus/procfs/blockdevice"
	"golang.org/x/sys/unix"

	"github.com/vigilhq/vigil/wire"
)

// Collector names, as used in Config.Disabled, in the YAML configuration and in
// wire.CollectorError.Collector.
const (
	NameCPU       = "cpu"
	NameLoad      = "load"
	NameMemory    = "memory"
	NameUptime    = "uptime"
	NameMounts    = "mounts"
	NameDisks     = "disks"
	NameNetwork   = "network"
	NameProcesses = "processes"
	NameUnits     = "units"
)

// Names lists every collector in the order they run.
var Names = []string{NameCPU, NameLoad, NameMemory, NameUptime, NameMounts, NameDisks, NameNetwork, NameProcesses, NameUnits}

// StatfsFunc fills st with the statistics of the filesystem mounted at path, as unix.Statfs does.
type StatfsFunc func(path string, st *unix.Statfs_t) error

// Config configures a Collector. The zero value collects everything from /proc and /sys.
type Config struct {
	// ProcRoot is where procfs is mounted. Defaults to /proc.
	ProcRoot string
	// SysRoot is where sysfs is mounted. Defaults to /sys.
	SysRoot string
	// Disabled names collectors that are switched off (see Names).
	Disabled []string
	// WatchProcesses are the processes to follow, by comm name or executable path.
	WatchProcesses []wire.ProcessWatch
	// WatchUnits are the critical systemd units to report, such as "ssh.service".
	WatchUnits []string
	// Statfs reads filesystem usage. Defaults to unix.Statfs; tests inject a fake so fixture trees do
	// not depend on the host's mounts.
	Statfs StatfsFunc
	// SystemBus is the D-Bus system bus address ("unix:path=..."). Defaults to
	// $DBUS_SYSTEM_BUS_ADDRESS, then unix:path=/run/dbus/system_bus_socket.
	SystemBus string
	// BusTimeout bounds each D-Bus round trip. Defaults to 2s.
	BusTimeout time.Duration
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	for _, n := range c.Disabled {
		if !slices.Contains(Names, n) {
			return fmt.Errorf("unknown collector %q (known: %v)", n, Names)
		}
	}
	if len(c.WatchProcesses) > wire.MaxWatchEntries || len(c.WatchUnits) > wire.MaxWatchEntries {
		return fmt.Errorf("at most %d watch entries of each kind", wire.MaxWatchEntries)
	}
	for i := range c.WatchProcesses {
		if err := c.WatchProcesses[i].Validate(); err != nil {
			return fmt.Errorf("watch process %d: %w", i, err)
		}
	}
	for _, u := range c.WatchUnits {
		if !wire.ValidUnitName(u) {
			return fmt.Errorf("watch unit %q: not a systemd unit name such as nginx.service", u)
		}
	}
	return nil
}

// Collector gathers one wire.Report per call, keeping what it needs to compute rates and process
// events between calls. Create it with New.
type Collector struct {
	cfg      Config
	enabled  map[string]bool
	proc     procfs.FS
	procErr  error
	block    blockdevice.FS
	blockErr error

	bootTime time.Time // cached from /proc/stat btime

	mountinfoPath, statPath, diskstatsPath, meminfoPath, netDevPath string

	// Buffers of the per-cycle /proc parsers (procparse.go).
	interned                names
	diskBuf, memBuf, netBuf []byte
	scratch                 [][]byte
	diskStats               []diskStat
	netStats                []netStat

	cpu       cpuState
	mounts    mountCache
	blockDevs blockCache
	disks     rateState
	net       rateState
	procs     procState
	units     unitState
}

// New returns a Collector for cfg. Unreadable roots are not an error here: they surface as
// collector errors in every report, so a misconfigured agent still reports that it is.
func New(cfg Config) (*Collector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.ProcRoot == "" {
		cfg.ProcRoot = procfs.DefaultMountPoint
	}
	if cfg.SysRoot == "" {
		cfg.SysRoot = "/sys"
	}
	if cfg.Statfs == nil {
		cfg.Statfs = unix.Statfs
	}
	if cfg.BusTimeout <= 0 {
		cfg.BusTimeout = 2 * time.Second
	}
	if cfg.SystemBus == "" {
		cfg.SystemBus = os.Getenv("DBUS_SYSTEM_BUS_ADDRESS")
	}
	if cfg.SystemBus == "" {
		cfg.SystemBus = "unix:path=/run/dbus/system_bus_socket"
	}
	c := &Collector{cfg: cfg, enabled: make(map[string]bool, len(Names))}
	for _, n := range Names {
		c.enabled[n] = !slices.Contains(cfg.Disabled, n)
	}
	c.setRoots(cfg.ProcRoot, cfg.SysRoot)
	c.procs.setWatches(cfg.WatchProcesses)
	return c, nil
}

// setRoots points the collector at other procfs and sysfs trees, keeping rate state. Tests use it
// to move from one fixture snapshot to the next.
func (c *Collector) setRoots(proc, sys string) {
	c.cfg.ProcRoot, c.cfg.SysRoot = proc, sys
	c.proc, c.procErr = procfs.NewFS(proc)
	c.block, c.blockErr = blockdevice.NewFS(proc, sys)
	c.bootTime = time.Time{}
	c.mountinfoPath, c.statPath = filepath.Join(proc, "self/mountinfo"), filepath.Join(proc, "stat")
	c.diskstatsPath, c.meminfoPath, c.netDevPath = filepath.Join(proc, "diskstats"), filepath.Join(proc, "meminfo"),
		filepath.Join(proc, "net/dev")
	if c.interned == nil {
		c.interned = names{}
	}
	c.mounts, c.blockDevs = mountCache{}, blockCache{}
}

// SetWatches replaces the watched processes and units, for configuration pushed by the server.
// The caller has validated the lists. Process state of entries still watched is kept.
func (c *Collector) SetWatches(procs []wire.ProcessWatch, units []string) {
	c.cfg.WatchProcesses = slices.Clone(procs)
	c.cfg.WatchUnits = slices.Clone(units)
	c.procs.setWatches(c.cfg.WatchProcesses)
}

// Watches returns the watched processes and units in use.
func (c *Collector) Watches() ([]wire.ProcessWatch, []string) {
	return slices.Clone(c.cfg.WatchProcesses), slices.Clone(c.cfg.WatchUnits)
}

// Close releases the D-Bus connection, if any.
func (c *Collector) Close() error {
	c.units.close()
	return nil
}

type collectorFunc func(c *Collector, now time.Time, r *wire.Report) error

var collectors = []struct {
	name string
	fn   collectorFunc
}{
	{NameCPU, (*Collector).collectCPU},
	{NameLoad, (*Collector).collectLoad},
	{NameMemory, (*Collector).collectMemory},
	{NameUptime, (*Collector).collectUptime},
	{NameMounts, (*Collector).collectMounts},
	{NameDisks, (*Collector).collectDisks},
	{NameNetwork, (*Collector).collectNetwork},
	{NameProcesses, (*Collector).collectProcesses},
	{NameUnits, (*Collector).collectUnits},
}

// Collect fills r with one observation taken at now. It never panics and never fails as a whole:
// each collector that fails (or panics) adds a wire.CollectorError to r.Errors instead. r is reset
// first except for the slices' capacity, so a caller can reuse one Report across cycles.
func (c *Collector) Collect(now time.Time, r *wire.Report) {
	resetReport(r)
	for _, col := range collectors {
		if !c.enabled[col.name] {
			continue
		}
		if err := c.run(col.fn, now, r); err != nil && len(r.Errors) < wire.MaxErrors {
			msg := err.Error()
			if len(msg) > wire.MaxMessageLen {
				msg = msg[:wire.MaxMessageLen]
			}
			r.Errors = append(r.Errors, wire.CollectorError{Collector: col.name, Message: msg})
		}
	}
}

func (c *Collector) run(fn collectorFunc, now time.Time, r *wire.Report) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
		}
	}()
	return fn(c, now, r)
}

func resetReport(r *wire.Report) {
	*r = wire.Report{
		Mounts:     r.Mounts[:0],
		Disks:      r.Disks[:0],
		Interfaces: r.Interfaces[:0],
		Processes:  r.Processes[:0],
		Events:     r.Events[:0],
		Units:      r.Units[:0],
		Errors:     r.Errors[:0],
	}
}

// procPath joins elements under the procfs root.
func (c *Collector) procPath(elem ...string) string {
	return filepath.Join(append([]string{c.cfg.ProcRoot}, elem...)...)
}
