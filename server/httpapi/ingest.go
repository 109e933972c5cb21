package httpapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/wire"
)

// Admission of report bodies (POST /api/v1/reports). The order is what keeps one host from
// stopping ingestion for the fleet:
//
//  1. per-host cap: a host credential may have at most MaxReportsInFlightPerHost report
//     requests in the server at once; beyond it the answer is 429 with Retry-After at once;
//  2. memory budget: the body's size (Content-Length, or the wire maximum when chunked) is
//     reserved from MaxBufferedReportBytes, waiting up to IngestQueueWait;
//  3. the raw body is read with its own read deadline, ReportBodyTimeout, holding no shared slot:
//     a slow body costs its own host a 408, nobody else anything;
//  4. only then a decode slot (MaxConcurrentIngest), waiting up to IngestQueueWait for one;
//  5. a wait that runs out is the server's own overload: 503 with Retry-After, and
//     Service.NoteOverload records it so alerting does not mistake it for hosts' silence.
const (
	// DefaultReportBodyTimeout bounds the time to receive one report body once its headers were
	// read: an agent's batch is at most ~512 KiB, so this asks ≥ 50 KB/s of a client.
	DefaultReportBodyTimeout = 10 * time.Second
	// DefaultIngestQueueWait bounds how long a report waits for memory budget or a decode slot
	// before 503. Well under the agent's 20 s response-header timeout.
	DefaultIngestQueueWait = 5 * time.Second
	// DefaultMaxReportsInFlightPerHost caps one credential's report requests inside the server.
	// The agent sends one at a time; a few more allow for a retry overlapping a stale attempt.
	DefaultMaxReportsInFlightPerHost = 4
	// DefaultMaxBufferedReportBytes bounds raw report bodies held in memory at once.
	DefaultMaxBufferedReportBytes = 256 << 20
	// DefaultMaxConcurrentIngest bounds report bodies being decoded at once.
	DefaultMaxConcurrentIngest = 32
)

// Sentinels of report admission; statusOf maps them.
var (
	// errBodyTimeout: the body did not arrive within ReportBodyTimeout (408; the agent retries).
	errBodyTimeout = errors.New("request body not received in time")
	// errHostBusy: the host already has its cap of report requests in flight (429).
	errHostBusy = errors.New("too many report requests in flight for this host")
)

// inflight counts report requests per host credential. Entries exist only while a host has a
// request in the server, so its size is bounded by the requests in flight.
type inflight struct {
	max int
	mu  sync.Mutex
	n   map[string]int
}

func newInflight(max int) *inflight { return &inflight{max: max, n: make(map[string]int)} }

// acquire takes one place for host; false when host already holds max. A true result must be
// paired with release.
func (f *inflight) acquire(host string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n[host] >= f.max {
		return false
	}
	f.n[host]++
	return true
}

func (f *inflight) release(host string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n[host]--; f.n[host] <= 0 {
		delete(f.n, host)
	}
}

// byteBudget is a weighted semaphore over bytes with a bounded wait. Waiters are woken by a
// channel closed on every release; a waiter that loses the race waits again until its timer.
type byteBudget struct {
	mu      sync.Mutex
	free    int64
	changed chan struct{}
}

func newByteBudget(n int64) *byteBudget {
	return &byteBudget{free: n, changed: make(chan struct{})}
}

// acquire reserves n bytes, waiting until timer fires or ctx ends; false then.
func (b *byteBudget) acquire(ctx context.Context, n int64, timer <-chan time.Time) bool {
	for {
		b.mu.Lock()
		if b.free >= n {
			b.free -= n
			b.mu.Unlock()
			return true
		}
		ch := b.changed
		b.mu.Unlock()
		select {
		case <-ch:
		case <-timer:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

func (b *byteBudget) release(n int64) {
	b.mu.Lock()
	b.free += n
	close(b.changed)
	b.changed = make(chan struct{})
	b.mu.Unlock()
}

// reserveSize is what a report body reserves from the memory budget.
func reserveSize(r *http.Request) int64 {
	if r.ContentLength > 0 && r.ContentLength <= wire.MaxReportBodyBytes {
		return r.ContentLength
	}
	return wire.MaxReportBodyBytes
}

// bodyBuffers pools raw body buffers; buffers that grew beyond maxPooledBody are dropped.
var bodyBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooledBody = 1 << 20

func putBodyBuffer(buf *bytes.Buffer) {
	if buf.Cap() <= maxPooledBody {
		buf.Reset()
		bodyBuffers.Put(buf)
	}
}

// readRawBody reads a report body into buf: at most wire.MaxReportBodyBytes, within timeout
// (a read deadline on the connection, set through http.ResponseController). The errors are
// wire.ErrTooLarge, errBodyTimeout or errBodyAborted.
func readRawBody(w http.ResponseWriter, r *http.Request, buf *bytes.Buffer, timeout time.Duration) error {
	if r.ContentLength > wire.MaxReportBodyBytes {
		return fmt.Errorf("%w: body of %d bytes exceeds %d", wire.ErrTooLarge, r.ContentLength, wire.MaxReportBodyBytes)
	}
	rc := http.NewResponseController(w)
	// Not every ResponseWriter supports deadlines (httptest.ResponseRecorder); the server's
	// ReadTimeout still bounds the read then.
	deadlineSet := rc.SetReadDeadline(time.Now().Add(timeout)) == nil
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength))
	}
	_, err := buf.ReadFrom(&limitedReader{r: r.Body, n: wire.MaxReportBodyBytes})
	if deadlineSet && err == nil {
		// The body is in; the server's own timeouts apply again. After a failed read the
		// deadline stays, so the server's drain of an unread body before it answers (and closes
		// the connection) cannot wait on a slow client either.
		_ = rc.SetReadDeadline(time.Time{})
	}
	var ne net.Error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, wire.ErrTooLarge):
		return err
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("%w: %d bytes arrived within %s; send the report again", errBodyTimeout, buf.Len(), timeout)
	default:
		if errors.Is(err, errBodyAborted) {
			return fmt.Errorf("%w (after %d bytes)", err, buf.Len())
		}
		return fmt.Errorf("%w after %d bytes: %v", errBodyAborted, buf.Len(), err)
	}
}

