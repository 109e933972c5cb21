package collect

import (
	"testing"
)

func TestProcParsersRefuseMalformed(t *testing.T) {
	in := names{}
	for _, tt := range []struct {
		name string
		run  func() error
	}{
		{"diskstats: short line", func() error { _, _, err := parseDiskstats(nil, []byte("8 0 sda 1 2 3\n"), nil, in); return err }},
		{"diskstats: not a number", func() error {
			_, _, err := parseDiskstats(nil, []byte("8 0 sda 1 2 x 4 5 6 7 8 9 10 11\n"), nil, in)
			return err
		}},
		{"net/dev: short line", func() error { _, _, err := parseNetDev(nil, []byte("eth0: 1 2 3\n"), nil, in); return err }},
		{"meminfo: no MemTotal", func() error { _, err := parseMeminfo([]byte("MemFree: 10 kB\n")); return err }},
		{"meminfo: bad value", func() error { _, err := parseMeminfo([]byte("MemTotal: lots kB\n")); return err }},
	} {
		if tt.run() == nil {
			t.Errorf("%s: accepted", tt.name)
		}
	}
}

func TestProcParsers(t *testing.T) {
	in := names{}
	d, _, err := parseDiskstats(nil, []byte("   8       0 sda 10 100 2000 5000 20 300 4000 9000 0 30000 14000 0 0 0 0 0 0\n"), nil, in)
	if err != nil || len(d) != 1 || d[0] != (diskStat{name: "sda", readIOs: 10, readSectors: 2000, writeIOs: 20, writeSectors: 4000, ioTicks: 30000}) {
		t.Fatalf("diskstats: %+v, %v", d, err)
	}
	n, _, err := parseNetDev(nil, []byte("Inter-| head\n face |head\n  eth0: 100 9 0 0 0 0 0 0 50 8 0 0 0 0 0 0\n"), nil, in)
	if err != nil || len(n) != 1 || n[0] != (netStat{name: "eth0", rxBytes: 100, txBytes: 50}) {
		t.Fatalf("net/dev: %+v, %v", n, err)
	}
	m, err := parseMeminfo([]byte("MemTotal:  800 kB\nMemFree: 100 kB\nSwapTotal: 50 kB\nSwapFree: 20 kB\n"))
	if err != nil || m.total != 800 || m.free != 100 || m.hasAvailable || m.swapTotal != 50 || m.swapFree != 20 {
		t.Fatalf("meminfo: %+v, %v", m, err)
	}
	// Names are interned, up to the bound.
	if a, b := in.intern([]byte("sda")), d[0].name; a != b || len(in) != 2 {
		t.Fatalf("interned %d names", len(in))
	}
	line, scratch := []byte("8 0 sda 1 2 3 4 5 6 7 8 9 10 11\n"), make([][]byte, 0, 20)
	allocs := testing.AllocsPerRun(10, func() { d, scratch, _ = parseDiskstats(d[:0], line, scratch, in) })
	if allocs != 0 {
		t.Errorf("parsing a known device allocates %v times", allocs)
	}
}
