package agent

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vigilhq/vigil/wire"
)

// The agent speaks HTTP/1.1 through the small client in this file rather than net/http: the agent
// sends two kinds of POST to one server, and net/http alone adds more than 1.5 MB to the stripped
// binary (HTTP/2, cookies, multipart, the server side…). See cmd/vigil-agent TestDeps.
//
// What it does: one persistent connection (TLS for https URLs), kept alive between reports and
// re-dialled after any error or a "Connection: close"; a request with a Content-Length body and a
// per-request deadline (conn.SetDeadline); a response with a Content-Length, chunked or
// close-delimited body. What it refuses: anything larger than the named limits below, obsolete
// header folding, transfer codings other than chunked, conflicting lengths, redirects (a 3xx is
// just a status the caller treats as an error, so the credential only ever goes to the configured
// server).

// Limits on what the server may send. The answers the agent expects are small JSON documents.
const (
	// maxResponseLineBytes bounds one status, header, chunk-size or trailer line (the bufio size).
	maxResponseLineBytes = 4 << 10
	// maxResponseHeaderBytes bounds the status line and header block (and the trailer block).
	maxResponseHeaderBytes = 32 << 10
	// maxResponseHeaders bounds the number of header (and trailer) fields.
	maxResponseHeaders = 100
	// maxResponseBodyBytes bounds a decoded response body.
	maxResponseBodyBytes = wire.MaxSmallBodyBytes
	// maxInterimResponses bounds the 1xx responses skipped before the final one.
	maxInterimResponses = 8
	// keepRespBodyCap is the largest response buffer kept between requests.
	keepRespBodyCap = 64 << 10
)

// errResponse is a malformed or oversized response; errors.Is(err, errResponse) holds for all of them.
var errResponse = errors.New("bad HTTP response")

func respErr(msg string) error { return &protoError{msg} }

type protoError struct{ msg string }

func (e *protoError) Error() string        { return "bad HTTP response: " + e.msg }
func (e *protoError) Is(target error) bool { return target == errResponse }

// noResponseError wraps a failure before the first byte of a response: on a reused connection
// this is a server that closed it while idle, and the request is retried once on a new connection.
// (Retrying a POST is safe here: reports are deduplicated by seq, and enrollment, the one request
// that is not idempotent, always goes on a new connection, so it is never retried.)
type noResponseError struct{ err error }

func (e *noResponseError) Error() string { return e.err.Error() }
func (e *noResponseError) Unwrap() error { return e.err }

// httpResponse is a parsed response. body is valid until the next request on the same client.
type httpResponse struct {
	status     int
	statusLine string // "503 Service Unavailable", for errors and logs
	retryAfter string // the Retry-After header, if any
	close      bool   // the connection cannot be reused
	body       []byte
}

// header is one request header field.
type header struct{ name, value string }

// httpClient is a minimal HTTP/1.1 client holding one persistent connection to one server. It is
// NOT safe for concurrent use.
type httpClient struct {
	secure     bool        // https: TLS on the connection
	addr       string      // host:port dialled (the server, or the proxy)
	hostHeader string      // Host header: the URL's authority
	tls        *tls.Config // with ServerName set; nil for http
	dial       func(ctx context.Context, network, addr string) (net.Conn, error)
	proxy      *url.URL // CONNECT proxy, nil for a direct connection
	target     string   // host:port of the server, for CONNECT

	conn   net.Conn
	br     *bufio.Reader
	reused bool   // conn has carried a complete exchange
	head   []byte // request head, reused
	body   []byte // response body, reused
}

