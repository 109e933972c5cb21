package server

import (
	"fmt"
	"time"
)

// Resolutions of stored metric rollups. Every report stored by CommitReports is also added, in
// the same transaction, to its host's one-minute and one-hour buckets (bucket start = report time
// truncated to the resolution, in UTC), so charts over days read a few hundred rows instead of
// tens of thousands of reports, and a late report (spooled through an outage) lands in its own
// bucket exactly once.
const (
	RollupMinute = time.Minute
	RollupHour   = time.Hour
)

// Rollups lists the stored rollup resolutions, finest first.
var Rollups = []time.Duration{RollupMinute, RollupHour}

// Default retention of the rollups: one-minute buckets 7 days, one-hour buckets 90 days.
const (
	DefaultRollupMinuteRetention = 7 * 24 * time.Hour
	DefaultRollupHourRetention   = 90 * 24 * time.Hour
)

// CheckResolution returns nil for 0 (raw samples) and the rollup resolutions, else ErrInvalid.
func CheckResolution(res time.Duration) error {
	if res == 0 || res == RollupMinute || res == RollupHour {
		return nil
	}
	return fmt.Errorf("resolution %s: %w (use 0, 1m or 1h)", res, ErrInvalid)
}

// Figure is one chart figure over a point: the mean and the largest value of the reports that
// carried it. Valid is false when none did (a NULL figure: no CPU section, no mounts, …).
type Figure struct {
	Avg, Max float64
	Valid    bool
}

// MetricPoint is a point of a host chart: one raw report (Reports 1, Avg = Max) or one rollup
// bucket starting at Time.
type MetricPoint struct {
	Time    time.Time
	Reports int
	// CPU is busy percent, Memory used percent, Load the 1-minute load average, Disk the fullest
	// mount's used percent, NetRx and NetTx bytes per second summed over interfaces.
	CPU, Memory, Load, Disk, NetRx, NetTx Figure
}
