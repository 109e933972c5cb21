package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// checkInterval is how often each of the ten checks of vigil-agent-checks runs: the agent's report
// interval, harsher than the checks' default of 30 s (-checks-also runs them at another interval).
const checkInterval = 10 * time.Second

// checkTargets are the local services the ten health checks of -checks probe, run by this process
// (the TCP, HTTP, unix socket and DNS targets) or already running (vigil-server's HTTPS port, its CA
// file, its log).
type checkTargets struct {
	tcp, http, dns string // 127.0.0.1:port
	unix, file     string // paths
	closers        []io.Closer
}

func (t *checkTargets) Close() {
	for _, c := range t.closers {
		c.Close()
	}
}

// startCheckTargets starts the local targets in dir.
func startCheckTargets(ctx context.Context, dir string) (*checkTargets, error) {
	t := &checkTargets{unix: filepath.Join(dir, "check.sock"), file: filepath.Join(dir, "backup.dump")}
	fail := func(err error) (*checkTargets, error) { t.Close(); return nil, err }

	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	t.closers, t.tcp = append(t.closers, tcp), tcp.Addr().String()
	go acceptAndClose(tcp)

	unix, err := net.Listen("unix", t.unix)
	if err != nil {
		return fail(err)
	}
	t.closers = append(t.closers, unix)
	go acceptAndClose(unix)

	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	hs := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, `{"status":"ok"}`)
	})}
	t.closers, t.http = append(t.closers, hs), hl.Addr().String()
	go hs.Serve(hl)

	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	t.closers, t.dns = append(t.closers, pc), pc.LocalAddr().String()
	go serveDNS(pc)

	if err := os.WriteFile(t.file, make([]byte, 4096), 0o644); err != nil {
		return fail(err)
	}
	go func() { // a "backup" written every minute
		tick := time.NewTicker(time.Minute)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-tick.C:
				os.Chtimes(t.file, now, now)
			}
		}
	}()
	return t, nil
}

func acceptAndClose(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}

// serveDNS answers every A question with 127.0.0.1 and every other question with no records: enough
// for the agent's dns check (Go's resolver asks A and AAAA over UDP).
func serveDNS(pc net.PacketConn) {
	buf := make([]byte, 512)
	for {
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		resp, err := dnsAnswer(buf[:n])
		if err != nil {
			continue
		}
		pc.WriteTo(resp, addr)
	}
}

func dnsAnswer(q []byte) ([]byte, error) {
	if len(q) < 12 || binary.BigEndian.Uint16(q[4:]) != 1 {
		return nil, errors.New("not one question")
	}
	i := 12
	for i < len(q) && q[i] != 0 { // the question's name, as labels
		i += int(q[i]) + 1
	}
	if i+5 > len(q) {
		return nil, errors.New("short question")
	}
	end := i + 5 // root label, type, class
	qtype := binary.BigEndian.Uint16(q[i+1:])
	resp := append([]byte(nil), q[:end]...)
	resp[2] = 0x84 | q[2]&0x01 // response, authoritative, RD copied
	resp[3] = 0x00             // no error
	binary.BigEndian.PutUint16(resp[8:], 0)
	binary.BigEndian.PutUint16(resp[10:], 0)
	if qtype != 1 {
		binary.BigEndian.PutUint16(resp[6:], 0)
		return resp, nil
	}
	binary.BigEndian.PutUint16(resp[6:], 1)
	// Name (pointer to the question's), type A, class IN, TTL 60, 4 bytes of 127.0.0.1.
	return append(resp, 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1), nil
}

// checksConfig returns the agent.yaml of the -checks agent: ten health checks of every kind
// against local targets, and anomaly hints (which score every metric they cover: CPU, memory, load).
func (h *harness) checksConfig(t *checkTargets, every time.Duration) string {
	srvAddr := strings.TrimPrefix(h.url, "https://")
	var b strings.Builder
	b.WriteString("checks:\n")
	add := func(name, kind, target string, extra ...string) {
		fmt.Fprintf(&b, "  - name: %s\n    kind: %s\n    target: %q\n    interval: %s\n", name, kind, target, every)
		for _, e := range extra {
			fmt.Fprintf(&b, "    %s\n", e)
		}
	}
	add("tcp-local", "tcp", t.tcp)
	add("tcp-server", "tcp", srvAddr)
	add("http-local", "http", "http://"+t.http+"/health", `body_contains: '"status":"ok"'`)
	add("https-server", "http", h.url+"/readyz", fmt.Sprintf("ca: %q", h.ca))
	add("tls-server", "tls", srvAddr, fmt.Sprintf("ca: %q", h.ca), "min_days: 1")
	add("tls-file", "tls", h.ca, "min_days: 1")
	add("backup", "file", t.file, "max_age: 2m", "min_size: 1024")
	add("server-log", "file", filepath.Join(h.dir, "server.log"))
	add("socket", "unix", t.unix)
	add("dns", "dns", "db.footprint.test", fmt.Sprintf("server: %q", t.dns))
	b.WriteString("anomaly:\n  enabled: true\n")
	return b.String()
}
