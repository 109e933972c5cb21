package agent

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilhq/vigil/tlspin"
	"github.com/vigilhq/vigil/wire"
)

// countingServer is an httptest TLS server that counts the TCP connections it accepted.
type countingServer struct {
	*httptest.Server
	conns atomic.Int32
}

func newCountingServer(t *testing.T, h http.Handler) *countingServer {
	cs := &countingServer{Server: httptest.NewUnstartedServer(h)}
	cs.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			cs.conns.Add(1)
		}
	}
	cs.StartTLS()
	t.Cleanup(cs.Close)
	return cs
}

// pinnedTo returns a TLS configuration trusting only srv's certificate.
func pinnedTo(t *testing.T, srv *httptest.Server) *tls.Config {
	t.Helper()
	pool := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

func testTransport(t *testing.T, rawURL string, cfg *tls.Config, timeout time.Duration) *transport {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	tr := newTransport(transportConfig{server: u, tls: cfg, timeout: timeout,
		proxy: func(*http.Request) (*url.URL, error) { return nil, nil }})
	t.Cleanup(tr.closeIdle)
	return tr
}

func post(t *testing.T, tr *transport, path, body string) *response {
	t.Helper()
	resp, err := tr.post(context.Background(), path, http.Header{"Content-Type": {"text/plain"}}, []byte(body), true)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	return resp
}

func TestTransportKeepAliveAndClose(t *testing.T) {
	var mu sync.Mutex
	var got []string
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.Path+" "+string(b)+" "+r.Host+" "+strconv.FormatInt(r.ContentLength, 10)+" "+r.Proto)
		mu.Unlock()
		if r.URL.Path == "/close" {
			w.Header().Set("Connection", "close")
		}
		io.WriteString(w, "echo "+string(b))
	}))
	tr := testTransport(t, srv.URL, pinnedTo(t, srv.Server), 5*time.Second)
	for i := range 3 {
		if r := post(t, tr, "/a", strconv.Itoa(i)); r.status != 200 || string(r.body) != "echo "+strconv.Itoa(i) {
			t.Fatalf("response %d %q", r.status, r.body)
		}
	}
	if n := srv.conns.Load(); n != 1 {
		t.Fatalf("%d connections for 3 requests, want 1 (keep-alive)", n)
	}
	post(t, tr, "/close", "x")
	post(t, tr, "/a", "after close")
	if n := srv.conns.Load(); n != 2 {
		t.Fatalf("%d connections, want 2 (a new one after Connection: close)", n)
	}
	if want := "POST /a 0 " + strings.TrimPrefix(srv.URL, "https://") + " 1 HTTP/1.1"; got[0] != want {
		t.Fatalf("server saw %q, want %q", got[0], want)
	}
}

// staleServer answers the first request on each connection, then closes the connection when
// the next request arrives on it, as a server does whose idle timeout fires just as the client
// reuses the connection.
func staleServer(t *testing.T) (addr string, conns *atomic.Int32) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	conns = new(atomic.Int32)
	pki := sharedPKI()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer c.Close()
				tc := tls.Server(c, pki.serverConfig())
				br := bufio.NewReader(tc)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				io.Copy(io.Discard, req.Body)
				io.WriteString(tc, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				http.ReadRequest(br) // the reuse: hang up without answering
			}()
		}
	}()
	return l.Addr().String(), conns
}

// TestTransportStaleConnection: a report that fails on a reused connection is sent once more on
// a new one; an enrollment (not idempotent) is not.
func TestTransportStaleConnection(t *testing.T) {
	pinned, _ := tlspin.PinnedCA(sharedPKI().caPEM())
	pinned.ServerName = "vigil.test"
	addr, conns := staleServer(t)
	tr := testTransport(t, "https://"+addr, pinned, 5*time.Second)
	for i := range 2 {
		if r := post(t, tr, "/", strconv.Itoa(i)); string(r.body) != "ok" {
			t.Fatalf("body %q", r.body)
		}
	}
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d connections, want 2 (the retry on a new one)", n)
	}
	if _, err := tr.post(context.Background(), "/", nil, nil, false); err == nil {
		t.Fatal("a non-retryable request on a stale connection succeeded")
	}
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d connections, want still 2 (no retry)", n)
	}
}

