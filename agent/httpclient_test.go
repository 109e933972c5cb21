package agent

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilhq/vigil/tlspin"
	"github.com/vigilhq/vigil/wire"
)

func parse(raw string) (*httpResponse, error) {
	return readResponse(bufio.NewReaderSize(strings.NewReader(raw), maxResponseLineBytes), "POST", nil, false)
}

func TestReadResponse(t *testing.T) {
	big := strconv.Itoa(maxResponseBodyBytes + 1)
	tests := []struct {
		name       string
		raw        string
		status     int
		body       string
		close      bool
		retryAfter string
		err        bool
	}{
		{name: "content-length", raw: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", status: 200, body: "hello"},
		{name: "bare LF", raw: "HTTP/1.1 200 OK\nContent-Length: 2\n\nhi", status: 200, body: "hi"},
		{name: "no reason phrase", raw: "HTTP/1.1 201\r\nContent-Length: 0\r\n\r\n", status: 201},
		{name: "chunked", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
			status: 200, body: "hello world"},
		{name: "chunked, upper-case hex", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n", status: 200, body: "0123456789"},
		{name: "close-delimited", raw: "HTTP/1.1 200 OK\r\n\r\nuntil the end", status: 200, body: "until the end", close: true},
		{name: "connection close", raw: "HTTP/1.1 503 Service Unavailable\r\nConnection: keep-alive, Close\r\nRetry-After: 7\r\nContent-Length: 0\r\n\r\n",
			status: 503, close: true, retryAfter: "7"},
		{name: "HTTP/1.0 closes", raw: "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", status: 200, body: "x", close: true},
		{name: "HTTP/1.0 keep-alive", raw: "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx", status: 200, body: "x"},
		{name: "interim 100 and 103", raw: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
			status: 200, body: "ok"},
		{name: "204 without body", raw: "HTTP/1.1 204 No Content\r\n\r\n", status: 204},
		{name: "chunked wins over length, then close", raw: "HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
			status: 200, body: "x", close: true},
		{name: "repeated equal lengths", raw: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", status: 200, body: "x"},

		{name: "empty", raw: "", err: true},
		{name: "not HTTP", raw: "SSH-2.0-OpenSSH\r\n\r\n", err: true},
		{name: "HTTP/2 status line", raw: "HTTP/2 200\r\n\r\n", err: true},
		{name: "short status", raw: "HTTP/1.1 20\r\n\r\n", err: true},
		{name: "status below 100", raw: "HTTP/1.1 099 x\r\n\r\n", err: true},
		{name: "101", raw: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", err: true},
		{name: "truncated header", raw: "HTTP/1.1 200 OK\r\nContent-Le", err: true},
		{name: "truncated body", raw: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", err: true},
		{name: "truncated chunk", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", err: true},
		{name: "missing last chunk", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", err: true},
		{name: "chunk without CRLF", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nxy\r\n0\r\n\r\n", err: true},
		{name: "bad chunk size", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n\r\n", err: true},
		{name: "huge chunk size", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n", err: true},
		{name: "chunked body too large", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
			strconv.FormatInt(maxResponseBodyBytes+1, 16) + "\r\n", err: true},
		{name: "length too large", raw: "HTTP/1.1 200 OK\r\nContent-Length: " + big + "\r\n\r\n", err: true},
		{name: "close-delimited too large", raw: "HTTP/1.1 200 OK\r\n\r\n" + strings.Repeat("x", maxResponseBodyBytes+1), err: true},
		{name: "negative length", raw: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", err: true},
		{name: "signed length", raw: "HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\nx", err: true},
		{name: "conflicting lengths", raw: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx", err: true},
		{name: "gzip transfer coding", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", err: true},
		{name: "chunked twice", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", err: true},
		{name: "chunked in HTTP/1.0", raw: "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", err: true},
		{name: "obsolete folding", raw: "HTTP/1.1 200 OK\r\nX-A: 1\r\n  folded\r\nContent-Length: 0\r\n\r\n", err: true},
		{name: "space before colon", raw: "HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n", err: true},
		{name: "no colon", raw: "HTTP/1.1 200 OK\r\nnonsense\r\n\r\n", err: true},
		{name: "control character in value", raw: "HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 0\r\n\r\n", err: true},
		{name: "bare CR", raw: "HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 0\r\n\r\n", err: true},
		{name: "line too long", raw: "HTTP/1.1 200 OK\r\nX-A: " + strings.Repeat("a", maxResponseLineBytes) + "\r\n\r\n", err: true},
		{name: "header block too large", raw: "HTTP/1.1 200 OK\r\n" + strings.Repeat("X-A: "+strings.Repeat("a", 1000)+"\r\n", maxResponseHeaderBytes/1000+1) + "\r\n", err: true},
		{name: "too many headers", raw: "HTTP/1.1 200 OK\r\n" + strings.Repeat("X-A: a\r\n", maxResponseHeaders+1) + "\r\n", err: true},
		{name: "too many interim responses", raw: strings.Repeat("HTTP/1.1 100 Continue\r\n\r\n", maxInterimResponses+2), err: true},
		{name: "204 with a body", raw: "HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\nabc", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := parse(tt.raw)
			if tt.err {
				if err == nil {
					t.Fatalf("accepted: status %d body %q", resp.status, resp.body)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if resp.status != tt.status || string(resp.body) != tt.body || resp.close != tt.close || resp.retryAfter != tt.retryAfter {
				t.Fatalf("got status %d body %q close %v retry-after %q; want %d %q %v %q",
					resp.status, resp.body, resp.close, resp.retryAfter, tt.status, tt.body, tt.close, tt.retryAfter)
			}
		})
	}
}

// countingServer is an httptest server that counts the TCP connections it accepted.
type countingServer struct {
	*httptest.Server
	conns atomic.Int32
}

func newCountingServer(t *testing.T, h http.Handler, tlsOn bool, setup ...func(*http.Server)) *countingServer {
	cs := &countingServer{Server: httptest.NewUnstartedServer(h)}
	for _, f := range setup {
		f(cs.Config)
	}
	cs.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			cs.conns.Add(1)
		}
	}
	if tlsOn {
		cs.StartTLS()
	} else {
		cs.Start()
	}
	t.Cleanup(cs.Close)
	return cs
}

func testHTTPClient(t *testing.T, rawURL string, cfg *tls.Config, getenv func(string) string) *httpClient {
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	c := newHTTPClient(u, cfg, 5*time.Second, nil, getenv)
	t.Cleanup(func() { c.Close() })
	return c
}

func post(t *testing.T, c *httpClient, path, body string) *httpResponse {
	t.Helper()
	resp, err := c.do(context.Background(), time.Now().Add(5*time.Second), "POST", path,
		[]header{{"Content-Type", "text/plain"}}, []byte(body))
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	return resp
}

func TestHTTPClientKeepAliveAndClose(t *testing.T) {
	var mu sync.Mutex
	var got []string
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.Path+" "+string(b)+" "+r.Host)
		mu.Unlock()
		switch r.URL.Path {
		case "/close":
			w.Header().Set("Connection", "close")
		case "/chunked":
			for range 100 {
				io.WriteString(w, strings.Repeat("y", 1000))
				w.(http.Flusher).Flush()
			}
			return
		}
		io.WriteString(w, "echo "+string(b))
	}), false)
	c := testHTTPClient(t, srv.URL, nil, nil)
	for i := range 3 {
		if r := post(t, c, "/a", strconv.Itoa(i)); r.status != 200 || string(r.body) != "echo "+strconv.Itoa(i) {
			t.Fatalf("response %d %q", r.status, r.body)
		}
	}
	if n := srv.conns.Load(); n != 1 {
		t.Fatalf("%d connections for 3 requests, want 1 (keep-alive)", n)
	}
	if r := post(t, c, "/close", "x"); r.status != 200 || !r.close {
		t.Fatalf("Connection: close not seen: %+v", r)
	}
	post(t, c, "/a", "after close")
	if n := srv.conns.Load(); n != 2 {
		t.Fatalf("%d connections, want 2 (a new one after Connection: close)", n)
	}
	if r := post(t, c, "/chunked", ""); len(r.body) != 100000 || strings.Trim(string(r.body), "y") != "" {
		t.Fatalf("chunked body of %d bytes", len(r.body))
	}
	if got[0] != "POST /a 0 "+strings.TrimPrefix(srv.URL, "http://") {
		t.Fatalf("server saw %q", got[0])
	}
}

// TestHTTPClientStaleConnection: the server closes the kept-alive connection while it is idle;
// the next request is retried once on a new connection.
func TestHTTPClientStaleConnection(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}), false, func(s *http.Server) { s.IdleTimeout = 20 * time.Millisecond })
	c := testHTTPClient(t, srv.URL, nil, nil)
	post(t, c, "/", "1")
	time.Sleep(200 * time.Millisecond)
	if r := post(t, c, "/", "2"); string(r.body) != "ok" {
		t.Fatalf("body %q", r.body)
	}
	if n := srv.conns.Load(); n != 2 {
		t.Fatalf("%d connections, want 2", n)
	}
}

func TestHTTPClientErrorClasses(t *testing.T) {
	slow := make(chan struct{})
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			select {
			case <-slow:
			case <-r.Context().Done():
			}
		}
		io.WriteString(w, "ok")
	}), false)
	defer close(slow)
	c := testHTTPClient(t, srv.URL, nil, nil)
	_, err := c.do(context.Background(), time.Now().Add(100*time.Millisecond), "POST", "/slow", nil, nil)
	if se := classify(err); se.class != wire.OutageTimeout {
		t.Fatalf("slow answer: class %s (%v), want timeout", se.class, err)
	}
	if r := post(t, c, "/", ""); string(r.body) != "ok" {
		t.Fatalf("after a timeout: %q", r.body)
	}

	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	if _, err := c.do(ctx, time.Now().Add(5*time.Second), "POST", "/slow", nil, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}

	// Nothing listens on a closed listener's port.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	_, err = testHTTPClient(t, "http://"+addr, nil, nil).do(context.Background(), time.Now().Add(time.Second), "POST", "/", nil, nil)
	if se := classify(err); se.class != wire.OutageConnect {
		t.Fatalf("refused: class %s (%v), want connect", se.class, err)
	}

	_, err = testHTTPClient(t, "http://vigil.invalid", nil, nil).do(context.Background(), time.Now().Add(5*time.Second), "POST", "/", nil, nil)
	if se := classify(err); se.class != wire.OutageDNS {
		t.Fatalf("unknown host: class %s (%v), want dns", se.class, err)
	}

	// A plain-HTTP server behind an https URL is a TLS failure.
	_, err = testHTTPClient(t, strings.Replace(srv.URL, "http:", "https:", 1), nil, nil).do(context.Background(), time.Now().Add(time.Second), "POST", "/", nil, nil)
	if se := classify(err); se.class != wire.OutageTLS {
		t.Fatalf("https to a plain server: class %s (%v), want tls", se.class, err)
	}
}

// TestHTTPClientEarlyAnswer: a server that refuses a large body without reading it still gets
// its answer through.
func TestHTTPClientEarlyAnswer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		br := bufio.NewReader(conn)
		for {
			line, err := br.ReadString('\n')
			if err != nil || line == "\r\n" {
				break
			}
		}
		io.WriteString(conn, "HTTP/1.1 413 Request Entity Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		conn.(*net.TCPConn).CloseWrite()
		time.Sleep(100 * time.Millisecond)
		conn.(*net.TCPConn).SetLinger(0)
		conn.Close() // reset: the client's body write fails
	}()
	c := testHTTPClient(t, "http://"+l.Addr().String(), nil, nil)
	resp, err := c.do(context.Background(), time.Now().Add(5*time.Second), "POST", "/", nil, bytes.Repeat([]byte("x"), 8<<20))
	if err != nil {
		t.Fatalf("want the 413 answer, got %v", err)
	}
	if resp.status != 413 || !resp.close {
		t.Fatalf("status %d close %v", resp.status, resp.close)
	}
}

func TestHTTPClientProxy(t *testing.T) {
	pki := newTestPKI(t, "proxy")
	srv := startTLS(t, pki)
	var connects atomic.Int32
	proxy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	go func() {
		for {
			conn, err := proxy.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				req, err := http.ReadRequest(bufio.NewReader(conn))
				if err != nil || req.Method != "CONNECT" || req.Header.Get("Proxy-Authorization") != "Basic dTpw" {
					io.WriteString(conn, "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
					return
				}
				connects.Add(1)
				up, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "https://"))
				if err != nil {
					return
				}
				defer up.Close()
				io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n")
				go io.Copy(up, conn)
				io.Copy(conn, up)
			}()
		}
	}()
	cfg, _ := tlspin.PinnedCA(pki.caPEM())
	// The proxy is not used for loopback addresses, so reach the server by a name that resolves
	// nowhere: only the proxy can get there.
	env := map[string]string{"https_proxy": "http://u:p@" + proxy.Addr().String()}
	cfg.ServerName = "localhost"
	u := strings.Replace(srv.URL, "127.0.0.1", "vigil.invalid", 1)
	c := testHTTPClient(t, u, cfg, func(k string) string { return env[k] })
	if c.proxy == nil {
		t.Fatal("proxy not configured")
	}
	c.target = strings.TrimPrefix(srv.URL, "https://") // what the proxy dials
	resp, err := c.do(context.Background(), time.Now().Add(5*time.Second), "POST", "/nowhere", []header{{wire.ProtocolHeader, "1"}}, nil)
	if err != nil || resp.status != 404 || connects.Load() != 1 {
		t.Fatalf("through the proxy: %v, connects %d", err, connects.Load())
	}
	env["https_proxy"] = "http://wrong@" + proxy.Addr().String()
	c = testHTTPClient(t, u, cfg, func(k string) string { return env[k] })
	_, err = c.do(context.Background(), time.Now().Add(5*time.Second), "POST", "/", nil, nil)
	if se := classify(err); se.class != wire.OutageConnect {
		t.Fatalf("proxy refusal: class %s (%v), want connect", se.class, err)
	}
}

