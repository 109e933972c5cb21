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
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

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
	var pinErr *pinnedError
	switch {
	case errors.As(err, &dnsErr):
		se.class = wire.OutageDNS
	case errors.As(err, &certErr), errors.As(err, &unknownAuth), errors.As(err, &hostErr),
		errors.As(err, &invalidErr), errors.As(err, &recErr), errors.As(err, &alertErr),
		errors.As(err, &pinErr), errors.Is(err, ErrFingerprintMismatch), strings.Contains(err.Error(), "tls: "):
		se.class = wire.OutageTLS
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		se.class = wire.OutageTimeout
	case errors.As(err, &opErr) && opErr.Op == "dial":
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

// parseRetryAfter reads a Retry-After header: delay seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.Atoi(v); err == nil {
		d = time.Duration(max(n, 0)) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}

// client talks to vigil-server. It is NOT safe for concurrent use.
type client struct {
	base    string
	http    *http.Client
	timeout time.Duration
	version string

	body bytes.Buffer
	gz   *gzip.Writer
}

func newClient(base string, tlsConfig *tls.Config, timeout time.Duration, version string, rt http.RoundTripper) *client {
	if rt == nil {
		if tlsConfig != nil && tlsConfig.VerifyConnection != nil {
			// crypto/tls leaves ConnectionState.ServerName empty when the server is an IP address
			// (no SNI is sent), but the pinned-fingerprint check must still verify the certificate
			// against the address the agent dialled: fill it in from the URL.
			host := ""
			if u, err := url.Parse(base); err == nil {
				host = u.Hostname()
			}
			if tlsConfig.ServerName != "" {
				host = tlsConfig.ServerName
			}
			inner := tlsConfig.VerifyConnection
			tlsConfig = tlsConfig.Clone()
			tlsConfig.VerifyConnection = func(cs tls.ConnectionState) error {
				if cs.ServerName == "" {
					cs.ServerName = host
				}
				return inner(cs)
			}
		}
		rt = &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext,
			TLSClientConfig:     tlsConfig,
			TLSHandshakeTimeout: timeout,
			MaxIdleConns:        1,
			MaxIdleConnsPerHost: 1,
			// Keeping the connection between reports saves a TLS handshake per cycle.
			IdleConnTimeout:       5 * time.Minute,
			ResponseHeaderTimeout: timeout,
		}
	}
	return &client{
		base:    strings.TrimRight(base, "/"),
		http:    &http.Client{Transport: rt, Timeout: timeout, CheckRedirect: noRedirects},
		timeout: timeout,
		version: version,
	}
}

// noRedirects refuses redirects: the credential must only go to the configured server.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func (c *client) do(ctx context.Context, path, credential string, body io.Reader, gzipped bool) (*http.Response, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, body)
	if err != nil {
		return nil, nil, &sendError{class: wire.OutageOther, detail: "bad server URL", err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "vigil-agent/"+c.version)
	req.Header.Set(wire.ProtocolHeader, strconv.Itoa(wire.ProtocolVersion))
	if gzipped {
		req.Header.Set("Content-Encoding", "gzip")
	}
	if credential != "" {
		req.Header.Set("Authorization", "Bearer "+credential)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, nil, classify(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, wire.MaxSmallBodyBytes+1))
	if err != nil {
		return nil, nil, classify(err)
	}
	if len(data) > wire.MaxSmallBodyBytes {
		return nil, nil, &sendError{class: wire.OutageOther, detail: "server answer too large"}
	}
	return resp, data, nil
}

func httpError(resp *http.Response, data []byte, now time.Time) *sendError {
	se := &sendError{class: wire.OutageHTTP, status: resp.StatusCode, detail: resp.Status}
	var er wire.ErrorResponse
	if json.Unmarshal(data, &er) == nil && er.Error.Code != "" {
		se.detail = fmt.Sprintf("%s (%s)", resp.Status, er.Error.Code)
	}
	if len(se.detail) > 200 {
		se.detail = se.detail[:200]
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		se.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), now)
	}
	return se
}

// enroll exchanges the enrollment token for a credential.
func (c *client) enroll(ctx context.Context, req *wire.EnrollRequest) (*wire.EnrollResponse, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	resp, data, err := c.do(ctx, pathEnroll, "", bytes.NewReader(b), false)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return nil, httpError(resp, data, time.Now())
	}
	var er wire.EnrollResponse
	if err := wire.Unmarshal(data, false, &er); err != nil {
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
	resp, data, err := c.do(ctx, pathReports, credential, bytes.NewReader(c.body.Bytes()), true)
	if c.body.Cap() > 2*batchBytes {
		c.body = bytes.Buffer{} // do not keep a replay-sized buffer for the steady state
	}
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, httpError(resp, data, time.Now())
	}
	var ack wire.Ack
	if err := wire.Unmarshal(data, false, &ack); err != nil {
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
