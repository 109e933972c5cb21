package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/vigilhq/vigil/internal/wallclock"
	"github.com/vigilhq/vigil/wire"
)

// This file is the agent's HTTP transport to its one server: net/http with one keep-alive
// connection, the pinned TLS configuration, timeouts at every stage, bounded responses, the proxy
// from HTTPS_PROXY / NO_PROXY, and no redirects (a 3xx is a status the caller treats as an error,
// so the credential only ever goes to the configured server). It knows nothing of reports; push.go
// speaks the wire protocol over it.

// Timeouts of one request. The request timeout (Config.RequestTimeout) bounds the whole exchange;
// these bound its stages so that a stall is reported where it happened.
const (
	// dialTimeout bounds a TCP connection to the server or the proxy.
	dialTimeout = 10 * time.Second
	// tlsHandshakeTimeout bounds the TLS handshake.
	tlsHandshakeTimeout = 10 * time.Second
	// responseHeaderTimeout bounds the wait for the answer once the request is written.
	responseHeaderTimeout = 20 * time.Second
	// idleConnTimeout closes the kept-alive connection after this long unused.
	idleConnTimeout = 5 * time.Minute
	// tcpKeepAlive is the TCP keep-alive period of the connection.
	tcpKeepAlive = 30 * time.Second
)

// Limits on what the server may send. The answers the agent expects are small JSON documents.
const (
	// maxResponseHeaderBytes bounds the status line and header block of a response.
	maxResponseHeaderBytes = 32 << 10
	// maxResponseBodyBytes bounds a response body.
	maxResponseBodyBytes = wire.MaxSmallBodyBytes
	// keepRespBodyCap is the largest response buffer kept between requests.
	keepRespBodyCap = 64 << 10
)

// errResponseTooLarge is a response body over maxResponseBodyBytes.
var errResponseTooLarge = errors.New("response body too large")

// tlsHandshakeError is a failed TLS handshake (classified as a TLS outage unless the cause is a
// timeout or a dropped connection).
type tlsHandshakeError struct{ err error }

func (e *tlsHandshakeError) Error() string { return "tls handshake: " + e.err.Error() }
func (e *tlsHandshakeError) Unwrap() error { return e.err }

// proxyError is a proxy refusing the CONNECT tunnel (classified as a connect outage).
type proxyError struct{ status string }

func (e *proxyError) Error() string { return "proxy refused CONNECT: " + e.status }

// response is a complete response. body is valid until the next request on the same transport.
type response struct {
	status     int
	statusLine string // "503 Service Unavailable", for errors and logs
	retryAfter string // the Retry-After header, if any
	body       []byte
}

// transportConfig configures a transport.
type transportConfig struct {
	server  *url.URL    // the server's base URL, https
	tls     *tls.Config // nil: the system roots
	timeout time.Duration
	// dial replaces dialling the server or proxy (tests); nil uses a net.Dialer.
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// proxy chooses the proxy; nil is http.ProxyFromEnvironment (HTTPS_PROXY, NO_PROXY).
	proxy func(*http.Request) (*url.URL, error)
}

// transport posts requests to one server. It is NOT safe for concurrent use (the agent's loop is
// its only user).
type transport struct {
	client  *http.Client
	tr      *http.Transport
	base    *url.URL
	timeout time.Duration
	body    bytes.Buffer // response body, reused
}

