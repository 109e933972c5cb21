package server

import (
	"testing"
	"time"
)

func TestHostStatus(t *testing.T) {
	t0 := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	seen := Host{EnrolledAt: t0.Add(-time.Hour), LastSeen: t0, IntervalSeconds: 10}
	never := Host{EnrolledAt: t0, IntervalSeconds: 10}
	tests := []struct {
		name  string
		h     Host
		grace time.Duration
		at    time.Duration // after t0
		want  string
	}{
		{"just reported", seen, 0, 5 * time.Second, StatusUp},
		{"two intervals is still up", seen, 0, 20 * time.Second, StatusUp},
		{"missed a report", seen, 0, 21 * time.Second, StatusLate},
		{"at the default deadline (interval + 3 intervals)", seen, 0, 40 * time.Second, StatusLate},
		{"past the default deadline", seen, 0, 41 * time.Second, StatusSilent},
		{"group grace", seen, 5 * time.Minute, 5*time.Minute + 10*time.Second, StatusLate},
		{"past group grace", seen, 5 * time.Minute, 5*time.Minute + 11*time.Second, StatusSilent},
		{"short grace: late is capped at the deadline", seen, 2 * time.Second, 13 * time.Second, StatusSilent},
		{"enrolled, no report yet", never, 0, 10 * time.Second, StatusLate},
		{"enrolled, no report by the deadline", never, 0, 41 * time.Second, StatusUnreachable},
		{"no interval said: the default (15s here)", Host{LastSeen: t0}, 0, 25 * time.Second, StatusUp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := HostStatus(tt.h, tt.grace, 15*time.Second, t0.Add(tt.at)); got != tt.want {
				t.Errorf("HostStatus at +%s = %s, want %s", tt.at, got, tt.want)
			}
		})
	}
}

func TestPlural(t *testing.T) {
	for n, want := range map[int]string{0: "0 hosts", 1: "1 host", 2: "2 hosts"} {
		if got := Plural(n, "host", "hosts"); got != want {
			t.Errorf("Plural(%d) = %q, want %q", n, got, want)
		}
	}
}
