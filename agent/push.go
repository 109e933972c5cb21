package agent

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/vigilhq/vigil/internal/wallclock"
	"github.com/vigilhq/vigil/wire"
)

// This file speaks the wire protocol to vigil-server (enrollment, gzip-compressed report batches,
// acks, Retry-After and backoff) over the transport in transport.go.

const (
	pathEnroll  = "/api/v1/enroll"
	pathReports = "/api/v1/reports"

	// batchBytes bounds the uncompressed payload of one batch, well under wire.MaxReportBodyBytes
	// (which bounds the compressed body) and small enough to keep the agent's memory low.
	batchBytes = 512 << 10
	// maxRetryAfter bounds how long a server's Retry-After can park the agent.
	maxRetryAfter = time.Hour
	// backoffBase is the first retry delay before jitter.
	backoffBase = time.Second
	// maxCredentialLen bounds the credential accepted from the server (it goes into a header).
	maxCredentialLen = 1024
)

// backoff returns the delay before retry number attempt (0 for the first retry): a uniformly
// random duration in [0, min(max, base·2^attempt)] ("full jitter"), floored at 100 ms.
func backoff(attempt int, maxDelay time.Duration, rnd func(int64) int64) time.Duration {
	d := maxDelay
	if attempt < 30 {
		d = min(maxDelay, backoffBase<<attempt)
	}
	j := time.Duration(rnd(int64(d) + 1))
	return max(j, 100*time.Millisecond)
}

func randInt64N(n int64) int64 { return rand.Int64N(n) }

// parseRetryAfter reads a Retry-After header: delay seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.Atoi(v); err == nil {
		d = time.Duration(max(n, 0)) * time.Second
	} else if t, err := http.ParseTime(v); err == nil { // the three date formats of RFC 9110 §5.6.7
		d = t.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}

// client speaks the wire protocol to vigil-server over a transport. It is NOT safe for concurrent
// use.
type client struct {
	http *transport
	hdr  http.Header // fixed request headers: Content-Type, User-Agent, protocol version

	plain bytes.Buffer // the batch's JSON
	body  bytes.Buffer // the batch gzip-compressed, when it is at least gzipMinBytes
	gz    *gzip.Writer
}

// gzipMinBytes is the smallest batch body the agent compresses. One report (1.5–2.5 KB of JSON)
// is sent as it is: gzip would save ~1 KB on the wire but cost both ends more CPU than it saves
// (compressing it and the server's gunzip each cost more than the server's whole JSON decode;
// docs/BENCHMARKS.md, "A cheap report path"). Batches of a few reports or more, as replayed
// after an outage, are compressed.
const gzipMinBytes = 4 << 10

// newClient returns a client for the server at base, which Config.validate has checked.
func newClient(base string, tlsConfig *tls.Config, timeout time.Duration, version string,
	dial func(ctx context.Context, network, addr string) (net.Conn, error)) *client {
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil {
		u = &url.URL{Scheme: "https", Host: "invalid."}
	}
	hdr := http.Header{}
	hdr.Set("Content-Type", "application/json")
	hdr.Set("User-Agent", "vigil-agent/"+version)
	hdr.Set(wire.ProtocolHeader, strconv.Itoa(wire.ProtocolVersion))
	return &client{
		http: newTransport(transportConfig{server: u, tls: tlsConfig, timeout: timeout, dial: dial}),
		hdr:  hdr,
	}
}

// Close closes the connection to the server.
func (c *client) Close() error {
	c.http.closeIdle()
	return nil
}

// do posts body to path. Reports may be resent on a new connection when a kept-alive one turns out
// to be closed (the server deduplicates them by seq); enrollment, which is not idempotent, never is.
func (c *client) do(ctx context.Context, path, credential string, body []byte, gzipped bool) (*response, error) {
	hdr := c.hdr.Clone()
	if gzipped {
		hdr.Set("Content-Encoding", "gzip")
	}
	if credential != "" {
		hdr.Set("Authorization", "Bearer "+credential)
	}
	resp, err := c.http.post(ctx, path, hdr, body, path == pathReports)
	if err != nil {
		return nil, classify(err)
	}
	return resp, nil
}

func httpError(resp *response, now time.Time) *sendError {
	se := &sendError{class: wire.OutageHTTP, status: resp.status, detail: resp.statusLine}
	var er wire.ErrorResponse
	if json.Unmarshal(resp.body, &er) == nil && er.Error.Code != "" {
		se.detail = resp.statusLine + " (" + er.Error.Code + ")"
	}
	if len(se.detail) > 200 {
		se.detail = se.detail[:200]
	}
	if resp.status == http.StatusTooManyRequests || resp.status == http.StatusServiceUnavailable {
		se.retryAfter = parseRetryAfter(resp.retryAfter, now)
	}
	return se
}

// enroll exchanges the enrollment token for a credential.
func (c *client) enroll(ctx context.Context, req *wire.EnrollRequest) (*wire.EnrollResponse, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	c.http.closeIdle() // a new connection: enrollment is not idempotent, so it must never be retried
	resp, err := c.do(ctx, pathEnroll, "", b, false)
	if err != nil {
		return nil, err
	}
	if resp.status != http.StatusCreated && resp.status != http.StatusOK {
		return nil, httpError(resp, wallclock.Now())
	}
	var er wire.EnrollResponse
	if err := wire.Unmarshal(resp.body, false, &er); err != nil {
		return nil, &sendError{class: wire.OutageOther, detail: "malformed enrollment answer", err: err}
	}
	if er.Credential == "" || len(er.Credential) > maxCredentialLen || strings.ContainsFunc(er.Credential, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
		return nil, &sendError{class: wire.OutageOther, detail: "enrollment answer has no usable credential"}
	}
	return &er, nil
}

// startBatch starts a ReportBatch body, filled with addToBatch and sent with sendBatch.
func (c *client) startBatch() {
	c.plain.Reset()
	c.plain.WriteString(`{"reports":[`)
}

func (c *client) addToBatch(n int, payload []byte) {
	if n > 0 {
		c.plain.WriteByte(',')
	}
	c.plain.Write(payload)
}

// sendBatch closes the batch started with startBatch and posts it, gzip-compressed when it is at
// least gzipMinBytes.
func (c *client) sendBatch(ctx context.Context, credential string) (*wire.Ack, error) {
	c.plain.WriteString("]}")
	body, gzipped := c.plain.Bytes(), false
	if len(body) >= gzipMinBytes {
		c.body.Reset()
		if c.gz == nil {
			c.gz, _ = gzip.NewWriterLevel(&c.body, gzip.BestSpeed)
		} else {
			c.gz.Reset(&c.body)
		}
		c.gz.Write(body)
		if err := c.gz.Close(); err != nil {
			return nil, err
		}
		body, gzipped = c.body.Bytes(), true
	}
	resp, err := c.do(ctx, pathReports, credential, body, gzipped)
	if c.plain.Cap() > 2*batchBytes {
		c.plain = bytes.Buffer{} // do not keep a replay-sized buffer for the steady state
	}
	if c.body.Cap() > batchBytes {
		c.body = bytes.Buffer{}
	}
	if err != nil {
		return nil, err
	}
	if resp.status != http.StatusOK {
		return nil, httpError(resp, wallclock.Now())
	}
	var ack wire.Ack
	if err := wire.Unmarshal(resp.body, false, &ack); err != nil {
		return nil, &sendError{class: wire.OutageOther, detail: "malformed ack", err: err}
	}
	return &ack, nil
}

// readCredential reads the stored credential; a missing file returns "".
func readCredential(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read credential: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}
