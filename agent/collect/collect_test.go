package collect

import (
	"bytes"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigilhq/vigil/wire"
)

// golden compares got with testdata/<TestName>/<name>.golden, rewriting it when GOLDEN_UPDATE=1.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", strings.Split(t.Name(), "/")[0], name+".golden")
	if os.Getenv("GOLDEN_UPDATE") == "1" {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with GOLDEN_UPDATE=1 to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden file %s:\n--- got\n%s\n--- want\n%s", name, path, got, want)
	}
}

// fakeStatfs answers statfs for fixture mount points only.
func fakeStatfs(fs map[string]unix.Statfs_t) StatfsFunc {
	return func(path string, st *unix.Statfs_t) error {
		s, ok := fs[path]
		if !ok {
			return unix.ENOENT
		}
		*st = s
		return nil
	}
}

var fixtureFS = map[string]unix.Statfs_t{
	// 100 GiB ext4, 40 GiB free of which 35 GiB available, 6.5M inodes with 6M free.
	"/": {Bsize: 4096, Blocks: 26214400, Bfree: 10485760, Bavail: 9175040, Files: 6553600, Ffree: 6000000},
	// xfs data disk, mounted twice (the bind mount /var/www must not be listed again).
	"/srv/data": {Bsize: 4096, Blocks: 1000000, Bfree: 250000, Bavail: 250000, Files: 500000, Ffree: 400000},
	"/var/www":  {Bsize: 4096, Blocks: 1000000, Bfree: 250000, Bavail: 250000, Files: 500000, Ffree: 400000},
	// "/mnt/my disk" is missing on purpose: statfs fails and the collector says so.
	"/data": {Bsize: 4096, Blocks: 1000, Bfree: 1000, Bavail: 900, Files: 0, Ffree: 0},
}

var (
	t0 = time.Date(2026, 1, 1, 0, 16, 40, 0, time.UTC) // btime of the fixtures + 1000 s
	t1 = t0.Add(10 * time.Second)
)

