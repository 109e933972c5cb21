package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigilhq/vigil/wire"
)

// goneStore fails any commit that includes host "gone" with ErrNotFound, as both stores do for a
// host removed since it authenticated; it acks every other batch at its last seq.
type goneStore struct {
	Store // nil: only CommitReports is called
	mu    sync.Mutex
	calls int
}

func (g *goneStore) CommitReports(_ context.Context, batches []HostReports) ([]uint64, error) {
	g.mu.Lock()
	g.calls++
	g.mu.Unlock()
	acks := make([]uint64, len(batches))
	for i, b := range batches {
		if b.HostID == "gone" {
			return nil, fmt.Errorf("commit reports of host gone: %w", ErrNotFound)
		}
		acks[i] = b.Reports[len(b.Reports)-1].Seq
	}
	return acks, nil
}

// TestCommitterIsolatesRemovedHost: a host removed by another replica while its credential was
// cached here must fail only its own batch, not every host merged into the same transaction.
func TestCommitterIsolatesRemovedHost(t *testing.T) {
	st := &goneStore{}
	c := newCommitter(st, 64, 2000, 0, newMetrics(prometheus.NewRegistry()), slog.New(slog.NewTextHandler(io.Discard, nil)))
	// Queue the requests before the committer runs, so they are merged into one commit.
	reqs := []*commitReq{}
	for _, id := range []string{"a", "gone", "b"} {
		r := &commitReq{batch: HostReports{HostID: id, Reports: []wire.Report{{Seq: 7}}}, done: make(chan commitRes, 1)}
		c.queue <- r
		reqs = append(reqs, r)
	}
	c.start(1)
	defer c.stop()
	for i, r := range reqs {
		res := <-r.done
		switch reqs[i].batch.HostID {
		case "gone":
			if !errors.Is(res.err, ErrNotFound) {
				t.Errorf("removed host: %v, want ErrNotFound", res.err)
			}
		default:
			if res.err != nil || res.acked != 7 {
				t.Errorf("host %s: acked %d, %v; want 7 and no error", reqs[i].batch.HostID, res.acked, res.err)
			}
		}
	}
	if st.calls != 4 {
		t.Errorf("%d commits, want 1 grouped then 3 alone", st.calls)
	}
}
