package main

import (
	"testing"
	"time"
)

// The init/refresh/download flow is tested end to end on the built binary, with a signed test
// repository, in package updater (TestTUFClientCLI).

func TestFakeNow(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		in   string
		want time.Time
	}{
		{"", now},
		{"+1d", now.Add(24 * time.Hour)},
		{"+2.5d", now.Add(60 * time.Hour)},
		{"-2h", now.Add(-2 * time.Hour)},
		{"+30m", now.Add(30 * time.Minute)},
		{"+90", now.Add(90 * time.Second)},
		{"+1y", now.Add(365 * 24 * time.Hour)},
		{"+1d x2", now.Add(24 * time.Hour)},
		{"@2030-01-02 03:04:05", time.Date(2030, 1, 2, 3, 4, 5, 0, time.Local)},
		{"2030-01-02 03:04:05", time.Date(2030, 1, 2, 3, 4, 5, 0, time.Local)},
	} {
		got, err := fakeNow(tt.in, now)
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("fakeNow(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"+xd", "@yesterday", "soon"} {
		if _, err := fakeNow(bad, now); err == nil {
			t.Errorf("fakeNow(%q) accepted", bad)
		}
	}
}
