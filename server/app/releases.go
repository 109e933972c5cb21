package app

import (
	"context"
	"fmt"

	"github.com/vigilhq/vigil/server/pgstore"
	"github.com/vigilhq/vigil/server/tufrepo"
)

// openReleases opens the release repository. With PostgreSQL, replicas elect the one that
// re-signs the online metadata with an advisory lock of its own ("tuf"); with SQLite there is
// one process, always leader.
func (s *Server) openReleases() (*tufrepo.Repository, error) {
	cfg := tufrepo.Config{
		DataDir: s.cfg.DataDir, RepoDir: s.cfg.RepoDir, PassphraseFile: s.cfg.OnlineKeyPassphraseFile,
		Passphrase: s.cfg.OnlineKeyPassphrase, Logger: s.log,
		MaxBlobBytes: s.cfg.ReleaseMaxBlobBytes, MaxStagedBytes: s.cfg.ReleaseMaxStagedBytes,
	}
	if ps, ok := s.store.(*pgstore.Store); ok {
		cfg.Leader = ps.NewLeader("tuf")
	}
	r, err := tufrepo.Open(cfg)
	if err != nil {
		return nil, fmt.Errorf("open release repository: %w", err)
	}
	s.log.Info("Serving the release repository under /tuf/.", "dir", r.Dir())
	return r, nil
}

// startReleases runs the release repository's re-signing loop until ctx ends.
func (s *Server) startReleases(ctx context.Context, r *tufrepo.Repository) {
	s.tufDone = make(chan struct{})
	go func() {
		defer close(s.tufDone)
		r.Run(ctx)
	}()
}

// stopReleases waits (bounded by ctx) for the re-signing loop, already cancelled, to finish
// a re-signing in progress and give its leadership up, so nothing writes the repository or
// holds the "tuf" lock once Shutdown returns.
func (s *Server) stopReleases(ctx context.Context) {
	if s.tufDone == nil {
		return
	}
	select {
	case <-s.tufDone:
	case <-ctx.Done():
		s.log.Warn("The release repository's re-signing did not stop in time.")
	}
}
