// Command fakeagent stands in for vigil-agent in the updater's tests. It speaks the notify
// protocol and prints --version; its behaviour is chosen at build time:
//
//	go build -ldflags "-X main.version=1.2.3 -X main.mode=good" ./updater/internal/fakeagent
//
// Modes: good (READY, ACK, WATCHDOG), noack (READY and WATCHDOG only), exit (exits at once with
// status 3), hang (never writes READY). Every start appends "<version> <pid>" to
// <state-dir>/starts.log, and a good agent keeps <state-dir>/running.<pid> while it runs.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
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
	for i, a := range os.Args[1:] {
		switch a {
		case "--version", "-version":
			fmt.Printf("vigil-agent %s\n", version)
			return
		case "--state-dir":
			if i+2 < len(os.Args) {
				stateDir = os.Args[i+2]
			}
		}
	}
	f, err := os.OpenFile(filepath.Join(stateDir, "starts.log"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err == nil {
		fmt.Fprintf(f, "%s %d\n", version, os.Getpid())
		f.Close()
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
