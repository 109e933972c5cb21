package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// DefaultCommitLinger is Config.CommitLinger's default: short against a report's round trip
// (agents wait for the ack, 20 s at most), long enough that at a few thousand one-report
// requests a second a transaction gathers several of them instead of one or two.
const DefaultCommitLinger = 2 * time.Millisecond

// committer merges concurrent ingest requests into shared transactions (group commit). A
// committer goroutine takes the first waiting request, then every request queued behind it up to
// maxReports, waiting at most linger after the first for more, and commits them together: under
// load the batches also grow by themselves while a commit is in flight.
type committer struct {
	store      Store
	queue      chan *commitReq
	maxReports int
	linger     time.Duration
	metrics    *metrics
	log        *slog.Logger

	mu      sync.RWMutex // guards stopped against sends on a closed queue
	stopped bool
	wg      sync.WaitGroup
}

type commitReq struct {
	batch HostReports
	done  chan commitRes // buffered, 1
}

type commitRes struct {
	acked uint64
	err   error
}

func newCommitter(store Store, queue, maxReports int, linger time.Duration, m *metrics, log *slog.Logger) *committer {
	return &committer{store: store, queue: make(chan *commitReq, queue), maxReports: maxReports, linger: linger, metrics: m, log: log}
}

func (c *committer) start(n int) {
	for range n {
		c.wg.Add(1)
		go c.loop()
	}
}

// stop refuses new work, lets queued work commit and waits for the committers.
func (c *committer) stop() {
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return
	}
	c.stopped = true
	close(c.queue)
	c.mu.Unlock()
	c.wg.Wait()
}

// submit queues a batch and waits for its commit. It never blocks on a full queue: that is
// ErrOverloaded, which the HTTP layer turns into 503 with Retry-After. If ctx ends first the caller
// stops waiting, but the batch may still commit; the agent's retry is then deduplicated.
func (c *committer) submit(ctx context.Context, b HostReports) (uint64, error) {
	req := &commitReq{batch: b, done: make(chan commitRes, 1)}
	c.mu.RLock()
	if c.stopped {
		c.mu.RUnlock()
		return 0, fmt.Errorf("%w: shutting down", ErrOverloaded)
	}
	select {
	case c.queue <- req:
		c.mu.RUnlock()
	default:
		c.mu.RUnlock()
		return 0, fmt.Errorf("%w: commit queue full", ErrOverloaded)
	}
	select {
	case r := <-req.done:
		return r.acked, r.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func (c *committer) loop() {
	defer c.wg.Done()
	reqs := make([]*commitReq, 0, 64)
	batches := make([]HostReports, 0, 64)
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	for first := range c.queue {
		reqs = append(reqs[:0], first)
		n := len(first.batch.Reports)
	drain:
		for n < c.maxReports {
			select {
			case r, ok := <-c.queue:
				if !ok {
					break drain
				}
				reqs = append(reqs, r)
				n += len(r.batch.Reports)
			default:
				break drain
			}
		}
		if c.linger > 0 && n < c.maxReports {
			linger.Reset(c.linger)
		gather:
			for n < c.maxReports {
				select {
				case r, ok := <-c.queue:
					if !ok {
						break gather
					}
					reqs = append(reqs, r)
					n += len(r.batch.Reports)
				case <-linger.C:
					break gather
				}
			}
			linger.Stop()
		}
		batches = batches[:0]
		for _, r := range reqs {
			batches = append(batches, r.batch)
		}
		// The commit runs to completion even if every waiting request gave up: a request's
		// context must not abort other hosts' work, and a half-done commit is never acked anyway.
		acked, err := c.store.CommitReports(context.Background(), batches)
		c.metrics.commits.Inc()
		c.metrics.commitSize.Observe(float64(n))
		if errors.Is(err, ErrNotFound) && len(reqs) > 1 {
			// A host removed since it authenticated (another replica deleted it while its
			// credential was still cached here) fails the whole transaction: commit each batch
			// alone, so only that host's batch fails.
			c.commitEach(reqs)
			continue
		}
		if err != nil {
			c.metrics.storeErrors.WithLabelValues("commit_reports").Inc()
			c.log.Error("Committing reports failed.", logKeyErr, err, "batches", len(batches), "reports", n)
			for _, r := range reqs {
				r.done <- commitRes{err: fmt.Errorf("commit reports: %w", err)}
			}
			continue
		}
		c.metrics.ingested(batches...)
		for i, r := range reqs {
			r.done <- commitRes{acked: acked[i]}
		}
	}
}

// commitEach commits each request in its own transaction and answers it: the slow path after a
// grouped commit failed because one of its hosts no longer exists.
func (c *committer) commitEach(reqs []*commitReq) {
	for _, r := range reqs {
		acked, err := c.store.CommitReports(context.Background(), []HostReports{r.batch})
		c.metrics.commits.Inc()
		if err != nil {
			if !errors.Is(err, ErrNotFound) {
				c.metrics.storeErrors.WithLabelValues("commit_reports").Inc()
				c.log.Error("Committing reports failed.", logKeyErr, err, "batches", 1, "reports", len(r.batch.Reports))
			}
			r.done <- commitRes{err: fmt.Errorf("commit reports: %w", err)}
			continue
		}
		c.metrics.ingested(r.batch)
		r.done <- commitRes{acked: acked[0]}
	}
}
