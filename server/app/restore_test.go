package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/server/app"
	"github.com/vigilhq/vigil/server/storetest"
	"github.com/vigilhq/vigil/wire"
)

// fleetState is what a restore must bring back, as the operator API shows it.
type fleetState struct {
	host  api.Host
	group api.Group
	audit []api.AuditEntry
}

// seed enrolls a host into a new pinned group and has it report seqs 1..4, each acknowledged
// (so committed) before it returns.
func seed(t *testing.T, s *testServer) (hostID, credential string) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.admin.CreateGroup(ctx, api.CreateGroupRequest{Name: "web", Grace: "2m", AlertEmails: []string{"web@example.com"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.admin.SetPin(ctx, "web", api.Pin{Version: "1.4.2", Force: true}); err != nil {
		t.Fatal(err)
	}
	tok, err := s.admin.CreateEnrollmentToken(ctx, api.CreateEnrollmentTokenRequest{Group: "web", MaxUses: 1})
	if err != nil {
		t.Fatal(err)
	}
	status, body := s.post(t, "/api/v1/enroll", "", wire.EnrollRequest{EnrollmentToken: tok.Token, Hostname: "web-1", OS: "linux", Arch: "amd64", AgentVersion: "1.0.0"}, false)
	if status != http.StatusCreated {
		t.Fatalf("enroll: %d %s", status, body)
	}
	var enr wire.EnrollResponse
	if err := json.Unmarshal(body, &enr); err != nil {
		t.Fatal(err)
	}
	if got := ack(t, s, enr.Credential, 1, 2, 3, 4); got != 4 {
		t.Fatalf("acked %d, want 4", got)
	}
	return enr.HostID, enr.Credential
}

// ack posts reports with the given seqs and returns the acknowledged seq.
func ack(t *testing.T, s *testServer, credential string, seqs ...uint64) uint64 {
	t.Helper()
	var b wire.ReportBatch
	for _, q := range seqs {
		b.Reports = append(b.Reports, report(q, float64(q)))
	}
	status, body := s.post(t, "/api/v1/reports", credential, b, true)
	if status != http.StatusOK {
		t.Fatalf("reports %v: %d %s", seqs, status, body)
	}
	var a wire.Ack
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatal(err)
	}
	return a.AckedSeq
}

func state(t *testing.T, s *testServer, hostID string) fleetState {
	t.Helper()
	ctx := context.Background()
	h, err := s.admin.GetHost(ctx, hostID)
	if err != nil {
		t.Fatalf("host %s: %v", hostID, err)
	}
	g, err := s.admin.GetGroup(ctx, "web")
	if err != nil {
		t.Fatalf("group web: %v", err)
	}
	a, err := s.admin.ListAudit(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	return fleetState{host: h, group: g, audit: a}
}

// checkRestored compares the restored server's view with the one taken at backup time and
// checks the host's credential still works, continuing from its acknowledged seq.
func checkRestored(t *testing.T, s *testServer, hostID, credential string, want fleetState) {
	t.Helper()
	got := state(t, s, hostID)
	if got.host.Hostname != "web-1" || got.host.Group != "web" || got.host.AckedSeq != 4 || got.host.Latest == nil || got.host.Latest.CPU.BusyPct != 4 {
		t.Errorf("restored host = %+v, want web-1 in web, acked 4, latest cpu 4", got.host)
	}
	if got.group.Pin != (api.Pin{Version: "1.4.2"}) || !slices.Equal(got.group.AlertEmails, []string{"web@example.com"}) || time.Duration(got.group.Grace) != 2*time.Minute {
		t.Errorf("restored group = %+v", got.group)
	}
	if len(got.audit) == 0 || len(got.audit) != len(want.audit) {
		t.Errorf("restored audit has %d entries, want %d: %+v", len(got.audit), len(want.audit), got.audit)
	} else {
		for i := range want.audit {
			if g, w := got.audit[i], want.audit[i]; g.ID != w.ID || g.Action != w.Action || g.Target != w.Target || !g.Time.Equal(w.Time) {
				t.Errorf("audit[%d] = %+v, want %+v", i, g, w)
			}
		}
	}
	samples, err := s.Service().Store().ListSamples(context.Background(), hostID, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), 100)
	if err != nil || len(samples) != 4 {
		t.Errorf("restored samples: %d, %v; want 4", len(samples), err)
	}
	// The credential works, and seq 5 (committed after the backup, so missing here) is taken
	// again: the ack moves on from the backup's 4. (A real agent resends only what was never
	// acknowledged; docs/install.md says what a restore loses.)
	if got := ack(t, s, credential, 4, 5); got != 5 {
		t.Errorf("after restore acked %d, want 5", got)
	}
}

// copyDataFiles copies the data directory's files except the SQLite database, as a file-level
// backup of the rest of it (TLS, admin token, online TUF keys, release repository) would.
func copyDataFiles(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if strings.HasPrefix(rel, "vigil.db") {
			return nil
		}
		dst := filepath.Join(to, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(dst, info.Mode().Perm())
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, info.Mode().Perm())
	})
	if err != nil {
		t.Fatalf("copy the data dir: %v", err)
	}
}