func newTransport(cfg transportConfig) *transport {
	host := cfg.server.Hostname()
	tc := cfg.tls
	if tc == nil {
		tc = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	tc = tc.Clone()
	if wallclock.Faked {
		tc.Time = wallclock.Override // certificate validity on the faked wall clock (test builds only)
	}
	if tc.ServerName == "" {
		tc.ServerName = host
	}
	if inner := tc.VerifyConnection; inner != nil {
		// crypto/tls leaves ConnectionState.ServerName empty when the server is an IP address
		// (no SNI is sent), but the pinned-fingerprint check must still verify the certificate
		// against the name the agent dialled: fill it in.
		name := tc.ServerName
		tc.VerifyConnection = func(cs tls.ConnectionState) error {
			if cs.ServerName == "" {
				cs.ServerName = name
			}
			return inner(cs)
		}
	}
	tc.NextProtos = nil // HTTP/1.1 only
	dial := cfg.dial
	if dial == nil {
		dial = (&net.Dialer{Timeout: min(dialTimeout, cfg.timeout), KeepAlive: tcpKeepAlive}).DialContext
	}
	proxy := cfg.proxy
	if proxy == nil {
		proxy = http.ProxyFromEnvironment
	}
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	tr := &http.Transport{
		Proxy:       proxy,
		DialContext: dial,
		OnProxyConnectResponse: func(_ context.Context, _ *url.URL, _ *http.Request, resp *http.Response) error {
			if resp.StatusCode != http.StatusOK {
				return &proxyError{resp.Status}
			}
			return nil
		},
		TLSClientConfig:        tc,
		TLSHandshakeTimeout:    min(tlsHandshakeTimeout, cfg.timeout),
		ResponseHeaderTimeout:  min(responseHeaderTimeout, cfg.timeout),
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
		DisableCompression:     true, // answers are small; never decompress what the server sends
		MaxIdleConns:           1,
		MaxIdleConnsPerHost:    1,
		IdleConnTimeout:        idleConnTimeout,
		Protocols:              protocols,
	}
	return &transport{
		client: &http.Client{
			Transport: tr,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse // never follow: the credential stays with the server
			},
		},
		tr:      tr,
		base:    cfg.server,
		timeout: cfg.timeout,
	}
}

// closeIdle closes the kept-alive connection, if any. The next request dials a new one.
func (t *transport) closeIdle() {
	t.tr.CloseIdleConnections()
	if t.body.Cap() > keepRespBodyCap {
		t.body = bytes.Buffer{}
	}
}

// post sends body to path with the headers in hdr and reads the whole response. The request
// timeout bounds everything: dial, proxy, TLS handshake, writing and reading. Cancelling ctx aborts
// the request. With retryStale, a request that fails on a reused connection (the server closed it
// while idle) is sent once more on a new one; only idempotent requests may set it.
func (t *transport) post(ctx context.Context, path string, hdr http.Header, body []byte, retryStale bool) (*response, error) {
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		var reused atomic.Bool
		resp, err := t.roundTrip(ctx, path, hdr, body, &reused)
		if err != nil && retryStale && reused.Load() && attempt == 0 && ctx.Err() == nil {
			continue
		}
		return resp, err
	}
}

// roundTrip sends one request; reused is set if it went on a kept-alive connection.
func (t *transport) roundTrip(ctx context.Context, path string, hdr http.Header, body []byte, reused *atomic.Bool) (*response, error) {
	// The hooks may run on net/http's dialling goroutine, which can outlive a cancelled request.
	var handshakeFailed atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) { reused.Store(info.Reused) },
		TLSHandshakeDone: func(_ tls.ConnectionState, err error) {
			if err != nil {
				handshakeFailed.Store(true)
			}
		},
	})
	u := *t.base
	u.Path += path
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if hdr != nil {
		req.Header = hdr
	}
	resp, err := t.client.Do(req)
	if err != nil {
		if handshakeFailed.Load() {
			err = &tlsHandshakeError{err}
		}
		return nil, err
	}
	defer resp.Body.Close()
	if resp.ContentLength > maxResponseBodyBytes {
		return nil, fmt.Errorf("%w: %d bytes announced, the limit is %d", errResponseTooLarge, resp.ContentLength, maxResponseBodyBytes)
	}
	t.body.Reset()
	if _, err := t.body.ReadFrom(io.LimitReader(resp.Body, maxResponseBodyBytes+1)); err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	if t.body.Len() > maxResponseBodyBytes {
		return nil, fmt.Errorf("%w: more than %d bytes", errResponseTooLarge, maxResponseBodyBytes)
	}
	return &response{
		status:     resp.StatusCode,
		statusLine: resp.Status,
		retryAfter: resp.Header.Get("Retry-After"),
		body:       t.body.Bytes(),
	}, nil
}
