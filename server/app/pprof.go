package app

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"
)

// ErrPprofNotLoopback is returned by Start when Config.PprofListen is not a loopback address.
var ErrPprofNotLoopback = errors.New("the pprof address must be on loopback (127.0.0.1, ::1 or localhost)")

// checkLoopback accepts host:port whose host is a loopback IP address or "localhost". An empty
// host (":6060") listens on every interface and is refused, as is any other name: what a name
// resolves to can change.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--pprof %q: %w", addr, err)
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("--pprof %q: %w", addr, ErrPprofNotLoopback)
}

// listenPprof serves net/http/pprof's handlers on Config.PprofListen, on a mux of its own (the
// package also registers them on http.DefaultServeMux, which no listener of the server serves).
func (s *Server) listenPprof() error {
	ln, err := net.Listen("tcp", s.cfg.PprofListen)
	if err != nil {
		return fmt.Errorf("listen for pprof on %s: %w", s.cfg.PprofListen, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index) // also the named profiles: heap, goroutine, …
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	s.pprofHTTP = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       10 * time.Second,
		// No WriteTimeout: a CPU profile or trace streams for its ?seconds= (pprof refuses a
		// duration past a WriteTimeout). Loopback only; Shutdown closes what is still open.
		IdleTimeout:    120 * time.Second,
		MaxHeaderBytes: 16 << 10,
		ErrorLog:       slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.PprofURL = "http://" + ln.Addr().String() + "/debug/pprof/"
	go func() {
		if err := s.pprofHTTP.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("The pprof listener stopped.", "err", err)
		}
	}()
	s.log.Info("Serving Go profiles without authentication on loopback.", "url", s.PprofURL)
	return nil
}
