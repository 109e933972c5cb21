package app

import (
	"fmt"

	"github.com/vigilhq/vigil/server/pgstore"
	"github.com/vigilhq/vigil/server/tufrepo"
)

// openReleases opens the release repository. With PostgreSQL, replicas elect the one that
// re-signs the online metadata with an advisory lock of its own ("tuf"); with SQLite there is
// one process, always leader.
func (s *Server) openReleases() (*tufrepo.Repository, error) {
	cfg := tufrepo.Config{
		DataDir: s.cfg.DataDir, RepoDir: s.cfg.RepoDir, PassphraseFile: s.cfg.OnlineKeyPassphraseFile, Logger: s.log,
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
