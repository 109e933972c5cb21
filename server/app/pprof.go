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
	// "localhost" is resolved by Listen (/etc/hosts, then DNS): what it gave must be loopback.
	if ta, ok := ln.Addr().(*net.TCPAddr); !ok || !ta.IP.IsLoopback() {
		_ = ln.Close()
		return fmt.Errorf("--pprof %q listened on %s: %w", s.cfg.PprofListen, ln.Addr(), ErrPprofNotLoopback)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index) // also the named profiles: heap, goroutine, …
	// No /debug/pprof/cmdline: the command line can hold --database-url with its password.
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	s.pprofHTTP = &http.Server{
		Handler:           loopbackHostOnly(mux),
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

// loopbackHostOnly refuses a request whose Host is not a loopback IP literal or "localhost" (with
// any port): a web page that rebinds its own name to 127.0.0.1 (DNS rebinding) then cannot read
// the profiles from a browser on this machine.
func loopbackHostOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
		ip := net.ParseIP(host)
		if !strings.EqualFold(host, "localhost") && (ip == nil || !ip.IsLoopback()) {
			http.Error(w, "pprof answers only requests to a loopback host name", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}
