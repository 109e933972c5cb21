package agent

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/vigilhq/vigil/atomicfile"
)

// Spool is a bounded on-disk queue of reports, oldest first, and the owner of the report sequence
// numbers. It is NOT safe for concurrent use.
//
// Layout of the spool directory:
//
//	state            "next N\nacked M\n", written temp+fsync+rename: no seq at or above N was
//	                 handed out (N is the end of the current lease, see below); every seq up to M
//	                 was acknowledged by the server
//	000000000001.seg segments of records, the highest-numbered one open for appending
//
// A record is a 16-byte header — payload length (uint32), CRC-32C of seq and payload (uint32),
// seq (uint64), all little-endian — followed by the payload. Records are fsynced before Append
// returns.
//
// Seqs are leased in blocks: when the lease is used up, Reserve persists a high-water mark
// seqLease seqs ahead before it hands out the next seq, so the state file is written once per
// seqLease reports rather than once per report, and a seq is still never reused, even after kill -9
// or a lost record. The price: after a crash the seqs left in the lease are skipped (at most
// seqLease-1). The server acknowledges across such a gap (see wire.ReportBatch). Close gives the
// unused rest of the lease back, so a clean stop skips nothing.
//
// An acknowledgement is usually not written on its own: Ack forgets the records at once (removing
// or truncating their segments, which needs no state write) and the mark rides on the next state
// write (the next lease, or Close). Only when the mark ends inside a segment that is kept (partly
// acknowledged) does Ack write the state, or after a crash those acknowledged records would look
// unacknowledged and, were the spool then full, be counted as dropped. In steady state every ack
// empties the append segment, so this costs no write; it costs one per batch while a backlog is
// replayed. After a crash, acknowledged records still in the spool are sent again; the server
// skips reports at or below the host's acknowledged seq as duplicates (server.Store
// CommitReports), so nothing is stored twice.
//
// Torn or corrupt records, as a crash during a write or a bad disk leaves them, are skipped and
// counted (see TakeCounters); they are never fatal. When the spool exceeds its size, or the disk
// is full (ENOSPC) before it does, whole oldest segments are deleted and their unacknowledged
// records counted as dropped. A full disk with only the append segment left loses the report being
// written instead (the caller counts it as dropped too).
type Spool struct {
	dir      string
	maxBytes int64
	segMax   int64

	segs []*segment // oldest first; the last one is the append segment
	w    *os.File   // append handle on the last segment

	next     uint64 // next seq to hand out; always below leaseEnd once handed out
	leaseEnd uint64 // the persisted "next": no seq at or above it was handed out
	acked    uint64 // highest acknowledged seq; persisted with the next state write (see Ack)

	// curOff is the offset in segs[0] of its first unacknowledged record, ackedInFirst the number of
	// records before it.
	curOff       int64
	ackedInFirst int

	dropped, corrupt uint64
	buf              []byte

	// Log receives what Append cannot return: a failure to shrink the spool back under its
	// bound after the record is durable. OpenSpool sets it to discard.
	Log *slog.Logger
}

type segment struct {
	id          uint64
	size        int64
	count       int
	first, last uint64
}

