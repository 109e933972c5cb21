package agent

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/vigilhq/vigil/tlspin"
	"github.com/vigilhq/vigil/wire"
)

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

// sendError is a failed delivery: the outage class and detail to record, and how long the
// server asked us to wait, if it did.
type sendError struct {
	class      string
	detail     string
	status     int
	retryAfter time.Duration
	err        error
}

func (e *sendError) Error() string {
	if e.err != nil {
		return e.class + ": " + e.err.Error()
	}
	return e.class + ": " + e.detail
}

func (e *sendError) Unwrap() error { return e.err }

// classify maps a transport error to an outage class.
func classify(err error) *sendError {
	se := &sendError{class: wire.OutageOther, err: err}
	var dnsErr *net.DNSError
	var opErr *net.OpError
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalidErr x509.CertificateInvalidError
	var recErr tls.RecordHeaderError
	var alertErr tls.AlertError
	var netErr net.Error
	var pinErr *tlspin.VerifyError
	var hsErr *tlsHandshakeError
	var proxyErr *proxyError
	switch {
	case errors.As(err, &dnsErr):
		se.class = wire.OutageDNS
	case errors.As(err, &certErr), errors.As(err, &unknownAuth), errors.As(err, &hostErr),
		errors.As(err, &invalidErr), errors.As(err, &recErr), errors.As(err, &alertErr),
		errors.As(err, &pinErr), errors.Is(err, tlspin.ErrFingerprintMismatch), errors.As(err, &hsErr),
		strings.Contains(err.Error(), "tls: "):
		se.class = wire.OutageTLS
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		se.class = wire.OutageTimeout
	case errors.As(err, &opErr) && opErr.Op == "dial", errors.As(err, &proxyErr):
		se.class = wire.OutageConnect
	}
	se.detail = err.Error()
	if len(se.detail) > 200 {
		se.detail = se.detail[:200]
	}
	return se
}

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

// HTTP statuses the agent acts on.
const (
	statusOK                 = 200
	statusCreated            = 201
	statusBadRequest         = 400
	statusUnauthorized       = 401
	statusRequestTooLarge    = 413
	statusTooManyRequests    = 429
	statusServiceUnavailable = 503
)

// httpDateLayouts are the date formats RFC 9110 §5.6.7 requires a recipient to accept.
var httpDateLayouts = [...]string{
	"Mon, 02 Jan 2006 15:04:05 GMT",  // IMF-fixdate
	"Monday, 02-Jan-06 15:04:05 GMT", // RFC 850
	"Mon Jan _2 15:04:05 2006",       // asctime
}

// parseRetryAfter reads a Retry-After header: delay seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.Atoi(v); err == nil {
		d = time.Duration(max(n, 0)) * time.Second
	} else {
		for _, layout := range httpDateLayouts {
			if t, err := time.Parse(layout, v); err == nil {
				d = t.Sub(now)
				break
			}
		}
	}
	return min(max(d, 0), maxRetryAfter)
}

// client talks to vigil-server. It is NOT safe for concurrent use.
type client struct {
	http    *httpClient
	timeout time.Duration
	hdr     []header // fixed request headers: Content-Type, User-Agent, protocol version

	body bytes.Buffer
	gz   *gzip.Writer
}

// newClient returns a client for the server at base, which Config.validate has checked.
func newClient(base string, tlsConfig *tls.Config, timeout time.Duration, version string,
	dial func(ctx context.Context, network, addr string) (net.Conn, error)) *client {
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil {
		u = &url.URL{Scheme: "https", Host: "invalid."}
	}
	return &client{
		http:    newHTTPClient(u, tlsConfig, timeout, dial, os.Getenv),
		timeout: timeout,
		hdr: []header{
			{"Content-Type", "application/json"},
			{"User-Agent", "vigil-agent/" + version},
			{wire.ProtocolHeader, strconv.Itoa(wire.ProtocolVersion)},
		},
	}
}

// Close closes the connection to the server.
func (c *client) Close() error { return c.http.Close() }

func (c *client) do(ctx context.Context, path, credential string, body []byte, gzipped bool) (*httpResponse, error) {
	hdr := c.hdr
	if gzipped {
		hdr = append(hdr[:len(hdr):len(hdr)], header{"Content-Encoding", "gzip"})
	}
	if credential != "" {
		hdr = append(hdr[:len(hdr):len(hdr)], header{"Authorization", "Bearer " + credential})
	}
	resp, err := c.http.do(ctx, time.Now().Add(c.timeout), "POST", path, hdr, body)
	if err != nil {
		return nil, classify(err)
	}
	return resp, nil
}

func httpError(resp *httpResponse, now time.Time) *sendError {
	se := &sendError{class: wire.OutageHTTP, status: resp.status, detail: resp.statusLine}
	var er wire.ErrorResponse
	if json.Unmarshal(resp.body, &er) == nil && er.Error.Code != "" {
		se.detail = resp.statusLine + " (" + er.Error.Code + ")"
	}
	if len(se.detail) > 200 {
		se.detail = se.detail[:200]
	}
	if resp.status == statusTooManyRequests || resp.status == statusServiceUnavailable {
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
	c.http.Close() // a new connection: enrollment is not idempotent, so it must never be retried
	resp, err := c.do(ctx, pathEnroll, "", b, false)
	if err != nil {
		return nil, err
	}
	if resp.status != statusCreated && resp.status != statusOK {
		return nil, httpError(resp, time.Now())
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

// batchWriter builds a gzip-compressed ReportBatch body from raw report payloads.
func (c *client) startBatch() {
	c.body.Reset()
	if c.gz == nil {
		c.gz, _ = gzip.NewWriterLevel(&c.body, gzip.BestSpeed)
	} else {
		c.gz.Reset(&c.body)
	}
	io.WriteString(c.gz, `{"reports":[`)
}

func (c *client) addToBatch(n int, payload []byte) {
	if n > 0 {
		io.WriteString(c.gz, ",")
	}
	c.gz.Write(payload)
}

// sendBatch closes the batch started with startBatch and posts it.
func (c *client) sendBatch(ctx context.Context, credential string) (*wire.Ack, error) {
	io.WriteString(c.gz, "]}")
	if err := c.gz.Close(); err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, pathReports, credential, c.body.Bytes(), true)
	if c.body.Cap() > 2*batchBytes {
		c.body = bytes.Buffer{} // do not keep a replay-sized buffer for the steady state
	}
	if err != nil {
		return nil, err
	}
	if resp.status != statusOK {
		return nil, httpError(resp, time.Now())
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
