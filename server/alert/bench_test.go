package alert_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/alert"
	"github.com/vigilhq/vigil/server/internal/storesql"
	"github.com/vigilhq/vigil/server/pgstore"
	"github.com/vigilhq/vigil/server/sqlitestore"
	"github.com/vigilhq/vigil/wire"
)

// benchHosts is the fleet size of the delay measurement.
const benchHosts = 100_000

// benchFleets are the fleet sizes of BenchmarkEvaluationCycle.
var benchFleets = []int{10_000, 100_000}

// benchFigures are the rule figure columns (storesql.FigureColumns) of benchReport, as
// CommitReports writes them, and their hash.
func benchFigures(b testing.TB) (cols string, vals []any, hash int64) {
	rep := benchReport()
	row, err := storesql.NewFigureRow(&rep)
	if err != nil {
		b.Fatal(err)
	}
	return strings.Join(storesql.FigureColumns, ", "), row.Values(), row.Hash
}

// benchReport is a realistic latest report (~2 KB of JSON, like the agent's).
func benchReport() wire.Report {
	r := wire.Report{Seq: 1, Time: t0, AgentVersion: "1.4.2", UpdaterVersion: "1.4.0", IntervalSeconds: 10,
		BootTime: t0.Add(-72 * time.Hour), UptimeSeconds: 259200,
		CPU: &wire.CPU{Cores: 8, BusyPct: 23.5, IOWaitPct: 1.2, StealPct: 0.1}, Load: &wire.Load{Load1: 1.9, Load5: 1.7, Load15: 1.5},
		Memory: &wire.Memory{TotalBytes: 16 << 30, AvailableBytes: 9 << 30, UsedPct: 43.8, SwapTotalBytes: 2 << 30, SwapFreeBytes: 2 << 30}}
	for _, p := range []string{"/", "/boot", "/var", "/home", "/srv"} {
		r.Mounts = append(r.Mounts, wire.Mount{Path: p, Device: "/dev/nvme0n1p" + fmt.Sprint(len(r.Mounts)+1), FSType: "ext4",
			TotalBytes: 100 << 30, FreeBytes: 60 << 30, UsedPct: 40, InodesTotal: 6553600, InodesFree: 6000000, InodesPct: 8.4})
	}
	for _, d := range []string{"nvme0n1", "nvme1n1"} {
		r.Disks = append(r.Disks, wire.DiskIO{Device: d, ReadBytesPS: 123456, WriteBytesPS: 654321, ReadIOPS: 12, WriteIOPS: 45, UtilizationPct: 3.2})
	}
	for _, i := range []string{"eth0", "eth1"} {
		r.Interfaces = append(r.Interfaces, wire.NetIO{Interface: i, RxBytesPS: 98765, TxBytesPS: 56789})
	}
	r.Processes = []wire.Process{{Name: "nginx", Running: 4, Instances: []wire.ProcInst{{PID: 1201, StartTime: t0.Add(-70 * time.Hour)}}},
		{Name: "postgres", Running: 1, Instances: []wire.ProcInst{{PID: 901, StartTime: t0.Add(-72 * time.Hour)}}}}
	r.Units = []wire.Unit{{Name: "nginx.service", ActiveState: "active", SubState: "running"}, {Name: "postgresql.service", ActiveState: "active", SubState: "running"}}
	return r
}