// TestBackupRestoreSQLite backs the SQLite database up while the server runs, loses the data
// directory, restores it into a fresh one and checks the restored server has everything that was
// committed before the backup (and nothing after it), with the same CA and working credentials.
func TestBackupRestoreSQLite(t *testing.T) {
	if testing.Short() {
		t.Skip("restore test: starts three servers")
	}
	ctx := context.Background()
	oldDir := t.TempDir()
	old, token := startWith(t, app.Config{DataDir: oldDir}, "")
	hostID, cred := seed(t, old)
	busy := old.enrollQuiet(t, "busy-1")
	want := state(t, old, hostID)

	// Another host keeps reporting while the backup runs: the server must go on committing.
	var acked atomic.Uint64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for seq := uint64(1); ; seq++ {
			select {
			case <-stop:
				return
			default:
			}
			a, err := postReport(old, busy, report(seq, 1))
			if err != nil {
				t.Errorf("report during the backup: %v", err)
				return
			}
			acked.Store(a.AckedSeq)
		}
	}()
	waitFor(t, 10*time.Second, "the busy host's first ack", func() bool { return acked.Load() >= 1 })
	backup := filepath.Join(t.TempDir(), "vigil.db.backup")
	err := app.BackupSQLite(ctx, oldDir, backup)
	after := acked.Load()
	waitFor(t, 10*time.Second, "acks after the backup", func() bool { return acked.Load() >= after+2 })
	close(stop)
	<-done
	if err != nil {
		t.Fatalf("backup while running: %v", err)
	}
	if fi, err := os.Stat(backup); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v, %v; want mode 0600", fi, err)
	}
	if err := app.BackupSQLite(ctx, oldDir, backup); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("a second backup onto the same file: %v, want a refusal", err)
	}
	if err := app.BackupSQLite(ctx, t.TempDir(), filepath.Join(t.TempDir(), "x")); err == nil {
		t.Errorf("a backup of a data dir without a database succeeded")
	}
	// Committed after the backup: not in it.
	if got := ack(t, old, cred, 5); got != 5 {
		t.Fatalf("acked %d, want 5", got)
	}
	newDir := t.TempDir()
	copyDataFiles(t, oldDir, newDir)
	caFingerprint := old.CAFingerprint
	if err := old.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	// Restore: the database file from the backup, no -wal or -shm beside it.
	b, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(newDir, "vigil.db"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	restored, _ := startWith(t, app.Config{DataDir: newDir}, token)
	if restored.CAFingerprint != caFingerprint {
		t.Errorf("restored CA %s, want %s: agents pinning the old CA would be locked out", restored.CAFingerprint, caFingerprint)
	}
	if restored.AdminTokenPath != "" {
		t.Errorf("the restored server made a new admin token (%s): the tokens were not restored", restored.AdminTokenPath)
	}
	checkRestored(t, restored, hostID, cred, want)
}

// TestBackupRestorePostgres dumps the server's PostgreSQL schema with pg_dump -Fc while it runs,
// restores it with pg_restore into a new database, starts a server there and checks the same as
// the SQLite test.
func TestBackupRestorePostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("restore test: starts servers and runs pg_dump")
	}
	srcURL := storetest.PostgresURL(t, "restoretest")
	base := os.Getenv("VIGIL_TEST_POSTGRES_URL")
	for _, tool := range []string{"pg_dump", "pg_restore"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s: %v (install postgresql-client)", tool, err)
		}
	}
	u, err := url.Parse(srcURL)
	if err != nil {
		t.Fatal(err)
	}
	schema := u.Query().Get("search_path")
	ctx := context.Background()

	oldDir := t.TempDir()
	old, token := startWith(t, app.Config{DataDir: oldDir, DatabaseURL: srcURL}, "")
	hostID, cred := seed(t, old)
	want := state(t, old, hostID)

	dump := filepath.Join(t.TempDir(), "vigil.dump")
	run(t, "pg_dump", "--format=custom", "--schema="+schema, "--file="+dump, base)
	if got := ack(t, old, cred, 5); got != 5 {
		t.Fatalf("acked %d, want 5", got)
	}
	newDir := t.TempDir()
	copyDataFiles(t, oldDir, newDir)
	if err := old.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	// A fresh database, dropped when the test ends (after the server using it stopped).
	db := fmt.Sprintf("vigil_restore_%d", time.Now().UnixNano())
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+db); err != nil {
		t.Fatal(err)
	}
	admin.Close(ctx)
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err == nil {
			_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)")
			c.Close(context.Background())
		}
	})
	bu, _ := url.Parse(base)
	bu.Path = "/" + db
	run(t, "pg_restore", "--no-owner", "--exit-on-error", "--dbname="+bu.String(), dump)
	q := bu.Query()
	q.Set("search_path", schema)
	bu.RawQuery = q.Encode()

	restored, _ := startWith(t, app.Config{DataDir: newDir, DatabaseURL: bu.String()}, token)
	if restored.AdminTokenPath != "" {
		t.Errorf("the restored server made a new admin token: the tokens were not restored")
	}
	checkRestored(t, restored, hostID, cred, want)
}

// postReport posts one report without failing the test itself, for use off the test's goroutine.
func postReport(s *testServer, credential string, r wire.Report) (wire.Ack, error) {
	var a wire.Ack
	data, err := json.Marshal(wire.ReportBatch{Reports: []wire.Report{r}})
	if err != nil {
		return a, err
	}
	req, err := http.NewRequest(http.MethodPost, s.URL+"/api/v1/reports", bytes.NewReader(data))
	if err != nil {
		return a, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+credential)
	resp, err := s.client.Do(req)
	if err != nil {
		return a, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return a, fmt.Errorf("%d %s", resp.StatusCode, body)
	}
	return a, json.Unmarshal(body, &a)
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", name, err, out)
	}
}
