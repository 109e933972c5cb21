package httpapi

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/vigilhq/vigil/wire"
)

// benchReportJSON is one agent report (~1.5 KB: 4 mounts, 2 disks, 2 interfaces, a watched
// process, 2 units) in a batch of one, as agents that are up to date send it.
func benchReportJSON(b *testing.B) []byte {
	now := time.Now().UTC()
	r := wire.Report{
		Seq: 7, Time: now, AgentVersion: "1.0.0", IntervalSeconds: 10, BootTime: now.Add(-72 * time.Hour), UptimeSeconds: 259200,
		CPU:    &wire.CPU{Cores: 4, BusyPct: 12.6, IOWaitPct: 0.4, StealPct: 0.1},
		Load:   &wire.Load{Load1: 0.42, Load5: 0.38, Load15: 0.31},
		Memory: &wire.Memory{TotalBytes: 16 << 30, AvailableBytes: 9 << 30, UsedPct: 43.75, SwapTotalBytes: 2 << 30, SwapFreeBytes: 2 << 30},
	}
	for _, m := range []string{"/", "/var", "/home", "/boot"} {
		r.Mounts = append(r.Mounts, wire.Mount{Path: m, Device: "/dev/nvme0n1p" + strconv.Itoa(len(m)), FSType: "ext4", TotalBytes: 100 << 30, FreeBytes: 40 << 30, UsedPct: 60, InodesTotal: 6553600, InodesFree: 6000000, InodesPct: 8.4})
	}
	for _, d := range []string{"nvme0n1", "sda"} {
		r.Disks = append(r.Disks, wire.DiskIO{Device: d, ReadBytesPS: 10240, WriteBytesPS: 40960, ReadIOPS: 2.5, WriteIOPS: 8.1, UtilizationPct: 1.2})
	}
	for _, n := range []string{"eth0", "eth1"} {
		r.Interfaces = append(r.Interfaces, wire.NetIO{Interface: n, RxBytesPS: 12000, TxBytesPS: 8000})
	}
	r.Processes = []wire.Process{{Name: "nginx", Running: 2, Instances: []wire.ProcInst{{PID: 1201, StartTime: now.Add(-time.Hour)}, {PID: 1202, StartTime: now.Add(-time.Hour)}}}}
	r.Units = []wire.Unit{{Name: "nginx.service", ActiveState: "active", SubState: "running", Result: "success"}, {Name: "ssh.service", ActiveState: "active", SubState: "running", Result: "success"}}
	data, err := json.Marshal(wire.ReportBatch{Reports: []wire.Report{r}})
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// BenchmarkReportBody measures, per one-report body, what the agent's gzip costs against sending
// the JSON as it is (run with -benchmem):
//
//   - agent-gzip: the agent compressing the body (BestSpeed, a reused writer);
//   - server-gzip / server-identity: the server decoding the body (decodeReportBody), with and
//     without gunzip;
//   - reference-encoding-json-gzip: the server's previous path, gunzip then encoding/json.
func BenchmarkReportBody(b *testing.B) {
	plain := benchReportJSON(b)
	var zbuf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&zbuf, gzip.BestSpeed)
	zw.Write(plain)
	zw.Close()
	gz := bytes.Clone(zbuf.Bytes())
	b.Logf("one report: %d bytes of JSON, %d gzipped", len(plain), len(gz))

	b.Run("agent-gzip", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			zbuf.Reset()
			zw.Reset(&zbuf)
			zw.Write(plain)
			zw.Close()
		}
	})
	run := func(name string, body []byte, enc string) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			var buf bytes.Buffer
			for b.Loop() {
				buf.Reset()
				buf.Write(body)
				if _, _, err := decodeReportBody(&buf, enc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	run("server-gzip", gz, "gzip")
	run("server-identity", plain, "")
	b.Run("reference-encoding-json-gzip", func(b *testing.B) {
		b.ReportAllocs()
		zr, _ := gzip.NewReader(bytes.NewReader(gz))
		for b.Loop() {
			if err := zr.Reset(bytes.NewReader(gz)); err != nil { // pooled, as the server does
				b.Fatal(err)
			}
			var batch wire.ReportBatch
			if err := wire.Decode(zr, wire.MaxReportDecodedBytes, false, &batch); err != nil {
				b.Fatal(err)
			}
		}
	})
}