// newHTTPClient prepares a client for the server at base (already validated as an http(s) URL).
// dial nil uses a net.Dialer with the given timeout. A proxy from HTTPS_PROXY / HTTP_PROXY
// (honouring NO_PROXY) is used through CONNECT, as net/http would.
func newHTTPClient(base *url.URL, tlsConfig *tls.Config, timeout time.Duration,
	dial func(ctx context.Context, network, addr string) (net.Conn, error), getenv func(string) string) *httpClient {
	host := base.Hostname()
	port := base.Port()
	c := &httpClient{secure: base.Scheme == "https", hostHeader: base.Host}
	if port == "" {
		port = "80"
		if c.secure {
			port = "443"
		}
	}
	c.target = net.JoinHostPort(host, port)
	c.addr = c.target
	if c.secure {
		if tlsConfig == nil {
			tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		tlsConfig = tlsConfig.Clone()
		if tlsConfig.ServerName == "" {
			tlsConfig.ServerName = host
		}
		if inner := tlsConfig.VerifyConnection; inner != nil {
			// crypto/tls leaves ConnectionState.ServerName empty when the server is an IP address
			// (no SNI is sent), but the pinned-fingerprint check must still verify the certificate
			// against the name the agent dialled: fill it in.
			name := tlsConfig.ServerName
			tlsConfig.VerifyConnection = func(cs tls.ConnectionState) error {
				if cs.ServerName == "" {
					cs.ServerName = name
				}
				return inner(cs)
			}
		}
		tlsConfig.NextProtos = nil // HTTP/1.1 only
		c.tls = tlsConfig
	}
	if dial == nil {
		dial = (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext
	}
	c.dial = dial
	if getenv != nil {
		c.proxy = proxyFor(base.Scheme, host, getenv)
		if c.proxy != nil {
			c.addr = proxyAddr(c.proxy)
		}
	}
	return c
}

// do sends one request and reads the whole response. The deadline bounds everything: dial, TLS
// handshake, writing and reading. Cancelling ctx aborts the request.
func (c *httpClient) do(ctx context.Context, deadline time.Time, method, path string, hdr []header, body []byte) (*httpResponse, error) {
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		reused := c.conn != nil && c.reused
		if c.conn == nil {
			if err := c.connect(ctx, deadline); err != nil {
				return nil, err
			}
		}
		conn := c.conn
		conn.SetDeadline(deadline)
		stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
		resp, err := c.roundTrip(method, path, hdr, body)
		if !stop() {
			// ctx was cancelled during the exchange: the connection's deadline is gone.
			c.Close()
			if err != nil {
				return nil, ctx.Err()
			}
			return resp, nil
		}
		if err != nil {
			c.Close()
			var nr *noResponseError
			if reused && attempt == 0 && errors.As(err, &nr) {
				continue // the server closed the idle connection: once more on a new one
			}
			return nil, err
		}
		if resp.close {
			c.Close()
		} else {
			c.reused = true
		}
		return resp, nil
	}
}

// Close closes the connection, if any. The next request dials a new one.
func (c *httpClient) Close() error {
	if c.conn == nil {
		return nil
	}
	err := c.conn.Close()
	c.conn, c.reused = nil, false
	if cap(c.body) > keepRespBodyCap {
		c.body = nil
	}
	return err
}

func (c *httpClient) connect(ctx context.Context, deadline time.Time) error {
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	conn, err := c.dial(dctx, "tcp", c.addr)
	if err != nil {
		return err
	}
	conn.SetDeadline(deadline)
	if c.br == nil {
		c.br = bufio.NewReaderSize(conn, maxResponseLineBytes)
	} else {
		c.br.Reset(conn)
	}
	if c.proxy != nil {
		if err := c.connectProxy(conn); err != nil {
			conn.Close()
			return err
		}
	}
	if c.tls != nil {
		tc := tls.Client(conn, c.tls)
		if err := tc.HandshakeContext(dctx); err != nil {
			conn.Close()
			var opErr *net.OpError
			if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) ||
				errors.Is(err, io.EOF) || errors.As(err, &opErr) {
				return err // a timeout or a dropped connection, not a TLS failure
			}
			return &tlsHandshakeError{err}
		}
		conn = tc
		c.br.Reset(conn)
	}
	c.conn, c.reused = conn, false
	return nil
}

