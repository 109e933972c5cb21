package updater_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilhq/vigil/updater"
	"github.com/vigilhq/vigil/updater/internal/tuftest"
)

// Benchmarks of the update path; method and results are in docs/BENCHMARKS.md ("Updater").
//
//	go test -run '^$' -bench 'DownloadVerify|RefreshNoChange' -benchtime 5x ./updater/

// countingListener counts the bytes read from and written to its connections (TLS records
// included): what crosses the wire.
type countingListener struct {
	net.Listener
	in, out, conns atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.conns.Add(1)
	return &countingConn{Conn: c, l: l}, nil
}

type countingConn struct {
	net.Conn
	l *countingListener
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.l.in.Add(int64(n))
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.l.out.Add(int64(n))
	return n, err
}

// benchRepo serves a tuftest repository over loopback HTTPS (HTTP/2 when http2 is set, as
// vigil-server negotiates) through a counting listener.
func benchRepo(b *testing.B, http2 bool) (*tuftest.Repo, *httptest.Server, *countingListener) {
	b.Helper()
	repo := tuftest.New(b)
	srv := httptest.NewUnstartedServer(repo.Handler())
	cl := &countingListener{Listener: srv.Listener}
	srv.Listener = cl
	srv.EnableHTTP2 = http2
	srv.StartTLS()
	b.Cleanup(srv.Close)
	return repo, srv, cl
}

func benchClient(b *testing.B, repo *tuftest.Repo, srv *httptest.Server, state string) (*updater.TUFClient, *http.Client) {
	b.Helper()
	cfg := updater.HTTPConfig{TLS: srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()}
	cfg.TLS.MinVersion = tls.VersionTLS12
	client := updater.NewHTTPClient(cfg)
	c, err := updater.NewTUFClient(updater.TUFConfig{
		MetadataURL: srv.URL + "/tuf/metadata/",
		TargetsURL:  srv.URL + "/tuf/targets/",
		MetadataDir: filepath.Join(state, "tuf"),
		TrustedRoot: repo.RootJSON(1),
		HTTP:        cfg,
		Client:      client,
		Logger:      slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	return c, client
}

func median(d []float64) float64 {
	s := slices.Clone(d)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// BenchmarkDownloadVerify times Repository.Download (streaming HTTPS GET, length and SHA-256
// checks, write, fsync, rename) of a signed target over loopback against `sha256sum` of the same
// file, alternating which runs first. It reports medians: MiB/s of the download, of sha256sum and
// of an in-process crypto/sha256 read of the file, and the ratios download time / sha256sum time
// ("ratio") and download time / crypto/sha256 time.
func BenchmarkDownloadVerify(b *testing.B) {
	sha, err := exec.LookPath("sha256sum")
	if err != nil {
		b.Skip("no sha256sum")
	}
	for _, size := range []int{64 << 20, 256 << 20} {
		for _, proto := range []string{"h1", "h2"} {
			b.Run(fmt.Sprintf("%dMiB/%s", size>>20, proto), func(b *testing.B) {
				repo, srv, _ := benchRepo(b, proto == "h2")
				data := make([]byte, size)
				rand.Read(data)
				tp := updater.TargetPath(updater.BinaryAgent, "9.9.9", runtime.GOARCH)
				repo.AddTarget(tp, data, tuftest.Custom{Version: "9.9.9"})
				repo.Publish()
				data = nil
				state := b.TempDir()
				c, _ := benchClient(b, repo, srv, state)
				ctx := context.Background()
				r, err := c.Refresh(ctx)
				if err != nil {
					b.Fatal(err)
				}
				tf, err := r.Target(tp)
				if err != nil {
					b.Fatal(err)
				}
				blob := repo.TargetBlob(tp)
				dst := filepath.Join(state, "download")
				download := func() time.Duration {
					os.Remove(dst)
					start := time.Now()
					if err := r.Download(ctx, tf, dst, ""); err != nil {
						b.Fatal(err)
					}
					return time.Since(start)
				}
				sum := func() time.Duration {
					start := time.Now()
					if out, err := exec.Command(sha, blob).CombinedOutput(); err != nil {
						b.Fatalf("sha256sum: %v: %s", err, out)
					}
					return time.Since(start)
				}
				goSum := func() time.Duration {
					start := time.Now()
					f, err := os.Open(blob)
					if err != nil {
						b.Fatal(err)
					}
					h := sha256.New()
					_, err = io.Copy(h, f)
					f.Close()
					if err != nil {
						b.Fatal(err)
					}
					h.Sum(nil)
					return time.Since(start)
				}
				download() // warm the page cache and the connection
				sum()
				var dl, ss, gs, ratio, goRatio []float64
				b.SetBytes(int64(size))
				b.ResetTimer()
				for i := range b.N {
					var d, s time.Duration
					if i%2 == 0 {
						d = download()
						b.StopTimer()
						s = sum()
						b.StartTimer()
					} else {
						b.StopTimer()
						s = sum()
						b.StartTimer()
						d = download()
					}
					b.StopTimer()
					g := goSum()
					b.StartTimer()
					gs = append(gs, g.Seconds())
					goRatio = append(goRatio, d.Seconds()/g.Seconds())
					dl = append(dl, d.Seconds())
					ss = append(ss, s.Seconds())
					ratio = append(ratio, d.Seconds()/s.Seconds())
				}
				b.StopTimer()
				mib := float64(size) / (1 << 20)
				b.ReportMetric(mib/median(dl), "dl-MiB/s")
				b.ReportMetric(mib/median(ss), "sha256sum-MiB/s")
				b.ReportMetric(mib/median(gs), "go-sha256-MiB/s")
				b.ReportMetric(median(ratio), "ratio")
				b.ReportMetric(median(goRatio), "ratio-to-go-sha256")
				os.Remove(dst)
			})
		}
	}
}

// BenchmarkRefreshNoChange measures a TUF refresh when nothing changed since the last one: the
// requests, the body bytes the client read, and the bytes on the wire (both directions, TLS
// included) with a kept-alive connection ("warm") and with a new connection per refresh ("cold",
// what a 5-minute poll sees: idle connections close after 90 s).
func BenchmarkRefreshNoChange(b *testing.B) {
	for _, mode := range []string{"warm", "cold"} {
		b.Run(mode, func(b *testing.B) {
			repo, srv, cl := benchRepo(b, true)
			repo.AddTarget(updater.TargetPath(updater.BinaryAgent, "1.0.0", runtime.GOARCH), []byte("build"), tuftest.Custom{Version: "1.0.0"})
			repo.Publish()
			c, client := benchClient(b, repo, srv, b.TempDir())
			ctx := context.Background()
			if _, err := c.Refresh(ctx); err != nil {
				b.Fatal(err)
			}
			r0, by0 := c.Stats()
			in0, out0, conns0 := cl.in.Load(), cl.out.Load(), cl.conns.Load()
			b.ResetTimer()
			for range b.N {
				if mode == "cold" {
					client.CloseIdleConnections()
				}
				if _, err := c.Refresh(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			r1, by1 := c.Stats()
			n := float64(b.N)
			b.ReportMetric(float64(r1-r0)/n, "requests/op")
			b.ReportMetric(float64(by1-by0)/n, "body-B/op")
			b.ReportMetric(float64(cl.out.Load()-out0)/n, "wire-down-B/op")
			b.ReportMetric(float64(cl.in.Load()-in0)/n, "wire-up-B/op")
			b.ReportMetric(float64(cl.conns.Load()-conns0)/n, "conns/op")
			b.ReportMetric(float64(len(repo.ReadMetadata("timestamp.json"))), "timestamp-B")
		})
	}
}
