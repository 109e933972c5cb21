package updater

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the supervisor's goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestSupervisorWaitsForFirstInstall: a supervisor whose agent is not installed yet logs one INFO
// line and waits, instead of failing to start it over and over with backoff.
func TestSupervisorWaitsForFirstInstall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs syncBuffer
		s, err := NewSupervisor(SupervisorConfig{
			Binary: filepath.Join(t.TempDir(), "current", "vigil-agent"),
			Args:   func() []string { return nil },
			Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		time.Sleep(10 * time.Minute) // far past every backoff
		synctest.Wait()
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		out := logs.String()
		if strings.Contains(out, "level=ERROR") || strings.Contains(out, "Restarting the agent") {
			t.Errorf("the supervisor tried to start an agent that is not installed:\n%s", out)
		}
		if n := strings.Count(out, "waiting for the first install"); n != 1 {
			t.Errorf("want one line saying the supervisor waits, got %d:\n%s", n, out)
		}
		if s.Current() != nil {
			t.Error("a child is running")
		}
	})
}