// TestTransportEarlyAnswer: a server that refuses a large body without reading it still gets
// its answer through.
func TestTransportEarlyAnswer(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusRequestEntityTooLarge)
	}))
	tr := testTransport(t, srv.URL, pinnedTo(t, srv.Server), 5*time.Second)
	resp, err := tr.post(context.Background(), "/", nil, bytes.Repeat([]byte("x"), 8<<20), false)
	if err != nil {
		t.Fatalf("want the 413 answer, got %v", err)
	}
	if resp.status != 413 {
		t.Fatalf("status %d", resp.status)
	}
}

func TestTransportLimitsAndRedirects(t *testing.T) {
	var followed atomic.Bool
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big-chunked":
			for range maxResponseBodyBytes/4096 + 1 {
				w.Write(make([]byte, 4096))
				w.(http.Flusher).Flush()
			}
		case "/big-length":
			w.Header().Set("Content-Length", strconv.Itoa(maxResponseBodyBytes+1))
			w.Write(make([]byte, maxResponseBodyBytes+1))
		case "/exact":
			w.Write(make([]byte, maxResponseBodyBytes))
		case "/redirect":
			http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
		case "/elsewhere":
			followed.Store(true)
		}
	}))
	tr := testTransport(t, srv.URL, pinnedTo(t, srv.Server), 5*time.Second)
	for _, path := range []string{"/big-chunked", "/big-length"} {
		if _, err := tr.post(context.Background(), path, nil, nil, false); !errors.Is(err, errResponseTooLarge) {
			t.Errorf("%s: err = %v, want errResponseTooLarge", path, err)
		}
	}
	if r := post(t, tr, "/exact", ""); len(r.body) != maxResponseBodyBytes {
		t.Errorf("body at the limit: %d bytes", len(r.body))
	}
	if r := post(t, tr, "/redirect", ""); r.status != http.StatusTemporaryRedirect || followed.Load() {
		t.Errorf("redirect: status %d, followed %v; want the 307 itself", r.status, followed.Load())
	}
}

// connectProxy is an HTTP proxy that tunnels every CONNECT to upstream and records the targets
// it was asked for. It refuses requests without the Proxy-Authorization auth (when set).
type connectProxy struct {
	*httptest.Server
	mu      sync.Mutex
	targets []string
}

func newConnectProxy(t *testing.T, upstream, auth string) *connectProxy {
	p := &connectProxy{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect || (auth != "" && r.Header.Get("Proxy-Authorization") != auth) {
			http.Error(w, "no", http.StatusProxyAuthRequired)
			return
		}
		p.mu.Lock()
		p.targets = append(p.targets, r.Host)
		p.mu.Unlock()
		up, err := net.Dial("tcp", upstream)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer up.Close()
		w.WriteHeader(http.StatusOK)
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		go func() {
			io.Copy(up, brw)
			up.Close()
		}()
		io.Copy(conn, up)
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *connectProxy) seen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.targets...)
}

