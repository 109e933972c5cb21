package server

import (
	"context"
	"fmt"
	"time"

	"github.com/vigilhq/vigil/wire"
)

// ChartRange is a span of host charts and the data that draws it.
type ChartRange struct {
	// Name is how the dashboard and its query parameter spell it: 6h, 24h, 7d, 30d.
	Name string
	Span time.Duration
	// Res is the resolution read: 0 (raw reports), RollupMinute or RollupHour.
	Res time.Duration
}

// ChartRanges are the spans the host page offers, shortest first; the first is the default.
// Each reads the finest data that keeps a chart to at most a few thousand points: 6 h of raw
// reports (2,160 at the default 10 s interval), 24 h of minutes (1,440), 7 and 30 days of hours
// (168 and 720).
var ChartRanges = []ChartRange{
	{Name: "6h", Span: 6 * time.Hour, Res: 0},
	{Name: "24h", Span: 24 * time.Hour, Res: RollupMinute},
	{Name: "7d", Span: 7 * 24 * time.Hour, Res: RollupHour},
	{Name: "30d", Span: 30 * 24 * time.Hour, Res: RollupHour},
}

// ChartRangeByName returns the range called name; "" is the default (6h). Anything else is
// ErrInvalid, naming the choices.
func ChartRangeByName(name string) (ChartRange, error) {
	if name == "" {
		return ChartRanges[0], nil
	}
	for _, r := range ChartRanges {
		if r.Name == name {
			return r, nil
		}
	}
	return ChartRange{}, fmt.Errorf("chart range %q: %w (use 6h, 24h, 7d or 30d)", name, ErrInvalid)
}

// maxChartPoints caps the points one chart query reads: 6 h of reports at a 1 s interval.
const maxChartPoints = 6 * 3600

// HostMetrics returns a host's chart points over the range r, ending now, and the resolution it
// read: r.Res, or a coarser one when the finer data is kept for less than the range (raw reports
// beyond --retention, minutes beyond --rollup-1m-retention).
func (s *Service) HostMetrics(ctx context.Context, p Principal, hostID string, r ChartRange) ([]MetricPoint, time.Duration, error) {
	if err := require(p, RoleViewer); err != nil {
		return nil, 0, err
	}
	res := r.Res
	if res == 0 && r.Span > s.cfg.Retention {
		res = RollupMinute
	}
	if res == RollupMinute && r.Span > s.cfg.RollupMinuteRetention {
		res = RollupHour
	}
	to := s.cfg.Now()
	ps, err := s.store.ListMetrics(ctx, hostID, res, to.Add(-r.Span), to, maxChartPoints)
	if err != nil {
		return nil, 0, s.storeErr("list_metrics", err)
	}
	return ps, res, nil
}

// ListOutages returns the connectivity outages a host reported that end at or after since.
func (s *Service) ListOutages(ctx context.Context, p Principal, hostID string, since time.Time) ([]wire.Outage, error) {
	if err := require(p, RoleViewer); err != nil {
		return nil, err
	}
	os, err := s.store.ListOutages(ctx, hostID, since)
	if err != nil {
		return nil, s.storeErr("list_outages", err)
	}
	return os, nil
}

// runRollupRetention deletes rollup buckets older than their retention.
func (s *Service) runRollupRetention(ctx context.Context) {
	for _, rr := range []struct {
		res  time.Duration
		keep time.Duration
	}{{RollupMinute, s.cfg.RollupMinuteRetention}, {RollupHour, s.cfg.RollupHourRetention}} {
		cutoff := s.cfg.Now().Add(-rr.keep)
		n, err := s.store.DeleteRollupsBefore(ctx, rr.res, cutoff)
		if err != nil {
			if ctx.Err() == nil {
				s.log.ErrorContext(ctx, "Rollup retention failed.", "resolution", rr.res.String(), logKeyErr, s.storeErr("delete_rollups", err))
			}
			return
		}
		if n > 0 {
			s.log.InfoContext(ctx, "Retention deleted old rollups.", "resolution", rr.res.String(), "buckets", n, "before", cutoff.Format(time.RFC3339))
		}
	}
}