// tlsHandshakeError is a failed TLS handshake (classified as a TLS outage).
type tlsHandshakeError struct{ err error }

func (e *tlsHandshakeError) Error() string { return "tls handshake: " + e.err.Error() }
func (e *tlsHandshakeError) Unwrap() error { return e.err }

// connectProxy opens a tunnel to the server through an HTTP proxy.
func (c *httpClient) connectProxy(conn net.Conn) error {
	b := append(c.head[:0], "CONNECT "...)
	b = append(b, c.target...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, c.target...)
	b = append(b, "\r\n"...)
	if u := c.proxy.User; u != nil {
		pw, _ := u.Password()
		b = append(b, "Proxy-Authorization: Basic "...)
		b = append(b, base64.StdEncoding.EncodeToString([]byte(u.Username()+":"+pw))...)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	c.head = b
	if _, err := conn.Write(b); err != nil {
		return err
	}
	resp, err := readResponse(c.br, "CONNECT", c.body[:0], true)
	if err != nil {
		return err
	}
	if resp.status != 200 {
		return &proxyError{resp.statusLine}
	}
	if c.br.Buffered() > 0 {
		return respErr("proxy sent data after its CONNECT answer")
	}
	return nil
}

// proxyError is a proxy refusing the tunnel (classified as a connect outage).
type proxyError struct{ status string }

func (e *proxyError) Error() string { return "proxy refused CONNECT: " + e.status }

// roundTrip writes the request and reads the response on c.conn.
func (c *httpClient) roundTrip(method, path string, hdr []header, body []byte) (*httpResponse, error) {
	b := append(c.head[:0], method...)
	b = append(b, ' ')
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, c.hostHeader...)
	b = append(b, "\r\n"...)
	for _, h := range hdr {
		b = append(b, h.name...)
		b = append(b, ": "...)
		b = append(b, h.value...)
		b = append(b, "\r\n"...)
	}
	b = append(b, "Content-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n\r\n"...)
	c.head = b
	_, werr := c.conn.Write(b)
	if werr == nil && len(body) > 0 {
		_, werr = c.conn.Write(body)
	}
	if werr != nil {
		// The server may have answered (413, 503) and closed before reading the whole body:
		// prefer its answer to the write error.
		if resp, err := readResponse(c.br, method, c.body[:0], false); err == nil {
			resp.close = true
			c.body = resp.body
			return resp, nil
		}
		if isStaleConn(werr) {
			return nil, &noResponseError{werr}
		}
		return nil, werr
	}
	resp, err := readResponse(c.br, method, c.body[:0], false)
	if err != nil {
		if errors.Is(err, io.EOF) || isStaleConn(err) {
			return nil, &noResponseError{err}
		}
		return nil, err
	}
	c.body = resp.body
	return resp, nil
}