// closeUnread marks an answer given before the request body was read: the connection closes
// after it. Otherwise net/http would first read what is left of the body (up to 256 KiB) to keep
// the connection alive, and a slow client would hold the answer, and its goroutine, until the
// server's ReadTimeout.
func closeUnread(w http.ResponseWriter) {
	w.Header().Set("Connection", "close")
}

// waitSlot takes a decode slot, waiting until timer fires or ctx ends.
func (a *API) waitSlot(ctx context.Context, timer <-chan time.Time) bool {
	select {
	case a.ingest <- struct{}{}:
		return true
	default:
	}
	if a.onQueueWait != nil {
		a.onQueueWait()
	}
	select {
	case a.ingest <- struct{}{}:
		return true
	case <-timer:
		return false
	case <-ctx.Done():
		return false
	}
}

// shed answers 503 for the server's own overload and records it, so alerting holds silence
// alerts while hosts are being turned away (Service.NoteOverload).
func (a *API) shed(w http.ResponseWriter, r *http.Request, err error) {
	a.svc.NoteOverload()
	// One line a second at most: an overloaded server must not also flood its log.
	now := time.Now().UnixNano()
	if last := a.shedLogged.Load(); now-last >= int64(time.Second) && a.shedLogged.CompareAndSwap(last, now) {
		a.log.WarnContext(r.Context(), "Report refused: the server is overloaded (503; count by status in vigil_http_requests_total).", "err", err)
	}
	a.writeError(w, r, err)
}

func (a *API) reports(w http.ResponseWriter, r *http.Request, h server.Host) {
	ctx := r.Context()
	if !a.hostsInFlight.acquire(h.ID) {
		closeUnread(w)
		a.writeError(w, r, fmt.Errorf("%w (%d); wait for the answers", errHostBusy, a.cfg.MaxReportsInFlightPerHost))
		return
	}
	defer a.hostsInFlight.release(h.ID)

	// One timer bounds the whole wait in the queue: for memory, then for a decode slot.
	queue := time.NewTimer(a.cfg.IngestQueueWait)
	defer queue.Stop()

	reserve := reserveSize(r)
	if !a.budget.acquire(ctx, reserve, queue.C) {
		if ctx.Err() != nil {
			return // the client went away
		}
		closeUnread(w)
		a.shed(w, r, fmt.Errorf("%w: report memory budget busy for %s", server.ErrOverloaded, a.cfg.IngestQueueWait))
		return
	}
	buf := bodyBuffers.Get().(*bytes.Buffer)
	err := readRawBody(w, r, buf, a.cfg.ReportBodyTimeout)
	if err != nil {
		a.budget.release(reserve)
		putBodyBuffer(buf)
		a.writeError(w, r, err)
		return
	}
	if !a.waitSlot(ctx, queue.C) {
		a.budget.release(reserve)
		putBodyBuffer(buf)
		if ctx.Err() != nil {
			return
		}
		a.shed(w, r, fmt.Errorf("%w: no decode slot free within %s", server.ErrOverloaded, a.cfg.IngestQueueWait))
		return
	}
	batch, raw, err := decodeReportBody(buf, r.Header.Get("Content-Encoding"))
	<-a.ingest
	a.budget.release(reserve)
	putBodyBuffer(buf)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	ack, err := a.svc.IngestRaw(ctx, h, batch, raw)
	if errors.Is(err, server.ErrOverloaded) {
		a.shed(w, r, err)
		return
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeCompactJSON(w, http.StatusOK, ack)
}

// decodeReportBody decodes a report body (readReportBody's checks and limits), with each
// report's JSON as received (decodeReports).
func decodeReportBody(body *bytes.Buffer, contentEncoding string) (wire.ReportBatch, [][]byte, error) {
	if contentEncoding == "" && body.Len() <= wire.MaxReportBodyBytes {
		// Uncompressed: decode the buffer (readRawBody bounded it) without reading it again.
		return decodeReports(body.Bytes())
	}
	return readReportBodyRaw(body, int64(body.Len()), contentEncoding)
}
