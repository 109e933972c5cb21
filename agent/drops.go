package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/vigilhq/vigil/atomicfile"
)

// dropLedger counts the reports the agent dropped (spool full, refused by the server, or never
// spooled) until the server has stored a report that carries the count (wire.Report.SpoolDropped),
// so that every drop reaches the server exactly once:
//
//   - A drop adds to pending. The next report spooled carries all of pending and becomes a carrier.
//   - When the server acknowledges a carrier, its count is delivered and forgotten.
//   - When the server refuses a carrier (the agent then drops it), or the spool drops it (full),
//     its count goes back to pending, together with the drop of the carrier itself.
//
// The server counts a report's spool_dropped once: a carrier resent after a lost acknowledgement
// (a crash, a cut connection) is at or below the host's acknowledged seq and skipped as a
// duplicate, so its count is not added twice.
//
// The ledger persists in the state directory (file "drops", written temp+fsync+rename) when it
// changes other than by a report carrying pending: when drops happen and when a carrier is
// acknowledged; while nothing is dropped it is never written. A carrier's count is durable in the
// carrier itself (records are fsynced before they are sent), so taking on pending needs no write:
// after a crash, the first record spooled above "after" is the carrier of what the file still says
// is pending. The ledger is written before the spool forgets an acknowledged or refused record, so
// a crash between the two resends a report whose count is already settled (the server skips it as a
// duplicate; a refused one is forgotten at start, see refused) rather than counting it twice.
//
// File format, one item a line: "pending N after S", "carried SEQ N", "refused F". Lines of other
// kinds are skipped (a later agent may add some; a rollback must still start). A file that is too
// large or has a malformed line is moved aside to "drops.bad" and the ledger starts empty: the
// agent must start, and the counts in it are lost (at most maxCarried carriers and pending).
type dropLedger struct {
	path    string
	pending uint64  // drops no spooled report carries yet
	after   uint64  // the highest seq reserved when pending last grew
	carried []carry // spooled, unacknowledged reports carrying drops, by seq
	refused uint64  // the highest seq the server refused and the agent dropped
}

type carry struct{ seq, n uint64 }

// maxDropsFile bounds the ledger file read at start.
const maxDropsFile = 64 << 10

// maxCarried bounds the carriers the ledger lists, so that its file stays well below maxDropsFile
// (a "carried" line is at most 50 bytes); past it the oldest two are merged into one (see bound).
const maxCarried = 1000

// errBadLedger marks a drops file that cannot be read as a ledger (too large, malformed line).
var errBadLedger = errors.New("bad drop ledger")

// openDrops reads the ledger in path (none: empty) and reconciles it with the spool after a crash.
// A bad file is logged, moved aside to path+".bad", and the ledger starts empty.
func openDrops(path string, sp *Spool, log *slog.Logger) (*dropLedger, error) {
	d, err := readDrops(path)
	if errors.Is(err, errBadLedger) {
		log.Warn("The drop ledger is unreadable; moving it aside and starting with no pending drops.",
			"path", path, "moved_to", path+".bad", keyError, err)
		if rerr := os.Rename(path, path+".bad"); rerr != nil {
			log.Warn("Could not move the drop ledger aside; it will be overwritten.", keyError, rerr)
		}
		d, err = &dropLedger{path: path}, nil
	}
	if err != nil {
		return nil, err
	}
	d.bound()
	return d, d.reconcile(sp)
}

// readDrops parses the ledger file; a missing file is an empty ledger.
func readDrops(path string) (*dropLedger, error) {
	d := &dropLedger{path: path}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return d, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read drop ledger: %w", err)
	}
	if len(data) > maxDropsFile {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", errBadLedger, path, maxDropsFile)
	}
	for line := range strings.Lines(string(data)) {
		f := strings.Fields(line)
		var n [2]uint64
		var perr error
		switch {
		case len(f) == 4 && f[0] == "pending" && f[2] == "after":
			n[0], perr = strconv.ParseUint(f[1], 10, 64)
			if perr == nil {
				n[1], perr = strconv.ParseUint(f[3], 10, 64)
			}
			d.pending, d.after = n[0], n[1]
		case len(f) == 3 && f[0] == "carried":
			n[0], perr = strconv.ParseUint(f[1], 10, 64)
			if perr == nil {
				n[1], perr = strconv.ParseUint(f[2], 10, 64)
			}
			d.carried = append(d.carried, carry{n[0], n[1]})
		case len(f) == 2 && f[0] == "refused":
			d.refused, perr = strconv.ParseUint(f[1], 10, 64)
		case len(f) > 0 && (f[0] == "pending" || f[0] == "carried" || f[0] == "refused"):
			perr = errors.New("wrong number of fields")
		default:
			// Another kind of line (a later agent's): skip it.
		}
		if perr != nil {
			return nil, fmt.Errorf("%w: line %q: %w", errBadLedger, strings.TrimSpace(line), perr)
		}
	}
	slices.SortFunc(d.carried, func(a, b carry) int { return compareU64(a.seq, b.seq) })
	return d, nil
}

