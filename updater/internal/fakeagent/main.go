// Command fakeagent stands in for vigil-agent in the updater's tests. It speaks the notify
// protocol and prints --version; its behaviour is chosen at build time:
//
//	go build -ldflags "-X main.version=1.2.3 -X main.mode=good" ./updater/internal/fakeagent
//
// Modes: good (READY, ACK, WATCHDOG), noack (READY and WATCHDOG only), exit (exits at once with
// status 3), hang (never writes READY). Every start appends "<version> <pid>" to
// <state-dir>/starts.log, and a good agent keeps <state-dir>/running.<pid> while it runs.
//
// Given --server, --enroll-token and (optionally) --ca, as vigil-updater passes them, and no
// <state-dir>/credential yet, it enrolls with the server first and stores the credential the way
// vigil-agent does, so an updater can supervise it against a real vigil-server (benchmarks). It
// never sends reports: its ACK is unconditional.
package main

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"
)

var (
	version = "dev"
	mode    = "good"
)

func main() {
	stateDir := "."
	var server, ca, token string
	for i, a := range os.Args[1:] {
		next := ""
		if i+2 < len(os.Args) {
			next = os.Args[i+2]
		}
		switch a {
		case "--version", "-version":
			fmt.Printf("vigil-agent %s\n", version)
			return
		case "--state-dir":
			stateDir = next
		case "--server":
			server = next
		case "--ca":
			ca = next
		case "--enroll-token":
			token = next
		}
	}
	f, err := os.OpenFile(filepath.Join(stateDir, "starts.log"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err == nil {
		fmt.Fprintf(f, "%s %d\n", version, os.Getpid())
		f.Close()
	}
	if server != "" && token != "" && mode != "exit" {
		if err := enroll(server, ca, token, stateDir); err != nil {
			fmt.Fprintln(os.Stderr, "fakeagent: enroll:", err)
			os.Exit(4)
		}
	}
	if mode == "exit" {
		os.Exit(3)
	}
	var notify *os.File
	if fd, err := strconv.Atoi(os.Getenv("VIGIL_NOTIFY_FD")); err == nil {
		notify = os.NewFile(uintptr(fd), "notify")
	}
	send := func(s string) {
		if notify != nil {
			notify.WriteString(s)
		}
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	if mode == "hang" {
		<-sig
		return
	}
	running := filepath.Join(stateDir, "running."+strconv.Itoa(os.Getpid()))
	os.WriteFile(running, []byte(version+"\n"), 0o644)
	defer os.Remove(running)
	send("READY\n")
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	ackAt := time.After(100 * time.Millisecond)
	for {
		select {
		case <-sig:
			return
		case <-ackAt:
			if mode != "noack" {
				send("ACK\n")
			}
		case <-tick.C:
			send("WATCHDOG\n")
		}
	}
}

// enroll gets a host credential unless <stateDir>/credential exists, retrying for about a minute
// (many fake agents may enroll at once).
func enroll(server, caFile, token, stateDir string) error {
	credPath := filepath.Join(stateDir, "credential")
	if _, err := os.Stat(credPath); err == nil {
		return nil
	}
	tc := &tls.Config{}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return err
		}
		tc.RootCAs = x509.NewCertPool()
		tc.RootCAs.AppendCertsFromPEM(pem)
	}
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
	abs, _ := filepath.Abs(stateDir)
	sum := sha256.Sum256([]byte(abs))
	id := hex.EncodeToString(sum[:16])
	body, _ := json.Marshal(map[string]string{"enrollment_token": token, "hostname": "fake-" + id[:12],
		"machine_id": id, "os": "linux", "arch": runtime.GOARCH, "agent_version": version})
	var err error
	for attempt := 0; attempt < 30; attempt++ {
		if attempt > 0 {
			time.Sleep(time.Duration(500+attempt*100) * time.Millisecond)
		}
		var resp *http.Response
		resp, err = client.Post(server+"/api/v1/enroll", "application/json", bytes.NewReader(body))
		if err != nil {
			continue
		}
		var out struct {
			Credential string `json:"credential"`
		}
		derr := json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated || derr != nil || out.Credential == "" {
			err = fmt.Errorf("status %d (%v)", resp.StatusCode, derr)
			if resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests {
				return err
			}
			continue
		}
		tmp := credPath + ".tmp"
		if err := os.WriteFile(tmp, []byte(out.Credential+"\n"), 0o600); err != nil {
			return err
		}
		return os.Rename(tmp, credPath)
	}
	return err
}
