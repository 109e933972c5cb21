package agent

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRefusedDropsReachServerOnce: the server refuses (400) every report for a while, so the agent
// drops each one, and each next report, which carries the count so far, is refused and dropped
// too. The count survives, across a crash, until a report carrying it is stored: after recovery
// the server has counted every dropped report exactly once, although the report carrying the
// count was committed, its ack lost, the agent killed, and the report sent again.
func TestRefusedDropsReachServerOnce(t *testing.T) {
	srv := newFakeServer()
	srv.refuse = true
	cfg := testConfig(t, srv)
	ctx := t.Context()
	now := time.Now()
	a := newAgent(t, cfg)
	const refused = 3
	for i := range refused {
		a.cycle(now.Add(time.Duration(i) * time.Second))
		a.deliver(ctx, now.Add(time.Hour))
	}
	if a.spool.Pending() != 0 || a.drops.pending != refused {
		t.Fatalf("after %d refused reports: %d pending in the spool, %d drops counted; want 0 and %d",
			refused, a.spool.Pending(), a.drops.pending, refused)
	}
	// kill -9, then the server takes reports again but the first ack is lost.
	a.client.Close()
	crash(t, a.spool)
	srv.set(func(f *fakeServer) { f.refuse, f.loseAck = false, true })
	a = newAgent(t, cfg)
	a.cycle(now.Add(10 * time.Second))
	a.deliver(ctx, now.Add(time.Hour))
	srv.set(func(f *fakeServer) {
		if f.dropped != refused {
			t.Errorf("the committed report carried %d drops, want %d", f.dropped, refused)
		}
	})
	// kill -9 before any ack: the carrier, still in the spool, is sent again after the restart.
	a.client.Close()
	crash(t, a.spool)
	srv.set(func(f *fakeServer) { f.loseAck = false })
	a = newAgent(t, cfg)
	defer a.Close()
	for i := range 3 {
		a.cycle(now.Add(time.Duration(20+i) * time.Second))
		a.deliver(ctx, now.Add(time.Hour))
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	carrier := uint64(0) // the first report committed
	for seq := range srv.committed {
		if carrier == 0 || seq < carrier {
			carrier = seq
		}
	}
	if srv.dropped != refused || srv.committed[carrier] != 2 || a.spool.Pending() != 0 || len(srv.badReqs) != 0 {
		t.Fatalf("server counted %d dropped reports (want %d); the carrier, seq %d, received %d times (want 2: resent after the lost ack); %d pending, bad requests %v",
			srv.dropped, refused, carrier, srv.committed[carrier], a.spool.Pending(), srv.badReqs)
	}
	if a.drops.pending != 0 || len(a.drops.carried) != 0 {
		t.Errorf("ledger after delivery: %+v, want empty", a.drops)
	}
}

// TestDropLedgerWritesOnlyOnDrops: while nothing is dropped, the ledger is never written (no
// extra write per cycle); a refused report writes it.
func TestDropLedgerWritesOnlyOnDrops(t *testing.T) {
	srv := newFakeServer()
	cfg := testConfig(t, srv)
	a := newAgent(t, cfg)
	defer a.Close()
	ctx, now := t.Context(), time.Now()
	path := filepath.Join(cfg.StateDir, "drops")
	for i := range 5 {
		a.cycle(now.Add(time.Duration(i) * time.Second))
		a.deliver(ctx, now.Add(time.Hour))
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("ledger written without a drop: %v", err)
	}
	srv.set(func(f *fakeServer) { f.refuse = true })
	a.cycle(now.Add(10 * time.Second))
	a.deliver(ctx, now.Add(time.Hour))
	if b, err := os.ReadFile(path); err != nil || len(b) == 0 {
		t.Fatalf("ledger after a refused report: %q, %v", b, err)
	}
}

// TestDropLedgerCarrierDroppedBySpool: a report carrying drops that the full spool then drops
// hands its count on (with its own drop, which the spool counts), in memory and after a restart.
func TestDropLedgerCarrierDroppedBySpool(t *testing.T) {
	dir := t.TempDir()
	sp, err := OpenSpool(filepath.Join(dir, "spool"), minSpoolBytes)
	if err != nil {
		t.Fatal(err)
	}
	d, err := openDrops(filepath.Join(dir, "drops"), sp, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.dropped(5, 0); err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, 2<<10)
	appendOne := func() uint64 {
		seq, err := sp.Reserve()
		if err != nil {
			t.Fatal(err)
		}
		if err := sp.Append(seq, payload); err != nil {
			t.Fatal(err)
		}
		return seq
	}
	carrier := appendOne()
	d.spooled(carrier, d.pending)
	if lost, err := d.lostCarriers(sp, sp.lastReserved()); err != nil || lost {
		t.Fatalf("carrier still spooled: lost %v, %v", lost, err)
	}
	for sp.Pending() > 0 && firstSpooled(t, sp) <= carrier { // fill until the carrier's segment goes
		appendOne()
	}
	if lost, err := d.lostCarriers(sp, sp.lastReserved()); err != nil || !lost || d.pending != 5 || len(d.carried) != 0 {
		t.Fatalf("after the spool dropped the carrier: lost %v (%v), pending %d, carried %v; want 5 pending again", lost, err, d.pending, d.carried)
	}
	crash(t, sp)
	sp, err = OpenSpool(filepath.Join(dir, "spool"), minSpoolBytes)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	if d, err = openDrops(filepath.Join(dir, "drops"), sp, slog.New(slog.DiscardHandler)); err != nil || d.pending != 5 || len(d.carried) != 0 {
		t.Fatalf("after a restart: pending %d, carried %v, %v; want 5 pending", d.pending, d.carried, err)
	}
}

func firstSpooled(t *testing.T, sp *Spool) uint64 {
	t.Helper()
	seq, ok, err := sp.firstAfter(0)
	if err != nil || !ok {
		t.Fatalf("spool empty: %v", err)
	}
	return seq
}

// TestDropLedgerUnknownLineSkipped: a line of a kind this agent does not know (written by a later
// one it was rolled back from) is skipped; the agent starts and keeps the lines it knows.
func TestDropLedgerUnknownLineSkipped(t *testing.T) {
	cfg := testConfig(t, newFakeServer())
	path := filepath.Join(cfg.StateDir, "drops")
	if err := os.WriteFile(path, []byte("pending 3 after 0\nfuture-kind 1 2 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := newAgent(t, cfg)
	defer a.Close()
	if a.drops.pending != 3 {
		t.Fatalf("pending %d after an unknown line; want 3", a.drops.pending)
	}
	if _, err := os.Stat(path + ".bad"); !os.IsNotExist(err) {
		t.Fatalf("ledger with only an unknown line moved aside: %v", err)
	}
}

// TestDropLedgerBadFileMovedAside: a malformed or oversized ledger does not stop the agent from
// starting; it is moved to drops.bad (its bytes kept) and the ledger starts empty.
func TestDropLedgerBadFileMovedAside(t *testing.T) {
	for name, data := range map[string][]byte{
		"malformed": []byte("pending x after 0\n"),
		"oversized": []byte("pending 3 after 0\n" + strings.Repeat("future-kind\n", maxDropsFile/12+1)),
	} {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig(t, newFakeServer())
			path := filepath.Join(cfg.StateDir, "drops")
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			a, err := New(cfg)
			if err != nil {
				t.Fatalf("New with a bad drops file: %v", err)
			}
			defer a.Close()
			if a.drops.pending != 0 || len(a.drops.carried) != 0 {
				t.Fatalf("ledger not empty: pending %d, carried %v", a.drops.pending, a.drops.carried)
			}
			if b, err := os.ReadFile(path + ".bad"); err != nil || !bytes.Equal(b, data) {
				t.Fatalf("drops.bad: %d bytes, %v; want the %d bytes of the bad file", len(b), err, len(data))
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Fatalf("bad ledger still in place: %v", err)
			}
		})
	}
}

// TestDropLedgerCarriedBounded: however many carriers are outstanding, the ledger lists at most
// maxCarried, keeps their total count, and its file stays readable (under maxDropsFile).
func TestDropLedgerCarriedBounded(t *testing.T) {
	dir := t.TempDir()
	sp, err := OpenSpool(filepath.Join(dir, "spool"), minSpoolBytes)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	d := &dropLedger{path: filepath.Join(dir, "drops")}
	var total uint64
	for i := range uint64(maxCarried + 50) {
		d.pending = 1e15 + i // long lines, and no overflow of the total
		total += d.pending
		d.spooled(1<<63+i, d.pending)
	}
	if len(d.carried) != maxCarried {
		t.Fatalf("%d carriers listed; want at most %d", len(d.carried), maxCarried)
	}
	var sum uint64
	for _, c := range d.carried {
		sum += c.n
	}
	if sum != total || d.carried[len(d.carried)-1].seq != 1<<63+maxCarried+49 {
		t.Fatalf("carried total %d, last seq %d; want %d and %d", sum, d.carried[len(d.carried)-1].seq, total, uint64(1<<63+maxCarried+49))
	}
	if err := d.save(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(d.path); err != nil || fi.Size() > maxDropsFile {
		t.Fatalf("ledger file: %v; want at most %d bytes", err, maxDropsFile)
	}
}

// TestSpoolFullDropsSurviveKill: when the full spool drops its oldest segment while appending a
// report, the count is saved in the same cycle, so a kill -9 right after it loses none of it.
func TestSpoolFullDropsSurviveKill(t *testing.T) {
	cfg := testConfig(t, newFakeServer())
	cfg.SpoolBytes = minSpoolBytes
	a := newAgent(t, cfg)
	now := time.Now()
	cycles := 0
	for a.spool.Pending() == cycles { // nothing delivered: run until the spool drops a segment
		if cycles > 100000 {
			t.Fatal("the spool never dropped a segment")
		}
		a.cycle(now.Add(time.Duration(cycles) * time.Second))
		cycles++
	}
	dropped := uint64(cycles - a.spool.Pending())
	a.client.Close()
	crash(t, a.spool) // kill -9: no Close, no further cycle
	a = newAgent(t, cfg)
	defer a.Close()
	if a.drops.pending != dropped {
		t.Fatalf("after a kill: %d drops pending; want the %d the spool dropped", a.drops.pending, dropped)
	}
}
