package app

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/vigilhq/vigil/release"
	"github.com/vigilhq/vigil/server/pgstore"
	"github.com/vigilhq/vigil/server/rollout"
	"github.com/vigilhq/vigil/server/tufrepo"
)

// RolloutTuning adjusts the rollout driver. Zero values take rollout's defaults: a step every
// 5s. Tests make it small.
type RolloutTuning struct {
	Interval time.Duration
	// Now replaces the clock of the rollout driver and of the Service, whose times (update
	// events received, reports seen) the driver judges (tests). Defaults to time.Now.
	Now func() time.Time
}

// prepareRollouts builds the rollout manager when the store keeps rollouts (both real ones do).
func (s *Server) prepareRollouts(releases *tufrepo.Repository) error {
	st, ok := s.store.(rollout.Store)
	if !ok {
		s.log.Warn("The store does not keep rollouts; a pin applies to the whole group at once.")
		return nil
	}
	publicURL := s.cfg.PublicURL
	var channels rollout.ChannelResolver
	if releases != nil {
		channels = channelResolver{releases}
	}
	m, err := rollout.NewManager(rollout.Config{
		Store: st, Fleet: s.store, Channels: channels, Logger: s.log, Now: s.cfg.Rollout.Now,
		Interval: s.cfg.Rollout.Interval, Recipients: s.cfg.AlertEmails, PublicURL: publicURL,
		OnQueued: func() {
			if sd := s.alerting.sender; sd != nil {
				sd.Wake()
			}
		},
	})
	if err != nil {
		return fmt.Errorf("rollouts: %w", err)
	}
	s.rollouts = m
	return nil
}

// startRollouts runs the rollout driver. It steps rollouts only while this replica leads
// alerting, so one replica drives them; with SQLite and alerting off, the one process does.
func (s *Server) startRollouts(ctx context.Context) {
	if s.rollouts == nil {
		return
	}
	_, pg := s.store.(*pgstore.Store)
	leading := func() bool {
		if s.alerting.runner == nil {
			return !pg
		}
		return s.alerting.runner.Leading()
	}
	s.rolloutsDone = make(chan struct{})
	go func() {
		defer close(s.rolloutsDone)
		s.rollouts.Run(ctx, leading)
	}()
}

// stopRollouts waits for the driver, already cancelled, to finish a step in progress.
func (s *Server) stopRollouts(ctx context.Context) {
	if s.rolloutsDone == nil {
		return
	}
	select {
	case <-s.rolloutsDone:
	case <-ctx.Done():
		s.log.Warn("The rollout driver did not stop in time.")
	}
}

// Rollouts returns the rollout manager (tests); nil when the store keeps none.
func (s *Server) Rollouts() *rollout.Manager { return s.rollouts }

// channelResolver finds a channel's vigil-agent version in the published repository.
type channelResolver struct{ r *tufrepo.Repository }

func (c channelResolver) ChannelVersion(ctx context.Context, channel string) (string, error) {
	repo, err := c.r.Repo()
	if err != nil {
		return "", err
	}
	rels, err := repo.Releases(ctx)
	if err != nil {
		return "", err
	}
	for _, rel := range rels {
		if !rel.Published || !slices.Contains(rel.Channels, channel) {
			continue
		}
		for _, a := range rel.Artifacts {
			if a.Binary == release.BinaryAgent {
				return rel.Version, nil
			}
		}
	}
	return "", rollout.ErrNoChannel
}
