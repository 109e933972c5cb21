package main

import (
	"math"
	"time"

	"github.com/vigilhq/vigil/wire"
)

// A simulated host's reports look like a real agent's on a typical server: CPU, load, memory, three
// to five mounts, two disks, two interfaces, two watched processes and three critical units, with
// figures that drift from report to report. They are built from (host, seq, time) alone, so a
// report replayed after an outage is the report collected at the time, as from the agent's spool,
// without keeping a backlog of encoded reports in memory.

var (
	mountPaths  = [...]string{"/", "/var", "/home", "/boot", "/srv"}
	mountDevs   = [...]string{"/dev/nvme0n1p2", "/dev/nvme0n1p3", "/dev/nvme0n1p4", "/dev/nvme0n1p1", "/dev/sda1"}
	mountFS     = [...]string{"ext4", "xfs", "ext4", "vfat", "xfs"}
	diskNames   = [...]string{"nvme0n1", "sda"}
	ifaceNames  = [...]string{"eth0", "eth1"}
	procNames   = [...]string{"sshd", "nginx"}
	unitNames   = [...]string{"ssh.service", "nginx.service", "cron.service"}
	coreChoices = [...]int{2, 4, 8, 16, 32}
)

// mix is splitmix64: a cheap, well-spread hash for deterministic pseudo-random figures.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// frac returns a deterministic value in [0, 1) from a seed.
func frac(seed uint64) float64 { return float64(mix(seed)>>11) / (1 << 53) }

// round2 keeps two decimals, as a collector's percentages would print.
func round2(v float64) float64 { return math.Round(v*100) / 100 }

// reportShape is what does not change between a host's reports. It is built once per host.
type reportShape struct {
	cores    int
	memTotal uint64
	mounts   int
	seed     uint64
}

func newShape(idx int) reportShape {
	s := mix(uint64(idx) + 1)
	return reportShape{
		cores:    coreChoices[s%uint64(len(coreChoices))],
		memTotal: uint64(4<<30) << (s >> 8 % 5),
		mounts:   3 + int(s>>16%3),
		seed:     s,
	}
}

// fill writes the report of sequence seq taken at t into r, reusing r's slices. bootTime and
// outages are the host's; version is the agent version to claim.
func (sh *reportShape) fill(r *wire.Report, seq uint64, t, bootTime time.Time, interval time.Duration, version string, outages []wire.Outage) {
	k := sh.seed ^ seq*0x100000001b3
	busy := round2(5 + 60*frac(sh.seed)*frac(k))
	*r = wire.Report{
		Seq: seq, Time: t, AgentVersion: version, IntervalSeconds: int(interval / time.Second),
		BootTime: bootTime, UptimeSeconds: math.Round(t.Sub(bootTime).Seconds()),
		CPU:    r.CPU,
		Load:   r.Load,
		Memory: r.Memory,
		Mounts: r.Mounts[:0], Disks: r.Disks[:0], Interfaces: r.Interfaces[:0], Processes: r.Processes[:0],
		Units: r.Units[:0], Outages: outages,
	}
	if r.CPU == nil {
		r.CPU, r.Load, r.Memory = &wire.CPU{}, &wire.Load{}, &wire.Memory{}
	}
	*r.CPU = wire.CPU{Cores: sh.cores, BusyPct: busy, IOWaitPct: round2(2 * frac(k+1)), StealPct: round2(0.5 * frac(k+2))}
	l := busy / 100 * float64(sh.cores)
	*r.Load = wire.Load{Load1: round2(l * (0.8 + 0.4*frac(k+3))), Load5: round2(l), Load15: round2(l * 0.95)}
	usedPct := round2(20 + 70*frac(sh.seed+1) + 5*frac(k+4))
	avail := uint64(float64(sh.memTotal) * (1 - usedPct/100))
	*r.Memory = wire.Memory{TotalBytes: sh.memTotal, AvailableBytes: avail &^ 4095, UsedPct: usedPct,
		SwapTotalBytes: 2 << 30, SwapFreeBytes: (2 << 30) - uint64(frac(sh.seed+2)*float64(256<<20))&^4095}
	for i := range sh.mounts {
		total := uint64(50+frac(sh.seed+uint64(10+i))*950) << 30
		used := 0.1 + 0.8*frac(sh.seed+uint64(20+i)) + 0.001*float64(seq%100)/100
		it := total / (16 << 10)
		r.Mounts = append(r.Mounts, wire.Mount{Path: mountPaths[i], Device: mountDevs[i], FSType: mountFS[i],
			TotalBytes: total &^ 4095, FreeBytes: uint64(float64(total)*(1-used)) &^ 4095, UsedPct: round2(used * 100),
			InodesTotal: it, InodesFree: uint64(float64(it) * (1 - used/4)), InodesPct: round2(used * 25)})
	}
	for i, d := range diskNames {
		w := frac(k + uint64(30+i))
		r.Disks = append(r.Disks, wire.DiskIO{Device: d, ReadBytesPS: round2(1e6 * w * w), WriteBytesPS: round2(4e6 * w),
			ReadIOPS: round2(50 * w), WriteIOPS: round2(200 * w), UtilizationPct: round2(30 * w)})
	}
	for i, n := range ifaceNames {
		w := frac(k + uint64(40+i))
		r.Interfaces = append(r.Interfaces, wire.NetIO{Interface: n, RxBytesPS: round2(5e6 * w), TxBytesPS: round2(2e6 * w)})
	}
	for i, n := range procNames {
		p := wire.Process{Name: n, Running: 1 + i, Instances: nil}
		if len(r.Processes) < cap(r.Processes) {
			p.Instances = r.Processes[:len(r.Processes)+1][len(r.Processes)].Instances[:0]
		}
		for j := range p.Running {
			pid := 400 + int(sh.seed>>uint(8*j+i)%30000)
			p.Instances = append(p.Instances, wire.ProcInst{PID: pid, StartTime: bootTime.Add(time.Duration(5+i+j) * time.Second)})
		}
		r.Processes = append(r.Processes, p)
	}
	for _, u := range unitNames {
		r.Units = append(r.Units, wire.Unit{Name: u, ActiveState: "active", SubState: "running", Result: "success"})
	}
}
