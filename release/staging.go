package release

import (
	"context"
	"fmt"
	"time"
)

// reserveStaging reserves length bytes of the staging quota for an upload
// stored as name and returns the function that gives them back. A staged
// blob of the same name (a repeated upload) does not count: it is replaced.
// Uploads in progress through this Repo count; several server processes
// sharing one repository each see only their own.
func (r *Repo) reserveStaging(ctx context.Context, name string, length int64) (func(), error) {
	r.stagingMu.Lock()
	defer r.stagingMu.Unlock()
	staged, err := r.cfg.Storage.StagedBlobs(ctx)
	if err != nil {
		return nil, fmt.Errorf("staging quota: %w", err)
	}
	var used int64
	for _, b := range staged {
		if b.Name != name {
			used += b.Size
		}
	}
	if used+r.inFlight+length > r.cfg.MaxStagedBytes {
		return nil, fmt.Errorf("%w: %d bytes of builds are uploaded but not published and %d more are being uploaded; this one (%d bytes) would pass the limit of %d (vigil-server --release-max-staged-bytes). "+
			"Publish or discard pending releases (`vigilctl release ls`, `vigilctl release discard VERSION`); uploads that no draft names are removed after %s",
			ErrStagingFull, used, r.inFlight, length, r.cfg.MaxStagedBytes, r.cfg.StagedTTL)
	}
	r.inFlight += length
	var once bool
	return func() {
		r.stagingMu.Lock()
		defer r.stagingMu.Unlock()
		if !once {
			once = true
			r.inFlight -= length
		}
	}, nil
}

// StagingUsage reports the bytes of staged (uploaded, unpublished) builds and the limit.
func (r *Repo) StagingUsage(ctx context.Context) (used, limit int64, err error) {
	staged, err := r.cfg.Storage.StagedBlobs(ctx)
	if err != nil {
		return 0, 0, err
	}
	for _, b := range staged {
		used += b.Size
	}
	return used, r.cfg.MaxStagedBytes, nil
}

// draftBlobs returns the storage names of every build a pending draft names.
func (r *Repo) draftBlobs(ctx context.Context) (map[string]bool, error) {
	names, err := r.draftNames(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, n := range names {
		md, _, err := r.readDraft(ctx, n)
		if err != nil {
			return nil, err
		}
		for p, tf := range md.Signed.Targets {
			out[ConsistentTargetPath(p, sha256Of(tf))] = true
		}
	}
	return out, nil
}

// PruneStaging deletes staged builds that no pending draft names and that were
// uploaded more than Config.StagedTTL before now, and returns how many. The
// server's leader calls it periodically.
func (r *Repo) PruneStaging(ctx context.Context, now time.Time) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	staged, err := r.cfg.Storage.StagedBlobs(ctx)
	if err != nil || len(staged) == 0 {
		return 0, err
	}
	named, err := r.draftBlobs(ctx)
	if err != nil {
		return 0, fmt.Errorf("prune staging: %w", err)
	}
	cutoff := now.Add(-r.cfg.StagedTTL)
	n := 0
	for _, b := range staged {
		if named[b.Name] || !b.Modified.Before(cutoff) {
			continue
		}
		if err := r.cfg.Storage.DeleteStagedBlob(ctx, b.Name); err != nil {
			return n, fmt.Errorf("prune staging: %w", err)
		}
		n++
	}
	return n, nil
}
