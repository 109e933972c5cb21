package storetest

import (
	"fmt"
	"time"

	"github.com/vigilhq/vigil/wire"
)

// Report returns a valid, realistic report of about 2 KB of JSON with the given seq and time, the
// size and shape an agent watching a few mounts, devices, processes and units sends. Benchmarks of
// the ingest path use it too.
func Report(seq uint64, at time.Time) wire.Report {
	f := float64(seq % 100)
	r := wire.Report{
		Seq:             seq,
		Time:            at,
		AgentVersion:    "1.4.2",
		UpdaterVersion:  "1.4.0",
		IntervalSeconds: 10,
		BootTime:        time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC),
		UptimeSeconds:   1234567.5,
		CPU:             &wire.CPU{Cores: 8, BusyPct: f * 0.9, IOWaitPct: 1.5, StealPct: 0.1},
		Load:            &wire.Load{Load1: f / 25, Load5: 1.2, Load15: 0.9},
		Memory: &wire.Memory{TotalBytes: 32 << 30, AvailableBytes: 12 << 30, UsedPct: 62.5,
			SwapTotalBytes: 4 << 30, SwapFreeBytes: 4 << 30},
		Mounts: []wire.Mount{
			{Path: "/", Device: "/dev/nvme0n1p2", FSType: "ext4", TotalBytes: 500 << 30, FreeBytes: 200 << 30, UsedPct: 60, InodesTotal: 32000000, InodesFree: 30000000, InodesPct: 6.25},
			{Path: "/var", Device: "/dev/nvme0n1p3", FSType: "xfs", TotalBytes: 1 << 40, FreeBytes: 100 << 30, UsedPct: 90.2, InodesTotal: 64000000, InodesFree: 60000000, InodesPct: 6.25},
			{Path: "/boot", Device: "/dev/nvme0n1p1", FSType: "vfat", TotalBytes: 512 << 20, FreeBytes: 400 << 20, UsedPct: 21.9},
		},
		Disks: []wire.DiskIO{
			{Device: "nvme0n1", ReadBytesPS: 1234567, WriteBytesPS: 7654321, ReadIOPS: 120.5, WriteIOPS: 340.25, UtilizationPct: 12.5},
			{Device: "nvme1n1", ReadBytesPS: 0, WriteBytesPS: 4096, ReadIOPS: 0, WriteIOPS: 1, UtilizationPct: 0.1},
		},
		Interfaces: []wire.NetIO{
			{Interface: "eth0", RxBytesPS: 987654.5, TxBytesPS: 123456.25},
			{Interface: "eth1", RxBytesPS: 1024, TxBytesPS: 2048},
		},
		Processes: []wire.Process{
			{Name: "nginx", Running: 3, Instances: []wire.ProcInst{
				{PID: 1201, StartTime: time.Date(2026, 11, 1, 8, 0, 5, 0, time.UTC)},
				{PID: 1202, StartTime: time.Date(2026, 11, 1, 8, 0, 5, 0, time.UTC)},
				{PID: 1203, StartTime: time.Date(2026, 11, 1, 8, 0, 5, 0, time.UTC)},
			}},
			{Name: "postgres", Running: 1, Instances: []wire.ProcInst{{PID: 900, StartTime: time.Date(2026, 11, 1, 8, 0, 3, 0, time.UTC)}}},
		},
		Units: []wire.Unit{
			{Name: "nginx.service", ActiveState: "active", SubState: "running", Result: "success"},
			{Name: "postgresql.service", ActiveState: "active", SubState: "running", Result: "success", NRestarts: 1},
			{Name: "cron.service", ActiveState: "active", SubState: "running"},
		},
		Errors: []wire.CollectorError{{Collector: "systemd", Message: fmt.Sprintf("dbus call timed out after %d ms", 500)}},
	}
	return r
}