func TestNoProxy(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	tests := []struct {
		scheme, host string
		env          map[string]string
		want         string
	}{
		{"https", "vigil.example.com", map[string]string{"HTTPS_PROXY": "proxy:3128"}, "http://proxy:3128"},
		{"https", "vigil.example.com", map[string]string{"https_proxy": "http://proxy:3128"}, "http://proxy:3128"},
		{"https", "vigil.example.com", map[string]string{"HTTP_PROXY": "http://proxy:3128"}, ""},
		{"http", "vigil.example.com", map[string]string{"HTTP_PROXY": "http://proxy:3128"}, "http://proxy:3128"},
		{"https", "localhost", map[string]string{"HTTPS_PROXY": "proxy:3128"}, ""},
		{"https", "127.0.0.1", map[string]string{"HTTPS_PROXY": "proxy:3128"}, ""},
		{"https", "vigil.example.com", map[string]string{"HTTPS_PROXY": "proxy:3128", "NO_PROXY": "*"}, ""},
		{"https", "vigil.example.com", map[string]string{"HTTPS_PROXY": "proxy:3128", "no_proxy": "other.org, .example.com"}, ""},
		{"https", "vigil.example.com", map[string]string{"HTTPS_PROXY": "proxy:3128", "NO_PROXY": "example.com"}, ""},
		{"https", "vigil.example.com", map[string]string{"HTTPS_PROXY": "proxy:3128", "NO_PROXY": "ample.com"}, "http://proxy:3128"},
		{"https", "10.1.2.3", map[string]string{"HTTPS_PROXY": "proxy:3128", "NO_PROXY": "10.0.0.0/8"}, ""},
		{"https", "10.1.2.3", map[string]string{"HTTPS_PROXY": "proxy:3128", "NO_PROXY": "10.1.2.3:8443"}, ""},
		{"https", "vigil.example.com", map[string]string{"HTTPS_PROXY": "socks5://proxy:1080"}, ""},
	}
	for _, tt := range tests {
		got := ""
		if u := proxyFor(tt.scheme, tt.host, env(tt.env)); u != nil {
			got = u.String()
		}
		if got != tt.want {
			t.Errorf("proxyFor(%s, %s, %v) = %q, want %q", tt.scheme, tt.host, tt.env, got, tt.want)
		}
	}
}