// reconcile brings the ledger read at start in line with the spool after a crash.
func (d *dropLedger) reconcile(sp *Spool) error {
	// A refused record the spool had not yet forgotten for good: its drop is counted already.
	if err := sp.Ack(d.refused); err != nil {
		return err
	}
	// Pending that a record spooled after the last drop took on before the crash.
	if d.pending > 0 {
		seq, ok, err := sp.firstAfter(d.after)
		if err != nil {
			return err
		}
		if ok && !slices.ContainsFunc(d.carried, func(c carry) bool { return c.seq == seq }) {
			d.carried = append(d.carried, carry{seq, d.pending})
			slices.SortFunc(d.carried, func(a, b carry) int { return compareU64(a.seq, b.seq) })
			d.pending = 0
			d.bound()
		}
	}
	// Carriers the spool no longer holds were dropped with it (full), their counts not delivered.
	_, err := d.lostCarriers(sp, sp.lastReserved())
	return err
}

// bound keeps at most maxCarried carriers by merging the oldest two into one under the later seq:
// the merged count is settled when the later report is acknowledged, and handed back to pending if
// the spool drops it. This errs toward counting the earlier carrier's drops again (if it was
// delivered and the later one is then dropped) rather than losing them.
func (d *dropLedger) bound() {
	for len(d.carried) > maxCarried {
		d.carried[1].n += d.carried[0].n
		d.carried = slices.Delete(d.carried, 0, 1)
	}
}

func compareU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// save writes the ledger.
func (d *dropLedger) save() error {
	b := fmt.Appendf(nil, "pending %d after %d\n", d.pending, d.after)
	for _, c := range d.carried {
		b = fmt.Appendf(b, "carried %d %d\n", c.seq, c.n)
	}
	if d.refused > 0 {
		b = fmt.Appendf(b, "refused %d\n", d.refused)
	}
	if err := atomicfile.Write(d.path, b, 0o600); err != nil {
		return fmt.Errorf("write drop ledger: %w", err)
	}
	return nil
}

// dropped adds n drops, to be carried by the first report spooled above seq, and saves the ledger.
func (d *dropLedger) dropped(n, seq uint64) error {
	d.pending += n
	d.after = max(d.after, seq)
	return d.save()
}

// spooled records that the report seq, carrying n (all of pending when it was made), is in the
// spool. It writes nothing: the record holds the count.
func (d *dropLedger) spooled(seq, n uint64) {
	if n == 0 {
		return
	}
	d.carried = append(d.carried, carry{seq, n})
	d.pending -= min(n, d.pending)
	d.bound()
}

// acked settles the carriers up to seq, acknowledged by the server; it saves the ledger if any
// were, and must run before the spool forgets them.
func (d *dropLedger) acked(seq uint64) error {
	i := 0
	for i < len(d.carried) && d.carried[i].seq <= seq {
		i++
	}
	if i == 0 {
		return nil
	}
	d.carried = slices.Delete(d.carried, 0, i)
	return d.save()
}

// refusedSeq counts the report seq, refused by the server and about to be dropped, and the drops
// it carried; last is the highest seq reserved. It saves the ledger, and must run before the spool
// forgets the record.
func (d *dropLedger) refusedSeq(seq, last uint64) error {
	n := uint64(1)
	if i := slices.IndexFunc(d.carried, func(c carry) bool { return c.seq == seq }); i >= 0 {
		n += d.carried[i].n
		d.carried = slices.Delete(d.carried, i, i+1)
	}
	d.refused = max(d.refused, seq)
	return d.dropped(n, last)
}

// lostCarriers moves the counts of carriers no longer in the spool (dropped when it was full)
// back to pending, to be carried by the first report spooled above seq, and reports whether there
// were any.
func (d *dropLedger) lostCarriers(sp *Spool, seq uint64) (bool, error) {
	lost := false
	for i := 0; i < len(d.carried); {
		first, ok, err := sp.firstAfter(d.carried[i].seq - 1)
		if err != nil {
			return lost, err
		}
		if ok && first == d.carried[i].seq {
			i++
			continue
		}
		d.pending += d.carried[i].n
		d.after = max(d.after, seq)
		d.carried = slices.Delete(d.carried, i, i+1)
		lost = true
	}
	if lost {
		return true, d.save()
	}
	return false, nil
}