// seedSQLite fills a new SQLite store with n reporting hosts in 100 groups, straight through SQL.
// Their last report is at lastSeen.
func seedSQLite(b testing.TB, n int, lastSeen time.Time) *sqlitestore.Store {
	b.Helper()
	path := filepath.Join(b.TempDir(), "vigil.db")
	st, err := sqlitestore.Open(b.Context(), path, sqlitestore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	rep, _ := json.Marshal(benchReport())
	if _, err := db.Exec(`INSERT INTO groups (name, created_at) SELECT 'g' || x, 0 FROM
		(WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100) SELECT x FROM c)`); err != nil {
		b.Fatal(err)
	}
	figCols, figVals, hash := benchFigures(b)
	if _, err := db.Exec(`INSERT INTO hosts (id, hostname, group_name, enrolled_at, credential_hash, interval_seconds, last_seen, acked_seq, boot_time, latest, fig_hash)
		SELECT 'h' || x, 'host-' || x, 'g' || (x % 100 + 1), 0, 'c' || x, 10, ?, 1, ?, ?, ? FROM
		(WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?) SELECT x FROM c)`,
		lastSeen.UnixMicro(), t0.Add(-72*time.Hour).UnixMicro(), string(rep), hash, n); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO host_figures (host_id, `+figCols+`) SELECT id`+strings.Repeat(", ?", len(figVals))+` FROM hosts`,
		figVals...); err != nil {
		b.Fatal(err)
	}
	sqlitePaths[st] = path
	return st
}

func pgBenchURL(b testing.TB) string {
	url := os.Getenv("VIGIL_TEST_POSTGRES_URL")
	if url == "" {
		if os.Getenv("CI") == "true" {
			b.Fatal("VIGIL_TEST_POSTGRES_URL is not set, and under CI=true a skipped PostgreSQL benchmark is a failure")
		}
		b.Skip("VIGIL_TEST_POSTGRES_URL not set")
	}
	return url
}

// seedPostgres does what seedSQLite does on a fresh schema.
func seedPostgres(b testing.TB, n int, lastSeen time.Time) *pgstore.Store {
	b.Helper()
	url := pgBenchURL(b)
	rb := make([]byte, 6)
	rand.Read(rb)
	schema := "alert_bench_" + hex.EncodeToString(rb)
	st, err := pgstore.Open(b.Context(), url, pgstore.Options{Schema: schema, MaxConns: 4})
	if err != nil {
		b.Fatal(err)
	}
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		st.Close()
		conn.Exec(context.Background(), `DROP SCHEMA `+schema+` CASCADE`)
		conn.Close(context.Background())
	})
	rep, _ := json.Marshal(benchReport())
	if _, err := conn.Exec(b.Context(), `SET search_path = `+schema); err != nil {
		b.Fatal(err)
	}
	if _, err := conn.Exec(b.Context(), `INSERT INTO groups (name) SELECT 'g' || x FROM generate_series(1, 100) x`); err != nil {
		b.Fatal(err)
	}
	figCols, figVals, hash := benchFigures(b)
	if _, err := conn.Exec(b.Context(), `INSERT INTO hosts (id, hostname, group_name, enrolled_at, credential_hash, interval_seconds, last_seen, acked_seq, boot_time, latest, fig_hash)
		SELECT 'h' || x, 'host-' || x, 'g' || (x % 100 + 1), now(), 'c' || x, 10, $1, 1, $2, $3::json, $5 FROM generate_series(1, $4) x`,
		lastSeen, t0.Add(-72*time.Hour), string(rep), n, hash); err != nil {
		b.Fatal(err)
	}
	figTypes := []string{"float8", "float8", "float8", "bigint", "float8", "text", "bigint", "bigint", "text", "text"}
	figParams := make([]string, len(figVals))
	for i := range figVals {
		figParams[i] = fmt.Sprintf("$%d::%s", 1+i, figTypes[i])
	}
	if _, err := conn.Exec(b.Context(), `INSERT INTO host_figures (host_id, `+figCols+`) SELECT id, `+strings.Join(figParams, ", ")+` FROM hosts`,
		figVals...); err != nil {
		b.Fatal(err)
	}
	if _, err := conn.Exec(b.Context(), `VACUUM ANALYZE hosts, host_figures`); err != nil {
		b.Fatal(err)
	}
	pgSchemas[st] = schema
	return st
}

type benchStore interface {
	alert.Store
	server.Store
}

func benchStores(b *testing.B) []struct {
	name string
	open func(b *testing.B, hosts int, lastSeen time.Time) benchStore
} {
	return []struct {
		name string
		open func(b *testing.B, hosts int, lastSeen time.Time) benchStore
	}{
		{"sqlite", func(b *testing.B, n int, ls time.Time) benchStore { return seedSQLite(b, n, ls) }},
		{"postgres", func(b *testing.B, n int, ls time.Time) benchStore { return seedPostgres(b, n, ls) }},
	}
}

// BenchmarkEvaluationCycle measures what the leader spends per fleet size
// (BenchmarkEvaluationCycle/<store>/hosts=<N>/<case>, for charts of cost against fleet size):
//
//   - tick: a cycle between scans, nothing due (the heap's head is in the future) — what runs
//     every EvalInterval (1s);
//   - scan-idle: a full scan where no host sent a new report (narrow host columns for all, heap
//     fixed);
//   - scan-all-new: a full scan where every host sent a new report since the last one (the
//     default 10s interval and 10s ScanInterval) whose figures differ from the previous one (the
//     worst case: no host can be skipped), so it also reads every host's rule figures and runs
//     the seven default rules on them. This is the real cost per ScanInterval (the Engine spreads
//     it over cycles, EvalBudget at a time).
func BenchmarkEvaluationCycle(b *testing.B) {
	for _, bs := range benchStores(b) {
		b.Run(bs.name, func(b *testing.B) {
			for _, hosts := range benchFleets {
				b.Run(fmt.Sprintf("hosts=%d", hosts), func(b *testing.B) { benchEvaluationCycle(b, bs.open, hosts) })
			}
		})
	}
}

func benchEvaluationCycle(b *testing.B, open func(b *testing.B, hosts int, lastSeen time.Time) benchStore, hosts int) {
	// Hosts reported "in the future": none goes late while the clock advances.
	st := open(b, hosts, t0.Add(24*time.Hour))
	clock := &fakeClock{now: t0}
	// EvalBudget unbounded: one Tick does all the rule work, so its time is the whole cost.
	eng, err := alert.NewEngine(alert.Config{Store: st, Logger: quietLog(), Now: clock.Now, Started: t0.Add(-time.Hour),
		ScanInterval: 10 * time.Second, EvalBudget: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if err := eng.Tick(b.Context()); err != nil {
		b.Fatal(err)
	}
	b.Logf("first load of %d hosts: %s", hosts, time.Since(start).Round(time.Millisecond))

	// Besides wall time (ns/op), each case reports the CPU this process spent in Tick
	// (cpu-ns/op: user + system, from getrusage): on a loaded machine wall time also counts
	// waiting for a core. The database's own CPU (PostgreSQL's backend) is not in it.
	tick := func(b *testing.B, cpu *time.Duration) {
		before := processCPU()
		if err := eng.Tick(b.Context()); err != nil {
			b.Fatal(err)
		}
		*cpu += processCPU() - before
	}
	b.Run("tick", func(b *testing.B) {
		var cpu time.Duration
		for b.Loop() {
			tick(b, &cpu)
		}
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	})
	b.Run("scan-idle", func(b *testing.B) {
		var cpu time.Duration
		for b.Loop() {
			clock.set(clock.Now().Add(10 * time.Second))
			tick(b, &cpu)
		}
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	})
	b.Run("scan-all-new", func(b *testing.B) {
		var cpu time.Duration
		seq := 1
		for b.Loop() {
			b.StopTimer()
			seq++
			bumpSeqs(b, st, seq)
			clock.set(clock.Now().Add(10 * time.Second))
			b.StartTimer()
			tick(b, &cpu)
		}
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	})
}

// processCPU is the CPU time (user + system) this process has used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// bumpSeqs sets every host's acked seq and CPU figure (still below the default rule's
// threshold), as if each had sent a new report with other figures.
func bumpSeqs(b *testing.B, st benchStore, seq int) {
	b.Helper()
	var err error
	cpu := 23.5 + float64(seq)/1000
	switch st.(type) {
	case *sqlitestore.Store:
		if err = execSQLite(b, st, `UPDATE hosts SET acked_seq = ?, fig_hash = ?`, seq, seq); err == nil {
			err = execSQLite(b, st, `UPDATE host_figures SET fig_cpu = ?`, cpu)
		}
	case *pgstore.Store:
		if err = execPostgres(b, st, `UPDATE hosts SET acked_seq = $1, fig_hash = $1`, seq); err == nil {
			err = execPostgres(b, st, `UPDATE host_figures SET fig_cpu = $1`, cpu)
		}
	}
	if err != nil {
		b.Fatal(err)
	}
}

// The benchmarks need raw SQL against a store's database; the seeders record where it is.
var (
	sqlitePaths = map[benchStore]string{}
	pgSchemas   = map[benchStore]string{}
)

func execSQLite(b testing.TB, st benchStore, q string, args ...any) error {
	path := sqlitePaths[st]
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.Exec(q, args...)
	return err
}

func execPostgres(b testing.TB, st benchStore, q string, args ...any) error {
	return execPostgresCtx(context.Background(), st, q, args...)
}

type sqliteStore = sqlitestore.Store

func execPostgresCtx(ctx context.Context, st benchStore, q string, args ...any) error {
	conn, err := pgx.Connect(ctx, os.Getenv("VIGIL_TEST_POSTGRES_URL"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `SET search_path = `+pgSchemas[st]); err != nil {
		return err
	}
	_, err = conn.Exec(ctx, q, args...)
	return err
}

func fmtSscan(s string, n *int) (int, error) { return fmt.Sscan(s, n) }