func encode(t *testing.T, r *wire.Report) []byte {
	t.Helper()
	r.Seq, r.Time = 1, t0 // as the agent fills them in, so Validate can run
	if err := r.Validate(); err != nil {
		t.Errorf("report does not validate: %v", err)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

func TestCollectGolden(t *testing.T) {
	watch := []wire.ProcessWatch{{Name: "nginx"}, {Name: "sshd"}, {Exe: "/usr/sbin/cron"}, {Name: "postgres"}, {Exe: "/usr/bin/python3.12"}, {Name: "app"}}
	tests := []struct {
		name       string
		proc, sys  string
		next       string // second snapshot; empty for a single cycle
		disabled   []string
		watchUnits []string
	}{
		{name: "host", proc: "testdata/host/proc", sys: "testdata/host/sys", next: "testdata/host-later/proc"},
		{name: "host-first-cycle", proc: "testdata/host/proc", sys: "testdata/host/sys"},
		{name: "container", proc: "testdata/container/proc", sys: "testdata/container/sys", next: "testdata/container/proc"},
		{name: "disabled", proc: "testdata/host/proc", sys: "testdata/host/sys", next: "testdata/host-later/proc",
			disabled: []string{NameMounts, NameDisks, NameNetwork, NameProcesses}},
		{name: "missing-root", proc: "testdata/nonexistent/proc", sys: "testdata/nonexistent/sys"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(Config{
				ProcRoot: tt.proc, SysRoot: tt.sys, Disabled: tt.disabled,
				WatchProcesses: watch, WatchUnits: tt.watchUnits,
				Statfs:    fakeStatfs(fixtureFS),
				SystemBus: "unix:path=" + filepath.Join(t.TempDir(), "no-bus"),
			})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var r wire.Report
			c.Collect(t0, &r)
			if tt.next != "" {
				c.setRoots(tt.next, tt.sys)
				c.Collect(t1, &r)
			}
			golden(t, tt.name, encode(t, &r))
		})
	}
}

func TestCollectPanicBecomesError(t *testing.T) {
	c, err := New(Config{ProcRoot: "testdata/host/proc", SysRoot: "testdata/host/sys",
		Statfs: func(string, *unix.Statfs_t) error { panic("boom") }})
	if err != nil {
		t.Fatal(err)
	}
	var r wire.Report
	c.Collect(t0, &r)
	var found bool
	for _, e := range r.Errors {
		if e.Collector == NameMounts && strings.HasPrefix(e.Message, "panic: boom") {
			found = true
		}
	}
	if !found {
		t.Fatalf("panic in the mounts collector not reported: %+v", r.Errors)
	}
	if r.Memory == nil || r.Load == nil {
		t.Fatalf("other collectors did not run after the panic")
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"zero", Config{}, true},
		{"unknown collector", Config{Disabled: []string{"gpu"}}, false},
		{"relative exe", Config{WatchProcesses: []wire.ProcessWatch{{Exe: "bin/x"}}}, false},
		{"name and exe", Config{WatchProcesses: []wire.ProcessWatch{{Name: "x", Exe: "/x"}}}, false},
		{"empty unit", Config{WatchUnits: []string{""}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestProcessEvents(t *testing.T) {
	tests := []struct {
		name       string
		prev, cur  []inst
		wantEvents string
	}{
		{"steady", []inst{{1, 10}}, []inst{{1, 10}}, ""},
		{"started", nil, []inst{{5, 50}}, "started:5"},
		{"gone", []inst{{5, 50}}, nil, "gone:5"},
		{"pid change", []inst{{5, 50}}, []inst{{6, 60}}, "restarted:6"},
		{"pid reused", []inst{{5, 50}}, []inst{{5, 70}}, "restarted:5"},
		{"one of two restarted, one more", []inst{{1, 1}, {5, 50}}, []inst{{1, 1}, {7, 70}, {8, 80}}, "restarted:7 started:8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, e := range appendEvents(nil, "x", tt.prev, tt.cur, t0) {
				got = append(got, e.Kind+":"+strconv.Itoa(e.PID))
			}
			if s := strings.Join(got, " "); s != tt.wantEvents {
				t.Fatalf("events = %q, want %q", s, tt.wantEvents)
			}
		})
	}
}

func TestEscapeBusLabel(t *testing.T) {
	tests := map[string]string{
		"ssh.service":              "ssh_2eservice",
		"systemd-journald.service": "systemd_2djournald_2eservice",
		"2fa.service":              "_32fa_2eservice",
		"":                         "_",
	}
	for in, want := range tests {
		if got := escapeBusLabel(in); got != want {
			t.Errorf("escapeBusLabel(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestUnmountEscape(t *testing.T) {
	if got := unescapeMount(`/mnt/my\040disk\134x`); got != `/mnt/my disk\x` {
		t.Fatalf("got %q", got)
	}
	if got := unescapeMount(`/trailing\04`); got != `/trailing\04` {
		t.Fatalf("got %q", got)
	}
}

func TestUnitsNoBus(t *testing.T) {
	c, err := New(Config{ProcRoot: "testdata/host/proc", Disabled: others(NameUnits),
		WatchUnits: []string{"ssh.service"}, SystemBus: "unix:path=" + filepath.Join(t.TempDir(), "none")})
	if err != nil {
		t.Fatal(err)
	}
	var r wire.Report
	c.Collect(t0, &r)
	if len(r.Errors) != 0 || len(r.Units) != 0 {
		t.Fatalf("no bus: want no units and no errors, got %+v %+v", r.Units, r.Errors)
	}
}

func others(keep string) []string {
	var out []string
	for _, n := range Names {
		if n != keep {
			out = append(out, n)
		}
	}
	return out
}

// TestCollectSeesTableChanges: the mount table and the list of block devices are kept between
// cycles while their sources read the same; a mount or a disk added between two cycles is still
// picked up at the next.
func TestCollectSeesTableChanges(t *testing.T) {
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS("testdata/host")); err != nil {
		t.Fatal(err)
	}
	proc, sys := filepath.Join(root, "proc"), filepath.Join(root, "sys")
	fsys := maps.Clone(fixtureFS)
	fsys["/new"] = fixtureFS["/data"]
	c, err := New(Config{ProcRoot: proc, SysRoot: sys, Statfs: fakeStatfs(fsys),
		Disabled: []string{NameProcesses, NameUnits}})
	if err != nil {
		t.Fatal(err)
	}
	has := func(r *wire.Report, mount, disk string) (bool, bool) {
		m := slices.ContainsFunc(r.Mounts, func(x wire.Mount) bool { return x.Path == mount })
		d := slices.ContainsFunc(r.Disks, func(x wire.DiskIO) bool { return x.Device == disk })
		return m, d
	}
	appendTo := func(path, line string) {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(line); err != nil {
			t.Fatal(err)
		}
	}
	var r wire.Report
	for i := range 2 { // twice: the second cycle runs from what the first kept
		c.Collect(t0.Add(time.Duration(i)*10*time.Second), &r)
		if m, d := has(&r, "/new", "sdb"); m || d {
			t.Fatalf("cycle %d: /new or sdb reported before they exist", i)
		}
		if m, d := has(&r, "/", "sda"); !m || (i == 1 && !d) { // rates from the second cycle on
			t.Fatalf("cycle %d: / or sda missing: %+v %+v", i, r.Mounts, r.Disks)
		}
	}
	appendTo(filepath.Join(proc, "self/mountinfo"), "40 27 8:17 / /new rw,relatime - ext4 /dev/sdb1 rw\n")
	appendTo(filepath.Join(proc, "diskstats"), "   8      16 sdb 10 0 80 1 20 0 160 2 0 3 3 0 0 0 0 0 0\n"+
		"   8      17 sdb1 10 0 80 1 20 0 160 2 0 3 3 0 0 0 0 0 0\n")
	if err := os.Mkdir(filepath.Join(sys, "block/sdb"), 0o755); err != nil {
		t.Fatal(err)
	}
	c.Collect(t0.Add(20*time.Second), &r)
	if m, _ := has(&r, "/new", ""); !m {
		t.Fatalf("mount added between cycles not reported: %+v", r.Mounts)
	}
	c.Collect(t0.Add(30*time.Second), &r) // a disk's rate needs two samples
	if _, d := has(&r, "", "sdb"); !d {
		t.Fatalf("disk added between cycles not reported: %+v", r.Disks)
	}
	if _, d := has(&r, "", "sdb1"); d {
		t.Fatalf("partition sdb1 reported as a disk: %+v", r.Disks)
	}
}

func TestParseStat(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		want     cpuTicks
		cores    int
		btime    int64
		wantErr  bool
	}{
		{"full", "cpu  1 2 3 4 5 6 7 8 9 10\ncpu0 1 2 3 4 5 6 7 8 9 10\ncpu1 0 0 0 0 0 0 0 0 0 0\nintr 5 0\nbtime 1767225600\n",
			cpuTicks{1, 2, 3, 4, 5, 6, 7, 8}, 2, 1767225600, false},
		{"old kernel: fewer columns, no btime", "cpu 10 20 30 40\ncpu0 10 20 30 40\n", cpuTicks{10, 20, 30, 40}, 1, 0, false},
		{"no cpu line", "intr 5\nbtime 1\n", cpuTicks{}, 0, 0, true},
		{"garbage in the cpu line", "cpu 1 x 3\n", cpuTicks{}, 0, 0, true},
		{"counter too large", "cpu 99999999999999999999999 0\n", cpuTicks{}, 0, 0, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, cores, btime, err := parseStat([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err == nil && (got != tt.want || cores != tt.cores || btime != tt.btime) {
				t.Fatalf("got %v, %d cores, btime %d; want %v, %d, %d", got, cores, btime, tt.want, tt.cores, tt.btime)
			}
		})
	}
}