// TestTransportProxy: HTTPS through a CONNECT proxy with credentials, the pinned CA still
// verifying the server at the end of the tunnel.
func TestTransportProxy(t *testing.T) {
	pki := sharedPKI()
	srv := startTLS(t, pki)
	proxy := newConnectProxy(t, srv.Listener.Addr().String(), "Basic dTpw") // u:p
	pinned, _ := tlspin.PinnedCAFingerprint(pki.fingerprint(false))
	proxyURL, _ := url.Parse(strings.Replace(proxy.URL, "http://", "http://u:p@", 1))
	u, _ := url.Parse("https://vigil.test:8443") // resolves nowhere: only the proxy gets there
	c := newClient(u.String(), pinned, 5*time.Second, "test", nil)
	c.http = newTransport(transportConfig{server: u, tls: pinned, timeout: 5 * time.Second, proxy: http.ProxyURL(proxyURL)})
	defer c.Close()
	if _, err := c.enroll(context.Background(), &wire.EnrollRequest{EnrollmentToken: "enroll-token-1", Hostname: "h"}); err != nil {
		t.Fatalf("enroll through the proxy: %v", err)
	}
	if got := proxy.seen(); len(got) != 1 || got[0] != "vigil.test:8443" {
		t.Fatalf("proxy saw CONNECT %v", got)
	}
}

// TestProxyFromEnvironment runs the agent's client in a child process (net/http reads the proxy
// variables once per process) with HTTPS_PROXY and NO_PROXY set, and checks which requests went
// through the proxy.
func TestProxyFromEnvironment(t *testing.T) {
	if os.Getenv("VIGIL_TEST_PROXY_CHILD") != "" {
		proxyChild(t)
		return
	}
	if testing.Short() {
		t.Skip("runs child processes")
	}
	pki := sharedPKI()
	srv := startTLS(t, pki)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pki.caPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		noProxy   string
		viaProxy  bool
		lowerCase bool
	}{
		{noProxy: "", viaProxy: true},
		{noProxy: "", viaProxy: true, lowerCase: true},
		{noProxy: "vigil.test", viaProxy: false},
		{noProxy: "example.org, .test", viaProxy: false},
		{noProxy: "*", viaProxy: false},
		{noProxy: "other.test,example.org", viaProxy: true},
	}
	for _, tt := range tests {
		t.Run("NO_PROXY="+tt.noProxy, func(t *testing.T) {
			proxy := newConnectProxy(t, srv.Listener.Addr().String(), "")
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestProxyFromEnvironment$", "-test.count=1")
			proxyVar, noProxyVar := "HTTPS_PROXY", "NO_PROXY"
			if tt.lowerCase {
				proxyVar, noProxyVar = "https_proxy", "no_proxy"
			}
			cmd.Env = append(envWithoutProxy(), "VIGIL_TEST_PROXY_CHILD=1",
				"VIGIL_TEST_CA="+caFile, "VIGIL_TEST_SERVER_ADDR="+srv.Listener.Addr().String(),
				proxyVar+"="+proxy.URL, noProxyVar+"="+tt.noProxy)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("child: %v\n%s", err, out)
			}
			if got := len(proxy.seen()) > 0; got != tt.viaProxy {
				t.Fatalf("through the proxy: %v, want %v (CONNECTs %v)", got, tt.viaProxy, proxy.seen())
			}
		})
	}
}

// envWithoutProxy is this process's environment without the proxy variables.
func envWithoutProxy() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch strings.ToUpper(name) {
		case "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "REQUEST_METHOD":
			continue
		}
		env = append(env, kv)
	}
	return env
}

// proxyChild enrolls with https://vigil.test:8443, which the dialer maps to the test server for
// a direct connection; through the proxy, the proxy dials it.
func proxyChild(t *testing.T) {
	pem, err := os.ReadFile(os.Getenv("VIGIL_TEST_CA"))
	if err != nil {
		t.Fatal(err)
	}
	pinned, err := tlspin.PinnedCA(pem)
	if err != nil {
		t.Fatal(err)
	}
	real := os.Getenv("VIGIL_TEST_SERVER_ADDR")
	var d net.Dialer
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr == "vigil.test:8443" {
			addr = real
		}
		return d.DialContext(ctx, network, addr)
	}
	c := newClient("https://vigil.test:8443", pinned, 5*time.Second, "test", dial)
	defer c.Close()
	if _, err := c.enroll(context.Background(), &wire.EnrollRequest{EnrollmentToken: "enroll-token-1", Hostname: "h"}); err != nil {
		t.Fatal(err)
	}
}
