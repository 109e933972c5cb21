package server

import (
	"context"
	"fmt"
	"time"
)

// Host statuses: how recently a host reported, measured against its report interval and its
// group's grace. HostStatus derives them; the API's host JSON, vigilctl and the dashboard show
// them, and the alert engine's late and silent stages use the same times (LivenessTimes).
const (
	// StatusUp: the host's last report is at most two intervals old.
	StatusUp = "up"
	// StatusLate: the host missed a report (its last is more than two intervals old) but is not
	// past interval + grace yet; a silence alert is pending, no email. A host that enrolled and
	// has not reported yet is late until its deadline.
	StatusLate = "late"
	// StatusSilent: no report for more than interval + grace; a silence rule fires.
	StatusSilent = "silent"
	// StatusUnreachable: the host enrolled but not one report reached the server by its deadline
	// (enrollment + interval + grace): usually the agent cannot reach or trust the server (a
	// firewall, a proxy, TLS), or it was stopped right after enrolling.
	StatusUnreachable = "unreachable"
)

// DefaultGrace is the grace of a group that sets none, for a host reporting every interval.
func DefaultGrace(interval time.Duration) time.Duration { return 3 * interval }

// LivenessTimes returns when a host whose last report was at base is late (it missed a whole
// report: base + 2 intervals, at most the deadline) and its deadline (base + interval + grace,
// then it is silent). A zero grace is DefaultGrace.
func LivenessTimes(base time.Time, interval, grace time.Duration) (lateAt, deadline time.Time) {
	if grace <= 0 {
		grace = DefaultGrace(interval)
	}
	deadline = base.Add(interval + grace)
	lateAt = base.Add(2 * interval)
	if lateAt.After(deadline) {
		lateAt = deadline
	}
	return lateAt, deadline
}

// HostStatus returns h's status at now: StatusUp, StatusLate, StatusSilent or StatusUnreachable.
// grace is its group's (zero: DefaultGrace); defaultInterval stands in for a host that never said
// its interval. A revoked host's status says the same (its reports are refused, so it goes
// silent); Host.Revoked says it is revoked.
func HostStatus(h Host, grace, defaultInterval time.Duration, now time.Time) string {
	interval := defaultInterval
	if h.IntervalSeconds > 0 {
		interval = time.Duration(h.IntervalSeconds) * time.Second
	}
	if h.LastSeen.IsZero() {
		if _, deadline := LivenessTimes(h.EnrolledAt, interval, grace); now.After(deadline) {
			return StatusUnreachable
		}
		return StatusLate
	}
	lateAt, deadline := LivenessTimes(h.LastSeen, interval, grace)
	switch {
	case now.After(deadline):
		return StatusSilent
	case now.After(lateAt):
		return StatusLate
	}
	return StatusUp
}

// withStatus fills the Status of hosts from their groups' grace.
func (s *Service) withStatus(ctx context.Context, hs []Host) error {
	if len(hs) == 0 {
		return nil
	}
	grace := map[string]time.Duration{}
	if len(hs) == 1 {
		g, err := s.store.GetGroup(ctx, hs[0].Group)
		if err != nil {
			return fmt.Errorf("group of host %s: %w", hs[0].ID, s.storeErr("get_group", err))
		}
		grace[g.Name] = g.Grace
	} else {
		gs, err := s.store.ListGroups(ctx)
		if err != nil {
			return fmt.Errorf("list groups: %w", s.storeErr("list_groups", err))
		}
		for _, g := range gs {
			grace[g.Name] = g.Grace
		}
	}
	now := s.cfg.Now()
	for i := range hs {
		hs[i].Status = HostStatus(hs[i], grace[hs[i].Group], s.cfg.DefaultInterval, now)
	}
	return nil
}