// isStaleConn reports errors of writing to or reading from a connection the server closed.
func isStaleConn(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// readResponse reads one response from br, appending its body to buf. It returns io.EOF (and
// only then) when the connection ended before the first byte. connect is true for the answer to
// CONNECT, which has no body on success.
func readResponse(br *bufio.Reader, method string, buf []byte, connect bool) (*httpResponse, error) {
	budget := maxResponseHeaderBytes
	var resp *httpResponse
	for interim := 0; ; interim++ {
		line, err := readLine(br, &budget)
		if err != nil {
			if interim == 0 && err == io.EOF {
				return nil, io.EOF
			}
			return nil, unexpectedEOF(err)
		}
		resp, err = parseStatusLine(line)
		if err != nil {
			return nil, err
		}
		h, err := readHeaders(br, &budget, resp)
		if err != nil {
			return nil, err
		}
		if resp.status >= 200 {
			return readBody(br, method, buf, connect, resp, h)
		}
		if resp.status == 101 {
			return nil, respErr("unexpected 101 Switching Protocols")
		}
		if interim >= maxInterimResponses {
			return nil, respErr("too many 1xx responses")
		}
	}
}

// framing is what the headers say about the body.
type framing struct {
	contentLength int64 // -1 if absent
	chunked       bool
	http10        bool
	keepAlive     bool // "Connection: keep-alive" (matters for HTTP/1.0)
	closeToken    bool // "Connection: close"
}

// parseStatusLine parses "HTTP/1.1 200 OK".
func parseStatusLine(line []byte) (*httpResponse, error) {
	rest, ok := bytes.CutPrefix(line, []byte("HTTP/1."))
	if !ok || len(rest) < 5 || (rest[0] != '0' && rest[0] != '1') || rest[1] != ' ' {
		return nil, respErr("malformed status line " + quoteLine(line))
	}
	code := rest[2:5]
	if len(rest) > 5 && rest[5] != ' ' {
		return nil, respErr("malformed status line " + quoteLine(line))
	}
	status := 0
	for _, d := range code {
		if d < '0' || d > '9' {
			return nil, respErr("malformed status code " + quoteLine(line))
		}
		status = status*10 + int(d-'0')
	}
	if status < 100 {
		return nil, respErr("malformed status code " + quoteLine(line))
	}
	reason := rest[min(len(rest), 6):]
	for _, ch := range reason {
		if ch < ' ' && ch != '\t' || ch == 0x7f {
			return nil, respErr("control character in the status line")
		}
	}
	resp := &httpResponse{status: status, statusLine: string(bytes.TrimSpace(rest[2:]))}
	if rest[0] == '0' {
		resp.close = true // HTTP/1.0 unless "Connection: keep-alive"
	}
	return resp, nil
}

// readHeaders reads header fields up to the empty line and returns the framing they declare.
func readHeaders(br *bufio.Reader, budget *int, resp *httpResponse) (framing, error) {
	f := framing{contentLength: -1, http10: resp.close}
	for n := 0; ; n++ {
		line, err := readLine(br, budget)
		if err != nil {
			return f, unexpectedEOF(err)
		}
		if len(line) == 0 {
			break
		}
		if n >= maxResponseHeaders {
			return f, respErr("too many header fields")
		}
		name, value, err := splitHeader(line)
		if err != nil {
			return f, err
		}
		switch {
		case asciiEqualFold(name, "Content-Length"):
			v, ok := parseContentLength(value)
			if !ok || (f.contentLength >= 0 && v != f.contentLength) {
				return f, respErr("bad Content-Length " + quoteLine(value))
			}
			f.contentLength = v
		case asciiEqualFold(name, "Transfer-Encoding"):
			if f.chunked || !asciiEqualFold(value, "chunked") {
				return f, respErr("unsupported Transfer-Encoding " + quoteLine(value))
			}
			f.chunked = true
		case asciiEqualFold(name, "Connection"):
			for tok := range strings.SplitSeq(string(value), ",") {
				tok = strings.TrimSpace(tok)
				if strings.EqualFold(tok, "close") {
					resp.close, f.closeToken = true, true
				} else if strings.EqualFold(tok, "keep-alive") {
					f.keepAlive = true
				}
			}
		case asciiEqualFold(name, "Retry-After"):
			resp.retryAfter = string(value)
		}
	}
	if f.http10 && f.keepAlive && !f.closeToken {
		resp.close = false
	}
	return f, nil
}

// readBody reads the body the framing describes into buf.
func readBody(br *bufio.Reader, method string, buf []byte, connect bool, resp *httpResponse, f framing) (*httpResponse, error) {
	if f.http10 && f.chunked {
		return nil, respErr("chunked encoding in an HTTP/1.0 response")
	}
	if f.chunked && f.contentLength >= 0 {
		// RFC 9112 §6.3: chunked wins, and the connection must not be reused.
		f.contentLength = -1
		resp.close = true
	}
	switch {
	case method == "HEAD" || resp.status == 204 || resp.status == 304 || (connect && resp.status == 200):
		if f.contentLength > 0 && resp.status == 204 {
			return nil, respErr("204 response with a body")
		}
		resp.body = buf[:0]
		return resp, nil
	case f.chunked:
		body, err := readChunked(br, buf)
		if err != nil {
			return nil, err
		}
		resp.body = body
		return resp, nil
	case f.contentLength >= 0:
		if f.contentLength > maxResponseBodyBytes {
			return nil, respErr("body of " + strconv.FormatInt(f.contentLength, 10) + " bytes is too large")
		}
		n := int(f.contentLength)
		body := grow(buf[:0], n)[:n]
		if _, err := io.ReadFull(br, body); err != nil {
			return nil, unexpectedEOF(err)
		}
		resp.body = body
		return resp, nil
	default:
		// No length: the body runs to the end of the connection.
		resp.close = true
		body, err := readToEOF(br, buf[:0])
		if err != nil {
			return nil, err
		}
		resp.body = body
		return resp, nil
	}
}

func readToEOF(br *bufio.Reader, body []byte) ([]byte, error) {
	for {
		if len(body) == cap(body) {
			body = grow(body, min(max(2*cap(body), 512), maxResponseBodyBytes+1))
		}
		n, err := br.Read(body[len(body):cap(body)])
		body = body[:len(body)+n]
		if len(body) > maxResponseBodyBytes {
			return nil, respErr("body is too large")
		}
		if err == io.EOF {
			return body, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// readChunked decodes a chunked body and discards its trailer.
func readChunked(br *bufio.Reader, body []byte) ([]byte, error) {
	budget := maxResponseHeaderBytes
	body = body[:0]
	for {
		line, err := readLine(br, &budget)
		if err != nil {
			return nil, unexpectedEOF(err)
		}
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i] // chunk extensions are ignored
		}
		line = bytes.TrimRight(line, " \t")
		if len(line) == 0 || len(line) > 16 {
			return nil, respErr("bad chunk size " + quoteLine(line))
		}
		var size int64
		for _, d := range line {
			var v byte
			switch {
			case '0' <= d && d <= '9':
				v = d - '0'
			case 'a' <= d && d <= 'f':
				v = d - 'a' + 10
			case 'A' <= d && d <= 'F':
				v = d - 'A' + 10
			default:
				return nil, respErr("bad chunk size " + quoteLine(line))
			}
			size = size<<4 | int64(v)
			if size > maxResponseBodyBytes {
				return nil, respErr("body is too large")
			}
		}
		if size == 0 {
			break
		}
		if int64(len(body))+size > maxResponseBodyBytes {
			return nil, respErr("body is too large")
		}
		n := len(body)
		body = grow(body, int(size))[:n+int(size)]
		if _, err := io.ReadFull(br, body[n:]); err != nil {
			return nil, unexpectedEOF(err)
		}
		crlf, err := readLine(br, &budget)
		if err != nil {
			return nil, unexpectedEOF(err)
		}
		if len(crlf) != 0 {
			return nil, respErr("chunk not followed by CRLF")
		}
	}
	// Trailer fields, up to the empty line: checked for shape, then ignored.
	for n := 0; ; n++ {
		line, err := readLine(br, &budget)
		if err != nil {
			return nil, unexpectedEOF(err)
		}
		if len(line) == 0 {
			return body, nil
		}
		if n >= maxResponseHeaders {
			return nil, respErr("too many trailer fields")
		}
		if _, _, err := splitHeader(line); err != nil {
			return nil, err
		}
	}
}

// readLine returns one line without its CRLF (a bare LF is accepted, as by most clients),
// charging it to budget. The slice is valid until the next read from br.
func readLine(br *bufio.Reader, budget *int) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		return nil, respErr("line longer than " + strconv.Itoa(maxResponseLineBytes) + " bytes")
	}
	if err != nil {
		if err == io.EOF && len(line) > 0 {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	*budget -= len(line)
	if *budget < 0 {
		return nil, respErr("header block larger than " + strconv.Itoa(maxResponseHeaderBytes) + " bytes")
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if bytes.IndexByte(line, '\r') >= 0 {
		return nil, respErr("bare CR in a line")
	}
	return line, nil
}

// splitHeader splits "Name: value", checking the name is a token and the value has no control
// characters. Obsolete line folding (a line starting with white space) is refused.
func splitHeader(line []byte) (name, value []byte, err error) {
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return nil, nil, respErr("malformed header line " + quoteLine(line))
	}
	name = line[:i]
	for _, ch := range name {
		if !isTokenChar(ch) {
			return nil, nil, respErr("malformed header name " + quoteLine(name))
		}
	}
	value = bytes.Trim(line[i+1:], " \t")
	for _, ch := range value {
		if ch < ' ' && ch != '\t' || ch == 0x7f {
			return nil, nil, respErr("control character in header " + quoteLine(name))
		}
	}
	return name, value, nil
}

func isTokenChar(ch byte) bool {
	switch {
	case 'a' <= ch && ch <= 'z', 'A' <= ch && ch <= 'Z', '0' <= ch && ch <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", ch) >= 0
}

// parseContentLength accepts 1 to 18 decimal digits.
func parseContentLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, d := range v {
		if d < '0' || d > '9' {
			return 0, false
		}
		n = n*10 + int64(d-'0')
	}
	return n, true
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// grow returns b with room for n more bytes.
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	nb := make([]byte, len(b), len(b)+n)
	copy(nb, b)
	return nb
}

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// quoteLine quotes at most 64 bytes of a line for an error message.
func quoteLine(b []byte) string {
	if len(b) > 64 {
		return strconv.Quote(string(b[:64])) + "…"
	}
	return strconv.Quote(string(b))
}

// proxyFor returns the HTTP proxy for scheme://host from the environment (HTTPS_PROXY or
// HTTP_PROXY, upper or lower case; NO_PROXY), or nil. Like net/http, requests to localhost and
// loopback addresses never use a proxy, and only http:// proxies are supported (through CONNECT).
func proxyFor(scheme, host string, getenv func(string) string) *url.URL {
	env := func(name string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return getenv(strings.ToLower(name))
	}
	raw := env("HTTP_PROXY")
	if scheme == "https" {
		raw = env("HTTPS_PROXY")
	}
	if raw == "" || host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	if noProxy(host, env("NO_PROXY")) {
		return nil
	}
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return nil
	}
	return u
}

func proxyAddr(u *url.URL) string {
	if u.Port() == "" {
		return net.JoinHostPort(u.Hostname(), "80")
	}
	return u.Host
}

// noProxy reports whether host matches a NO_PROXY list: "*", a host name (matching its
// subdomains too, with or without a leading dot), an IP address or a CIDR block.
func noProxy(host, list string) bool {
	host = strings.ToLower(host)
	ip := net.ParseIP(host)
	for e := range strings.SplitSeq(list, ",") {
		e = strings.ToLower(strings.TrimSpace(e))
		if e == "" {
			continue
		}
		if e == "*" {
			return true
		}
		if _, cidr, err := net.ParseCIDR(e); err == nil {
			if ip != nil && cidr.Contains(ip) {
				return true
			}
			continue
		}
		if h, _, err := net.SplitHostPort(e); err == nil {
			e = h
		}
		if eip := net.ParseIP(e); eip != nil {
			if ip != nil && ip.Equal(eip) {
				return true
			}
			continue
		}
		e = strings.TrimPrefix(e, ".")
		if host == e || strings.HasSuffix(host, "."+e) {
			return true
		}
	}
	return false
}