// FuzzReadResponse feeds arbitrary bytes to the response parser. Whatever it accepts must be
// within the limits, must be accepted alike by net/http's parser (status and body), and must
// parse to the same result again once re-encoded canonically.
func FuzzReadResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n0\r\nT: x\r\n\r\n",
		"HTTP/1.0 503 Service Unavailable\r\nRetry-After: 30\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n{}",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}",
		"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nbody to the end",
		"HTTP/1.1 204 No Content\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		resp, err := readResponse(bufio.NewReaderSize(bytes.NewReader(data), maxResponseLineBytes), "POST", nil, false)
		if err != nil {
			return
		}
		if resp.status < 200 || resp.status > 999 || len(resp.body) > maxResponseBodyBytes {
			t.Fatalf("accepted status %d with %d body bytes", resp.status, len(resp.body))
		}
		// net/http must agree on what the server said.
		hr, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(data)), &http.Request{Method: "POST"})
		if err == nil && hr.StatusCode >= 200 { // net/http returns 1xx answers; we skip them
			b, berr := io.ReadAll(hr.Body)
			if berr == nil && (hr.StatusCode != resp.status || !bytes.Equal(b, resp.body)) {
				t.Fatalf("net/http reads status %d body %q; we read %d %q", hr.StatusCode, b, resp.status, resp.body)
			}
		}
		// Canonical re-encoding parses to the same response.
		var buf bytes.Buffer
		fmt.Fprintf(&buf, "HTTP/1.1 %s\r\n", resp.statusLine)
		if resp.retryAfter != "" {
			fmt.Fprintf(&buf, "Retry-After: %s\r\n", resp.retryAfter)
		}
		if resp.close {
			buf.WriteString("Connection: close\r\n")
		}
		fmt.Fprintf(&buf, "Content-Length: %d\r\n\r\n", len(resp.body))
		buf.Write(resp.body)
		again, err := readResponse(bufio.NewReaderSize(&buf, maxResponseLineBytes), "POST", nil, false)
		if err != nil {
			t.Fatalf("re-encoded response refused: %v", err)
		}
		if again.status != resp.status || again.statusLine != resp.statusLine || again.retryAfter != resp.retryAfter ||
			again.close != resp.close || !bytes.Equal(again.body, resp.body) {
			if !(resp.status == 204 || resp.status == 304) || len(resp.body) != 0 {
				t.Fatalf("re-encoded response differs: %+v vs %+v", again, resp)
			}
		}
	})
}
