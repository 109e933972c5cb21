package agent

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

func payloadFor(seq uint64) []byte {
	return fmt.Appendf(nil, `{"seq":%d,"pad":"%s"}`, seq, strings.Repeat("x", 200))
}

// appendN reserves and appends n records, returning their seqs.
func appendN(t *testing.T, s *Spool, n int) []uint64 {
	t.Helper()
	var seqs []uint64
	for range n {
		seq, err := s.Reserve()
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Append(seq, payloadFor(seq)); err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, seq)
	}
	return seqs
}

// peekAll returns the seqs of every pending record, checking payloads.
func peekAll(t *testing.T, s *Spool) []uint64 {
	t.Helper()
	var got []uint64
	_, err := s.Peek(1<<30, 1<<30, func(seq uint64, p []byte) error {
		if string(p) != string(payloadFor(seq)) {
			t.Errorf("record %d has payload %q", seq, p)
		}
		got = append(got, seq)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func seqRange(from, to uint64) []uint64 {
	var s []uint64
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

func TestSpoolReplayOrderAndAck(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenSpool(dir, minSpoolBytes)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, s, 100) // spans several segments
	if got := peekAll(t, s); !slices.Equal(got, seqRange(1, 100)) {
		t.Fatalf("replay = %v, want 1..100 in order", got)
	}
	// Batches respect the count and byte limits, oldest first.
	var batch []uint64
	n, _ := s.Peek(10, 1<<20, func(seq uint64, _ []byte) error { batch = append(batch, seq); return nil })
	if n != 10 || !slices.Equal(batch, seqRange(1, 10)) {
		t.Fatalf("batch = %v", batch)
	}
	batch = nil
	s.Peek(500, 500, func(seq uint64, _ []byte) error { batch = append(batch, seq); return nil })
	if !slices.Equal(batch, seqRange(1, 2)) {
		t.Fatalf("byte-bounded batch = %v, want 2 records", batch)
	}
	if err := s.Ack(42); err != nil {
		t.Fatal(err)
	}
	if got := peekAll(t, s); !slices.Equal(got, seqRange(43, 100)) {
		t.Fatalf("after ack 42: %v", got)
	}
	if s.Pending() != 58 {
		t.Fatalf("Pending = %d, want 58", s.Pending())
	}
	s.Close()

	// Reopen: acked records stay forgotten, the rest replays, and seqs continue.
	s, err = OpenSpool(dir, minSpoolBytes)
	if err != nil {
		t.Fatal(err)
	}
	if got := peekAll(t, s); !slices.Equal(got, seqRange(43, 100)) {
		t.Fatalf("after reopen: %v", got)
	}
	if seq, _ := s.Reserve(); seq != 101 {
		t.Fatalf("next seq after reopen = %d, want 101", seq)
	}
	if err := s.Ack(1000); err != nil { // an ack beyond what was handed out is clamped
		t.Fatal(err)
	}
	if s.Pending() != 0 {
		t.Fatalf("Pending = %d after acking everything", s.Pending())
	}
	s.Close()
	s, err = OpenSpool(dir, minSpoolBytes)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if seq, _ := s.Reserve(); seq != 102 {
		t.Fatalf("seq after emptying the spool = %d, want 102 (never reused)", seq)
	}
}

func TestSpoolFullDropsOldest(t *testing.T) {
	s, err := OpenSpool(t.TempDir(), minSpoolBytes)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 1000 // ~230 KB of records into a 64 KiB spool
	appendN(t, s, n)
	got := peekAll(t, s)
	dropped, corrupt := s.TakeCounters()
	if corrupt != 0 {
		t.Errorf("corrupt = %d", corrupt)
	}
	if len(got) == 0 || got[len(got)-1] != n {
		t.Fatalf("newest record missing: %v", got)
	}
	if !slices.Equal(got, seqRange(got[0], n)) {
		t.Fatalf("kept records are not the newest contiguous run: %v", got)
	}
	if dropped != uint64(got[0]-1) {
		t.Fatalf("dropped = %d, want %d (every record older than the first kept)", dropped, got[0]-1)
	}
	if s.totalBytes() > minSpoolBytes {
		t.Fatalf("spool holds %d bytes, over its %d limit", s.totalBytes(), minSpoolBytes)
	}
	if d, _ := s.TakeCounters(); d != 0 {
		t.Fatalf("counters not reset")
	}
}

func TestSpoolCorruption(t *testing.T) {
	tests := []struct {
		name        string
		damage      func(t *testing.T, path string, offsets []int64)
		wantSeqs    []uint64
		wantCorrupt uint64
	}{
		{"torn tail", func(t *testing.T, path string, _ []int64) {
			f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			defer f.Close()
			rec := encodeRecord(6, payloadFor(6))
			f.Write(rec[:len(rec)/2]) // a crash in the middle of a write
		}, seqRange(1, 5), 1},
		{"torn header", func(t *testing.T, path string, _ []int64) {
			f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			defer f.Close()
			f.Write([]byte{1, 2, 3})
		}, seqRange(1, 5), 1},
		{"flipped payload byte", func(t *testing.T, path string, offs []int64) {
			f, _ := os.OpenFile(path, os.O_WRONLY, 0)
			defer f.Close()
			f.WriteAt([]byte{'#'}, offs[2]+recHeader+5) // record 3
		}, []uint64{1, 2, 4, 5}, 1},
		{"huge length", func(t *testing.T, path string, offs []int64) {
			f, _ := os.OpenFile(path, os.O_WRONLY, 0)
			defer f.Close()
			var b [4]byte
			binary.LittleEndian.PutUint32(b[:], 0xfffffff0)
			f.WriteAt(b[:], offs[3]) // record 4: the rest of the segment is unusable
		}, seqRange(1, 3), 1},
		{"garbage tail", func(t *testing.T, path string, _ []int64) {
			f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			defer f.Close()
			f.Write([]byte(strings.Repeat("\xff", 40)))
		}, seqRange(1, 5), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := OpenSpool(dir, 0)
			if err != nil {
				t.Fatal(err)
			}
			var offs []int64
			for range 5 {
				offs = append(offs, s.segs[len(s.segs)-1].size)
				appendN(t, s, 1)
			}
			seg := s.segPath(s.segs[0].id)
			s.Close()
			tt.damage(t, seg, offs)

			s, err = OpenSpool(dir, 0)
			if err != nil {
				t.Fatalf("corruption made open fail: %v", err)
			}
			defer s.Close()
			if got := peekAll(t, s); !slices.Equal(got, tt.wantSeqs) {
				t.Fatalf("records = %v, want %v", got, tt.wantSeqs)
			}
			if _, corrupt := s.TakeCounters(); corrupt != tt.wantCorrupt {
				t.Fatalf("corrupt = %d, want %d", corrupt, tt.wantCorrupt)
			}
			// The spool keeps working, with a fresh seq.
			if got := appendN(t, s, 1); got[0] <= 5 {
				t.Fatalf("seq %d reused after corruption", got[0])
			}
			s.Close()
			s2, err := OpenSpool(dir, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			if _, corrupt := s2.TakeCounters(); corrupt != 0 {
				t.Fatalf("corruption counted again on the next open")
			}
		})
	}
}

func encodeRecord(seq uint64, payload []byte) []byte {
	var hdr [recHeader]byte
	binary.LittleEndian.PutUint32(hdr[0:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(hdr[4:], recordCRC(seq, payload))
	binary.LittleEndian.PutUint64(hdr[8:], seq)
	return append(hdr[:], payload...)
}

// TestSpoolKill9 runs a writer in a subprocess, kills it with SIGKILL in the middle of its writes,
// and checks that the spool reopens with whole records only, holding every record the writer had
// confirmed, and never hands out a seq again.
func TestSpoolKill9(t *testing.T) {
	if dir := os.Getenv("VIGIL_TEST_SPOOL_WRITER"); dir != "" {
		spoolWriter(dir)
		return
	}
	if testing.Short() {
		t.Skip("subprocess test")
	}
	dir := t.TempDir()
	for round := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSpoolKill9$", "-test.count=1")
		cmd.Env = append(os.Environ(), "VIGIL_TEST_SPOOL_WRITER="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		var confirmed []uint64
		for sc.Scan() {
			seq, err := strconv.ParseUint(strings.TrimPrefix(sc.Text(), "ok "), 10, 64)
			if err != nil {
				continue
			}
			confirmed = append(confirmed, seq)
			if len(confirmed) == 200+round*37 {
				cmd.Process.Signal(syscall.SIGKILL) // the writer is in the middle of its next write
				break
			}
		}
		cmd.Wait()
		s, err := OpenSpool(dir, 0)
		if err != nil {
			t.Fatalf("round %d: reopen after kill -9: %v", round, err)
		}
		var got []uint64
		_, err = s.Peek(1<<30, 1<<30, func(seq uint64, p []byte) error {
			if string(p) != string(payloadFor(seq)) {
				t.Errorf("round %d: record %d is not whole", round, seq)
			}
			got = append(got, seq)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range confirmed {
			if !slices.Contains(got, c) {
				t.Fatalf("round %d: confirmed record %d lost", round, c)
			}
		}
		if !slices.IsSorted(got) {
			t.Fatalf("round %d: records out of order", round)
		}
		next, err := s.Reserve()
		if err != nil {
			t.Fatal(err)
		}
		if next <= got[len(got)-1] || next <= confirmed[len(confirmed)-1] {
			t.Fatalf("round %d: seq %d would be reused", round, next)
		}
		s.Ack(next - 50) // acknowledge some, as a server would, before the next round
		s.Close()
	}
}

// spoolWriter appends records as fast as it can, printing each confirmed seq.
func spoolWriter(dir string) {
	s, err := OpenSpool(dir, 0)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	w := bufio.NewWriter(os.Stdout)
	for {
		seq, err := s.Reserve()
		if err != nil {
			os.Exit(1)
		}
		if err := s.Append(seq, payloadFor(seq)); err != nil {
			os.Exit(1)
		}
		fmt.Fprintf(w, "ok %d\n", seq)
		w.Flush()
	}
}

func TestSpoolSegmentsOnDisk(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenSpool(dir, minSpoolBytes)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, s, 100)
	s.Ack(100)
	s.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(segs) != 1 {
		t.Fatalf("after acking everything %d segment files remain, want 1 (empty)", len(segs))
	}
	if fi, _ := os.Stat(segs[0]); fi.Size() != 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("segment size %d mode %v", fi.Size(), fi.Mode())
	}
}

// mountTmpfs mounts a tmpfs of size bytes on a new directory, or skips the test saying why.
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs to fill (needs root or CAP_SYS_ADMIN): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// TestSpoolDiskFullDropsOldest fills a real 256 KiB tmpfs before the spool reaches its own bound
// (1 MiB): appends keep succeeding by dropping the oldest segments, counted as dropped, and the
// newest reports stay as one contiguous run — the same policy as the spool's own bound.
func TestSpoolDiskFullDropsOldest(t *testing.T) {
	dir := mountTmpfs(t, 256<<10)
	s, err := OpenSpool(filepath.Join(dir, "spool"), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 3000 // ~700 KB of records onto a 256 KiB disk
	appendN(t, s, n)
	got := peekAll(t, s)
	dropped, _ := s.TakeCounters()
	if len(got) == 0 || got[len(got)-1] != n {
		t.Fatalf("newest record missing: %d kept", len(got))
	}
	if !slices.Equal(got, seqRange(got[0], n)) {
		t.Fatalf("kept records are not the newest contiguous run")
	}
	if dropped == 0 || dropped != got[0]-1 {
		t.Fatalf("dropped = %d, want %d (every record older than the first kept)", dropped, got[0]-1)
	}
	// Reopened, the spool reads back exactly what it kept.
	s.Close()
	if s, err = OpenSpool(filepath.Join(dir, "spool"), 1<<20); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if again := peekAll(t, s); !slices.Equal(again, got) {
		t.Fatalf("after reopening: %d records from %d, want %d from %d", len(again), again[0], len(got), got[0])
	}
	t.Logf("%d records written onto a 256 KiB disk: kept %d..%d, dropped %d oldest", n, got[0], n, dropped)
}

// crash abandons s as kill -9 would: the append handle goes, nothing else is written (in
// particular not the state that Close writes).
func crash(t *testing.T, s *Spool) {
	t.Helper()
	if err := s.w.Close(); err != nil {
		t.Fatal(err)
	}
	s.w = nil
}

func stateFile(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSpoolSeqLease checks that the state file is written once per seqLease seqs, not once per
// report.
func TestSpoolSeqLease(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenSpool(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	appendN(t, s, 1)
	want := fmt.Sprintf("next %d\nacked 0\n", 1+seqLease)
	if got := stateFile(t, dir); got != want {
		t.Fatalf("state after the first seq = %q, want %q", got, want)
	}
	appendN(t, s, seqLease-1) // the rest of the lease: no state write
	if got := stateFile(t, dir); got != want {
		t.Fatalf("state after %d seqs = %q, want it unchanged %q", seqLease, got, want)
	}
	if err := s.Ack(seqLease); err != nil { // steady state: everything acknowledged, the segment emptied
		t.Fatal(err)
	}
	if got := stateFile(t, dir); got != want {
		t.Fatalf("state after acking everything = %q, want it unchanged %q (the ack rides on the next write)", got, want)
	}
	appendN(t, s, 2) // seq seqLease+1 needs the next lease, and the ack rides along
	want = fmt.Sprintf("next %d\nacked %d\n", 1+2*seqLease, seqLease)
	if got := stateFile(t, dir); got != want {
		t.Fatalf("state after seq %d = %q, want %q", seqLease+1, got, want)
	}
	if err := s.Ack(seqLease + 1); err != nil { // partly: the kept segment still holds seqLease+2
		t.Fatal(err)
	}
	want = fmt.Sprintf("next %d\nacked %d\n", 1+2*seqLease, seqLease+1)
	if got := stateFile(t, dir); got != want {
		t.Fatalf("state after a partial ack = %q, want %q (written at once, the lease kept)", got, want)
	}
}

// TestSpoolCrashBetweenReserveAndUse kills the spool (as kill -9 would) after seqs were reserved,
// some of them never appended, at every position in a lease: reopened, it never hands out a seq
// again, skips at most seqLease-1, keeps every appended record, and a clean Close skips nothing.
func TestSpoolCrashBetweenReserveAndUse(t *testing.T) {
	for _, tt := range []struct {
		name             string
		appended, unused int // records appended, then seqs reserved and never used
	}{
		{"first seq reserved, unused", 0, 1},
		{"mid lease", 10, 3},
		{"last seq of the lease unused", seqLease - 1, 1},
		{"lease used up exactly", seqLease, 0},
		{"first seq of the second lease unused", seqLease, 1},
		{"two leases", 2*seqLease + 5, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := OpenSpool(dir, 0)
			if err != nil {
				t.Fatal(err)
			}
			appendN(t, s, tt.appended)
			var last uint64 = uint64(tt.appended)
			for range tt.unused {
				if last, err = s.Reserve(); err != nil {
					t.Fatal(err)
				}
			}
			crash(t, s)

			s, err = OpenSpool(dir, 0)
			if err != nil {
				t.Fatal(err)
			}
			if got := peekAll(t, s); !slices.Equal(got, seqRange(1, uint64(tt.appended))) {
				t.Fatalf("records after the crash = %v, want 1..%d", got, tt.appended)
			}
			next, err := s.Reserve()
			if err != nil {
				t.Fatal(err)
			}
			if next <= last {
				t.Fatalf("seq %d handed out again after the crash (last handed out %d)", next, last)
			}
			if skipped := next - last - 1; skipped > seqLease-1 {
				t.Fatalf("%d seqs skipped after the crash, want at most %d", skipped, seqLease-1)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s, err = OpenSpool(dir, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if after, _ := s.Reserve(); after != next+1 {
				t.Fatalf("seq after a clean close = %d, want %d (nothing skipped)", after, next+1)
			}
		})
	}
}

// TestSpoolAckLostOnCrash checks that no acknowledged record is offered again after a crash: a
// partial ack (the mark inside a kept segment) is written at once, after a clean Close nothing is
// offered again either, and an ack that rode on a lease write survives the crash.
func TestSpoolAckLostOnCrash(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenSpool(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, s, 10)
	if err := s.Ack(6); err != nil {
		t.Fatal(err)
	}
	if got := peekAll(t, s); !slices.Equal(got, seqRange(7, 10)) {
		t.Fatalf("pending after ack 6 = %v", got)
	}
	crash(t, s)
	if s, err = OpenSpool(dir, 0); err != nil {
		t.Fatal(err)
	}
	if got := peekAll(t, s); !slices.Equal(got, seqRange(7, 10)) {
		t.Fatalf("after a crash = %v, want 7..10 (the partial ack 1..6 persisted)", got)
	}
	if err := s.Ack(6); err != nil { // the server acks the duplicates again
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = OpenSpool(dir, 0); err != nil {
		t.Fatal(err)
	}
	if got := peekAll(t, s); !slices.Equal(got, seqRange(7, 10)) {
		t.Fatalf("after a clean close = %v, want 7..10", got)
	}
	// The next lease write carries the ack: a crash after it resends nothing acknowledged.
	if err := s.Ack(8); err != nil {
		t.Fatal(err)
	}
	seq := appendN(t, s, 1)[0] // the first Reserve after opening writes a lease (seq: after the skipped ones)
	crash(t, s)
	if s, err = OpenSpool(dir, 0); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, want := peekAll(t, s), []uint64{9, 10, seq}; !slices.Equal(got, want) {
		t.Fatalf("after a crash following a lease write = %v, want %v", got, want)
	}
}

// TestSpoolPartialAckNotDroppedAfterCrash: records of a partly acknowledged first segment are not
// counted as dropped when, after a crash, the full spool drops that segment.
func TestSpoolPartialAckNotDroppedAfterCrash(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenSpool(dir, minSpoolBytes)
	if err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, 2<<10)
	add := func() {
		seq, err := s.Reserve()
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Append(seq, payload); err != nil {
			t.Fatal(err)
		}
	}
	for len(s.segs) < 2 { // a full first segment, and the append segment
		add()
	}
	inFirst := s.segs[0].count
	if err := s.Ack(s.segs[0].last - 1); err != nil { // all of the first segment but its last record
		t.Fatal(err)
	}
	s.TakeCounters()
	crash(t, s)
	if s, err = OpenSpool(dir, minSpoolBytes); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	first := s.segs[0].id
	for s.segs[0].id == first { // fill until the first segment goes
		add()
	}
	if dropped, _ := s.TakeCounters(); dropped != 1 {
		t.Fatalf("%d counted as dropped; want 1 (the %d others of the segment were acknowledged)", dropped, inFirst-1)
	}
}

// TestSpoolAppendSpooledDespiteCapFailure: when the record is durable but the spool cannot drop its
// oldest segment to get back under its bound, Append still reports success (the caller must not
// count the report as lost: it is spooled and will be sent), and a later Append makes room.
func TestSpoolAppendSpooledDespiteCapFailure(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenSpool(dir, minSpoolBytes)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	payload := make([]byte, 2<<10)
	add := func() error {
		seq, err := s.Reserve()
		if err != nil {
			t.Fatal(err)
		}
		return s.Append(seq, payload)
	}
	for len(s.segs) < 2 {
		if err := add(); err != nil {
			t.Fatal(err)
		}
	}
	// Make the oldest segment impossible to remove (even as root): a non-empty directory in its place.
	oldest := s.segPath(s.segs[0].id)
	if err := os.Remove(oldest); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(oldest, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	for s.totalBytes() <= s.maxBytes {
		before := s.Pending()
		if err := add(); err != nil {
			t.Fatalf("Append under the bound: %v", err)
		}
		if s.Pending() != before+1 {
			t.Fatalf("pending %d after an append; want %d", s.Pending(), before+1)
		}
	}
	before := s.Pending()
	if err := add(); err != nil { // over the bound, and the oldest segment cannot go
		t.Fatalf("Append of a durable record returned %v; want nil", err)
	}
	if s.Pending() != before+1 {
		t.Fatalf("pending %d; want %d (the record spooled)", s.Pending(), before+1)
	}
	if err := os.RemoveAll(oldest); err != nil { // removable again
		t.Fatal(err)
	}
	if err := os.WriteFile(oldest, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := add(); err != nil {
		t.Fatal(err)
	}
	if s.totalBytes() > s.maxBytes {
		t.Fatalf("spool %d bytes after the next append; want at most %d", s.totalBytes(), s.maxBytes)
	}
}