const (
	recHeader = 16
	// maxRecord bounds one record's payload; a header claiming more is corrupt.
	maxRecord = 4 << 20
	// DefaultSpoolBytes is the default spool size.
	DefaultSpoolBytes = 32 << 20
	minSpoolBytes     = 64 << 10
	// seqLease is how many seqs one state write reserves: after a crash at most seqLease-1 seqs
	// are skipped. At the default 10 s interval that is one state write every ~10 minutes.
	seqLease = 64
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func recordCRC(seq uint64, payload []byte) uint32 {
	var s [8]byte
	binary.LittleEndian.PutUint64(s[:], seq)
	return crc32.Update(crc32.Checksum(s[:], castagnoli), castagnoli, payload)
}

func (s *Spool) segPath(id uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%012d.seg", id))
}

// OpenSpool opens or creates the spool in dir, bounded to maxBytes (DefaultSpoolBytes if 0, at
// least 64 KiB). Corrupt records found on the way are removed and counted.
func OpenSpool(dir string, maxBytes int64) (*Spool, error) {
	if maxBytes == 0 {
		maxBytes = DefaultSpoolBytes
	}
	maxBytes = max(maxBytes, minSpoolBytes)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create spool: %w", err)
	}
	s := &Spool{dir: dir, maxBytes: maxBytes, segMax: maxBytes / 8, next: 1, Log: slog.New(slog.DiscardHandler)}
	if err := s.readState(); err != nil {
		return nil, err
	}
	names, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil {
		return nil, err
	}
	var ids []uint64
	for _, n := range names {
		id, err := strconv.ParseUint(strings.TrimSuffix(filepath.Base(n), ".seg"), 10, 64)
		if err != nil {
			continue
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	os.Remove(filepath.Join(dir, "state.tmp"))
	var lastSeq uint64
	for _, id := range ids {
		seg, err := s.load(id, lastSeq)
		if err != nil {
			return nil, err
		}
		if seg.count == 0 || seg.last <= s.acked {
			if err := os.Remove(s.segPath(id)); err != nil {
				return nil, err
			}
			continue
		}
		lastSeq = seg.last
		s.segs = append(s.segs, seg)
	}
	s.next = max(s.next, lastSeq+1, s.acked+1)
	s.leaseEnd = s.next // nothing leased yet: the first Reserve writes the state
	// Position the cursor after records already acknowledged.
	if len(s.segs) > 0 {
		err := s.scan(s.segs[0], 0, func(seq uint64, off, end int64) bool {
			if seq > s.acked {
				return false
			}
			s.curOff, s.ackedInFirst = end, s.ackedInFirst+1
			return true
		})
		if err != nil {
			return nil, err
		}
	}
	if err := s.openAppend(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Spool) readState() error {
	data, err := os.ReadFile(filepath.Join(s.dir, "state"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read spool state: %w", err)
	}
	for line := range strings.Lines(string(data)) {
		k, v, _ := strings.Cut(strings.TrimSpace(line), " ")
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return fmt.Errorf("spool state: bad line %q", line)
		}
		switch k {
		case "next":
			s.next = max(n, 1)
		case "acked":
			s.acked = n
		}
	}
	return nil
}

func (s *Spool) writeState(next, acked uint64) error {
	data := fmt.Appendf(nil, "next %d\nacked %d\n", next, acked)
	if err := atomicfile.Write(filepath.Join(s.dir, "state"), data, 0o600); err != nil {
		return fmt.Errorf("write spool state: %w", err)
	}
	return nil
}

// scan calls fn for each valid record of seg from offset off, in order, until fn returns false.
// It stops at the first invalid record and returns errCorrupt with its offset.
func (s *Spool) scan(seg *segment, off int64, fn func(seq uint64, off, end int64) bool) error {
	f, err := os.Open(s.segPath(seg.id))
	if err != nil {
		return err
	}
	defer f.Close()
	var hdr [recHeader]byte
	for off < seg.size {
		if _, err := f.ReadAt(hdr[:], off); err != nil {
			return &corruptError{off}
		}
		n := int64(binary.LittleEndian.Uint32(hdr[0:]))
		end := off + recHeader + n
		if n > maxRecord || end > seg.size {
			return &corruptError{off}
		}
		if !fn(binary.LittleEndian.Uint64(hdr[8:]), off, end) {
			return nil
		}
		off = end
	}
	return nil
}

type corruptError struct{ off int64 }

func (e *corruptError) Error() string { return fmt.Sprintf("corrupt spool record at offset %d", e.off) }

// load reads segment id, checks every record and rewrites the segment without the invalid ones
// if there are any. Records must have seqs above after.
func (s *Spool) load(id uint64, after uint64) (*segment, error) {
	path := s.segPath(id)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read spool segment: %w", err)
	}
	seg := &segment{id: id}
	var keep []byte
	bad := false
	prev := after
	for off := 0; off < len(data); {
		if len(data)-off < recHeader {
			s.corrupt++ // torn header at the tail
			bad = true
			break
		}
		n := int(binary.LittleEndian.Uint32(data[off:]))
		sum := binary.LittleEndian.Uint32(data[off+4:])
		seq := binary.LittleEndian.Uint64(data[off+8:])
		end := off + recHeader + n
		if n > maxRecord || end > len(data) {
			s.corrupt++ // torn tail, or a length we cannot trust: the rest is unusable
			bad = true
			break
		}
		if recordCRC(seq, data[off+recHeader:end]) != sum || seq <= prev {
			s.corrupt++ // damaged record with a plausible length: skip just this one
			bad = true
			off = end
			continue
		}
		keep = append(keep, data[off:end]...)
		if seg.count == 0 {
			seg.first = seq
		}
		seg.last, prev = seq, seq
		seg.count++
		off = end
	}
	if bad {
		if err := atomicfile.Write(path, keep, 0o600); err != nil {
			return nil, fmt.Errorf("rewrite spool segment: %w", err)
		}
		seg.size = int64(len(keep))
	} else {
		seg.size = int64(len(data))
	}
	return seg, nil
}

func (s *Spool) openAppend() error {
	if len(s.segs) == 0 {
		var id uint64 = 1
		s.segs = append(s.segs, &segment{id: id})
	}
	last := s.segs[len(s.segs)-1]
	f, err := os.OpenFile(s.segPath(last.id), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open spool segment: %w", err)
	}
	s.w = f
	return nil
}

// Close persists the acknowledged mark and gives the unused rest of the seq lease back, then
// closes the append segment. Everything appended is already durable.
func (s *Spool) Close() error {
	if s.w == nil {
		return nil
	}
	err := s.writeState(s.next, s.acked)
	if err == nil {
		s.leaseEnd = s.next
	}
	if cerr := s.w.Close(); err == nil {
		err = cerr
	}
	s.w = nil
	return err
}

// Reserve returns the next sequence number. Seqs from Reserve strictly increase for the life of
// the state directory: when the current lease is used up, Reserve first persists a new one
// (seqLease seqs) together with the acknowledged mark.
func (s *Spool) Reserve() (uint64, error) {
	seq := s.next
	if seq >= s.leaseEnd {
		end := seq + seqLease
		err := s.writeState(end, s.acked)
		for errors.Is(err, syscall.ENOSPC) && s.dropOldest() {
			err = s.writeState(end, s.acked)
		}
		if err != nil {
			return 0, err
		}
		s.leaseEnd = end
	}
	s.next = seq + 1
	return seq, nil
}

// Append stores a report payload under seq, which must come from Reserve and be above every seq
// appended before. The record is on disk when Append returns nil; an error means it is not
// spooled. If the spool is then over its size, the oldest segments are dropped (a failure to is
// logged to Log, not returned: the record is spooled).
func (s *Spool) Append(seq uint64, payload []byte) error {
	if len(payload) > maxRecord {
		return fmt.Errorf("report of %d bytes exceeds the spool record limit", len(payload))
	}
	last := s.segs[len(s.segs)-1]
	if seq <= last.last || seq >= s.next {
		return fmt.Errorf("append seq %d out of order", seq)
	}
	size := int64(recHeader + len(payload))
	if last.size > 0 && last.size+size > s.segMax {
		if err := s.rotate(); err != nil {
			return err
		}
		last = s.segs[len(s.segs)-1]
	}
	s.buf = slices.Grow(s.buf[:0], int(size))[:recHeader]
	binary.LittleEndian.PutUint32(s.buf[0:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(s.buf[4:], recordCRC(seq, payload))
	binary.LittleEndian.PutUint64(s.buf[8:], seq)
	s.buf = append(s.buf, payload...)
	for {
		_, err := s.w.Write(s.buf)
		if err == nil {
			break
		}
		// A short write leaves a torn tail; cut it off so later records stay readable.
		s.w.Truncate(last.size)
		// The disk is full before the spool reached its own bound: make room the same way,
		// dropping (and counting) the oldest segments, as long as one other than this is left.
		if errors.Is(err, syscall.ENOSPC) && s.dropOldest() {
			continue
		}
		return fmt.Errorf("append to spool: %w", err)
	}
	if err := s.w.Sync(); err != nil {
		// Not durable, and the caller counts it as lost: take it off so it is never sent.
		s.w.Truncate(last.size)
		return fmt.Errorf("sync spool: %w", err)
	}
	if last.count == 0 {
		last.first = seq
	}
	last.last = seq
	last.count++
	last.size += size
	// The record is spooled: a failure to make room must not make the caller count it as lost
	// (it would be counted twice, once dropped and again when sent). The next Append tries again.
	if err := s.enforceCap(); err != nil {
		s.Log.Error("Could not shrink the spool to its size bound; trying again at the next report.", keyError, err)
	}
	return nil
}

func (s *Spool) rotate() error {
	if err := s.w.Close(); err != nil {
		return err
	}
	s.segs = append(s.segs, &segment{id: s.segs[len(s.segs)-1].id + 1})
	if err := s.openAppend(); err != nil {
		return err
	}
	return atomicfile.SyncDir(s.dir)
}

func (s *Spool) enforceCap() error {
	for s.totalBytes() > s.maxBytes && len(s.segs) > 1 {
		if err := s.removeOldest(); err != nil {
			return err
		}
	}
	return nil
}

// removeOldest deletes the oldest segment (never the append segment) and counts its
// unacknowledged records as dropped.
func (s *Spool) removeOldest() error {
	old := s.segs[0]
	if err := os.Remove(s.segPath(old.id)); err != nil {
		return fmt.Errorf("drop spool segment: %w", err)
	}
	s.dropped += uint64(old.count - s.ackedInFirst)
	s.segs = s.segs[1:]
	s.curOff, s.ackedInFirst = 0, 0
	return nil
}

// dropOldest makes room on a full disk: it deletes the oldest segment if there is one besides the
// append segment, and reports whether it freed anything.
func (s *Spool) dropOldest() bool {
	if len(s.segs) < 2 {
		return false
	}
	return s.removeOldest() == nil
}

func (s *Spool) totalBytes() int64 {
	var n int64
	for _, g := range s.segs {
		n += g.size
	}
	return n
}

// Pending returns the number of records not yet acknowledged.
func (s *Spool) Pending() int {
	n := -s.ackedInFirst
	for _, g := range s.segs {
		n += g.count
	}
	return n
}

// TakeCounters returns the records dropped (spool full) and corrupt records skipped since the last
// call, and resets both.
func (s *Spool) TakeCounters() (dropped, corrupt uint64) {
	dropped, corrupt = s.dropped, s.corrupt
	s.dropped, s.corrupt = 0, 0
	return dropped, corrupt
}

// Peek calls fn with the oldest unacknowledged records in order, at most maxN of them and, past the
// first, at most maxBytes of payload in all. The payload is only valid during the call. A record
// found corrupt at this point is dropped with the rest of its segment and counted.
func (s *Spool) Peek(maxN, maxBytes int, fn func(seq uint64, payload []byte) error) (int, error) {
	sent, bytesOut := 0, 0
	for i, seg := range s.segs {
		off := int64(0)
		if i == 0 {
			off = s.curOff
		}
		if off >= seg.size {
			continue
		}
		f, err := os.Open(s.segPath(seg.id))
		if err != nil {
			return sent, err
		}
		r := io.NewSectionReader(f, off, seg.size-off)
		for off < seg.size && sent < maxN {
			var hdr [recHeader]byte
			if _, err := io.ReadFull(r, hdr[:]); err != nil {
				f.Close()
				return sent, s.cutCorrupt(i, off)
			}
			n := int(binary.LittleEndian.Uint32(hdr[0:]))
			seq := binary.LittleEndian.Uint64(hdr[8:])
			if n > maxRecord || off+recHeader+int64(n) > seg.size {
				f.Close()
				return sent, s.cutCorrupt(i, off)
			}
			if sent > 0 && bytesOut+n > maxBytes {
				f.Close()
				return sent, nil
			}
			s.buf = slices.Grow(s.buf[:0], n)[:n]
			if _, err := io.ReadFull(r, s.buf); err != nil || recordCRC(seq, s.buf) != binary.LittleEndian.Uint32(hdr[4:]) {
				f.Close()
				return sent, s.cutCorrupt(i, off)
			}
			if err := fn(seq, s.buf); err != nil {
				f.Close()
				return sent, err
			}
			sent++
			bytesOut += n
			off += recHeader + int64(n)
		}
		f.Close()
		if sent >= maxN {
			break
		}
	}
	return sent, nil
}

// cutCorrupt handles a record found corrupt after the spool was opened: the segment is truncated
// at off and its records recounted.
func (s *Spool) cutCorrupt(i int, off int64) error {
	s.corrupt++
	seg := s.segs[i]
	if err := os.Truncate(s.segPath(seg.id), off); err != nil {
		return fmt.Errorf("truncate corrupt spool segment: %w", err)
	}
	seg.size = off
	seg.count = 0
	return s.scan(seg, 0, func(seq uint64, _, _ int64) bool {
		if seg.count == 0 {
			seg.first = seq
		}
		seg.last = seq
		seg.count++
		return true
	})
}

// Ack forgets every record with a seq up to and including seq. The mark is persisted at once when
// it ends inside a segment that is kept, else with the next state write (see Spool): after a crash
// before it, the acknowledged records are gone from disk already.
func (s *Spool) Ack(seq uint64) error {
	seq = min(seq, s.next-1) // never believe an ack for a seq not handed out yet
	if seq <= s.acked {
		return nil
	}
	s.acked = seq
	for len(s.segs) > 0 {
		first := s.segs[0]
		if first.last <= seq {
			if len(s.segs) == 1 {
				// Everything is acknowledged: empty the append segment instead of deleting it.
				if err := s.w.Truncate(0); err != nil {
					return fmt.Errorf("truncate spool: %w", err)
				}
				*first = segment{id: first.id}
				s.curOff, s.ackedInFirst = 0, 0
				return nil
			}
			if err := os.Remove(s.segPath(first.id)); err != nil {
				return fmt.Errorf("remove acknowledged segment: %w", err)
			}
			s.segs = s.segs[1:]
			s.curOff, s.ackedInFirst = 0, 0
			continue
		}
		if err := s.scan(first, s.curOff, func(rs uint64, _, end int64) bool {
			if rs > seq {
				return false
			}
			s.curOff, s.ackedInFirst = end, s.ackedInFirst+1
			return true
		}); err != nil {
			return err
		}
		if s.ackedInFirst > 0 {
			// The mark ends inside a segment that is kept: persist it now, or after a crash those
			// acknowledged records look unacknowledged, and a full spool dropping the segment would
			// count reports the server has as dropped. (Not the common case: when everything is
			// acknowledged the append segment is emptied above, and no write is needed.)
			return s.writeState(s.leaseEnd, s.acked)
		}
		return nil
	}
	return nil
}

// firstAfter returns the seq of the first unacknowledged record above seq, if the spool holds one.
func (s *Spool) firstAfter(seq uint64) (uint64, bool, error) {
	for i, seg := range s.segs {
		if seg.count == 0 || seg.last <= seq {
			continue
		}
		off := int64(0)
		if i == 0 {
			off = s.curOff
		}
		var found uint64
		err := s.scan(seg, off, func(rs uint64, _, _ int64) bool {
			if rs > seq {
				found = rs
				return false
			}
			return true
		})
		var ce *corruptError
		if err != nil && !errors.As(err, &ce) {
			return 0, false, err
		}
		if found != 0 {
			return found, true, nil
		}
	}
	return 0, false, nil
}

// lastReserved returns the highest seq handed out (0 if none).
func (s *Spool) lastReserved() uint64 { return s.next - 1 }
