package storetest

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/vigilhq/vigil/server"
)

// testCommitReportsRaw: a store keeps the JSON a batch carries (HostReports.Raw) as the stored
// report and the host's latest, instead of encoding the report again, and encodes reports whose
// entry is nil. To see which was kept, the raw JSON here says something the report does not (a
// real caller's Raw[i] decodes to exactly Reports[i]).
func testCommitReportsRaw(t *testing.T, f *fixture) {
	h, _ := f.host("raw", server.DefaultGroup)
	b := batch(h.ID, t0, 1, 2, 3)
	marked := func(i int, busy float64) []byte {
		r := b.Reports[i]
		cpu := *r.CPU
		cpu.BusyPct = busy
		r.CPU = &cpu
		data, err := json.MarshalIndent(r, "", "  ") // whitespace as a host may send it
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	b.Raw = [][]byte{marked(0, 71), nil, marked(2, 73)}
	f.commit(b)

	ss := f.samples(h.ID)
	if len(ss) != 3 {
		t.Fatalf("%d samples stored, want 3", len(ss))
	}
	for i, want := range []float64{71, b.Reports[1].CPU.BusyPct, 73} {
		if got := ss[i].Report.CPU.BusyPct; got != want {
			t.Errorf("sample %d: busy_pct %v, want %v (raw JSON kept, nil entry encoded)", i, got, want)
		}
		if ss[i].Report.Seq != b.Reports[i].Seq {
			t.Errorf("sample %d: seq %d, want %d", i, ss[i].Report.Seq, b.Reports[i].Seq)
		}
	}
	if got := f.getHost(h.ID).Latest; got == nil || got.CPU.BusyPct != 73 {
		t.Errorf("latest report = %+v, want the raw JSON of seq 3 (busy_pct 73)", got)
	}
}

// testCommitReportsLarge: a commit of many new reports across hosts (PostgreSQL sends those with
// COPY, small ones in its final statement batch) stores each once and acks each batch.
func testCommitReportsLarge(t *testing.T, f *fixture) {
	const hosts, per = 5, 40
	var batches []server.HostReports
	for i := range hosts {
		h, _ := f.host(fmt.Sprintf("large-%d", i), server.DefaultGroup)
		seqs := make([]uint64, per)
		for k := range seqs {
			seqs[k] = uint64(k + 1)
		}
		batches = append(batches, batch(h.ID, t0, seqs...))
	}
	// The first batch again at the end: all duplicates within the same commit.
	batches = append(batches, batches[0])
	acks := f.commit(batches...)
	for i, b := range batches {
		if acks[i] != per {
			t.Errorf("batch %d: ack %d, want %d", i, acks[i], per)
		}
		if got := seqsOf(f.samples(b.HostID)); len(got) != per || got[0] != 1 || got[per-1] != per {
			t.Errorf("host %s: stored seqs %v, want 1..%d once each", b.HostID, got, per)
		}
	}
}
