package check

import (
	"context"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/vigilhq/vigil/wire"
)

// BenchmarkTenChecks runs one round of the ten health checks of the footprint driver's -checks
// agent (e2e/benchcmd/footprint/checks.go: two tcp, an http and an https GET, a tls handshake, a
// PEM file, two files, a unix socket, a dns lookup) against local targets in this process, as the
// agent's Runner runs them (prepared once, each run under its own timeout). cpu-ns/op is the
// process's CPU a round, the targets' side included (the HTTPS and TLS servers' handshakes, the
// DNS server). Profile it with -cpuprofile to see where a round's CPU goes.
func BenchmarkTenChecks(b *testing.B) {
	dir := b.TempDir()
	tcp := acceptor(b, "tcp", "127.0.0.1:0")
	unixPath := filepath.Join(dir, "check.sock")
	acceptor(b, "unix", unixPath)
	ca := newTestCA(b)
	cert := ca.issue(b, "site", time.Now().Add(90*24*time.Hour))
	https := tlsServer(b, cert)
	https.Config.ErrorLog = log.New(io.Discard, "", 0) // the tcp-server check's connections end before a handshake
	httpSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "healthy") }))
	b.Cleanup(httpSrv.Close)
	certFile := filepath.Join(dir, "cert.pem")
	backup := filepath.Join(dir, "backup.dump")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(backup, make([]byte, 4096), 0o600); err != nil {
		b.Fatal(err)
	}
	httpsAddr := https.Listener.Addr().String()
	specs := []Spec{
		{Name: "tcp-local", Kind: wire.CheckTCP, Target: tcp},
		{Name: "tcp-server", Kind: wire.CheckTCP, Target: httpsAddr},
		{Name: "http-local", Kind: wire.CheckHTTP, Target: httpSrv.URL + "/health", BodyContains: "healthy"},
		{Name: "https-server", Kind: wire.CheckHTTP, Target: https.URL + "/readyz", CA: ca.pemPath},
		{Name: "tls-server", Kind: wire.CheckTLS, Target: httpsAddr, CA: ca.pemPath, MinDays: 1},
		{Name: "tls-file", Kind: wire.CheckTLS, Target: certFile, MinDays: 1},
		{Name: "backup", Kind: wire.CheckFile, Target: backup, MaxAge: 2 * time.Minute, MinSize: 1024},
		{Name: "server-log", Kind: wire.CheckFile, Target: certFile},
		{Name: "socket", Kind: wire.CheckUnix, Target: unixPath},
		{Name: "dns", Kind: wire.CheckDNS, Target: "db.footprint.test", Server: dnsServer(b)},
	}
	probes := make([]probe, len(specs))
	for i, s := range specs {
		s = s.WithDefaults()
		p, err := newProbe(s, time.Now)
		if err != nil {
			b.Fatal(err)
		}
		probes[i], specs[i] = p, s
	}
	ctx := context.Background()
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	for b.Loop() {
		for i, p := range probes {
			rctx, cancel := context.WithTimeout(ctx, specs[i].Timeout)
			o := p(rctx)
			cancel()
			if !o.ok {
				b.Fatalf("%s: %s", specs[i].Name, o.msg)
			}
		}
	}
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/op")
}

// acceptor listens on network/addr and closes every connection it accepts.
func acceptor(tb testing.TB, network, addr string) string {
	l, err := net.Listen(network, addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return l.Addr().String()
}

func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
