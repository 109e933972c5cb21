package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/vigilhq/vigil/release"
	"github.com/vigilhq/vigil/server"
)

// ReleaseOps are the release repository changes that run online, on the server, with no
// offline key: publishing a draft that already carries its signatures, discarding a draft,
// drafting a channel move (promote) and drafting a renewal of targets. Signing a draft needs
// the release engineers' offline keys and stays in vigilctl. The API routes and the dashboard
// both call these, so each checks the role (release; admin may too) and writes the same audit
// entry. ReleaseOps is safe for concurrent use.
type ReleaseOps struct {
	// Service checks the role and records the audit entry.
	Service *server.Service
	// Logger logs a change made but not audited. Defaults to slog.Default().
	Logger *slog.Logger
}

func (o ReleaseOps) authorize(p server.Principal) error {
	return o.Service.Authorize(p, server.RoleRelease)
}

// audit records a change that succeeded. A failure to record is logged, not returned: the
// change is already made, and reporting it as failed would make the caller retry it.
func (o ReleaseOps) audit(ctx context.Context, p server.Principal, action, target, detail string) {
	if err := o.Service.RecordAudit(ctx, p, action, target, detail); err != nil {
		log := o.Logger
		if log == nil {
			log = slog.Default()
		}
		log.ErrorContext(ctx, "Release repository change made but not audited.", "action", action, "target", target, "err", err)
	}
}

// Publish publishes the draft name once its signatures reach the targets threshold (the
// server then signs snapshot and timestamp with its online keys) and returns the repository's
// status. Audited as draft.publish.
func (o ReleaseOps) Publish(ctx context.Context, p server.Principal, repo *release.Repo, name string) (release.Status, error) {
	if err := o.authorize(p); err != nil {
		return release.Status{}, err
	}
	if err := repo.Publish(ctx, name); err != nil {
		return release.Status{}, err
	}
	// Audited as soon as the publish is done, before anything else can fail: a draft once
	// published is gone, so a retry could not audit it. The version comes from the status read
	// after it, so it is left out when that read fails.
	st, err := repo.Status(ctx)
	detail := ""
	if err == nil {
		for _, role := range st.Roles {
			if role.Role == metadata.TARGETS {
				detail = fmt.Sprintf("targets version %d", role.Version)
			}
		}
	}
	o.audit(ctx, p, "draft.publish", "draft/"+name, detail)
	if err != nil {
		return release.Status{}, fmt.Errorf("published %s, then reading the repository status: %w", name, err)
	}
	return st, nil
}

// Discard deletes the draft name (and the staged builds only it named). Audited as
// draft.discard.
func (o ReleaseOps) Discard(ctx context.Context, p server.Principal, repo *release.Repo, name string) error {
	if err := o.authorize(p); err != nil {
		return err
	}
	if err := repo.Discard(ctx, name); err != nil {
		return err
	}
	o.audit(ctx, p, "draft.discard", "draft/"+name, "")
	return nil
}

// Promote drafts moving channel to the published version; the draft needs the targets
// threshold of offline signatures before it can be published. Audited as release.promote.
func (o ReleaseOps) Promote(ctx context.Context, p server.Principal, repo *release.Repo, version, channel string) (release.DraftInfo, error) {
	if err := o.authorize(p); err != nil {
		return release.DraftInfo{}, err
	}
	di, err := repo.Promote(ctx, version, channel)
	if err != nil {
		return release.DraftInfo{}, err
	}
	o.audit(ctx, p, "release.promote", "release/"+version, fmt.Sprintf("channel %s targets version %d", channel, di.TargetsVersion))
	return di, nil
}

// Renew drafts the published targets again with a fresh expiry; it needs offline signatures
// before it can be published. Audited as repo.renew.
func (o ReleaseOps) Renew(ctx context.Context, p server.Principal, repo *release.Repo) (release.DraftInfo, error) {
	if err := o.authorize(p); err != nil {
		return release.DraftInfo{}, err
	}
	di, err := repo.Renew(ctx)
	if err != nil {
		return release.DraftInfo{}, err
	}
	o.audit(ctx, p, "repo.renew", "draft/"+di.Name, fmt.Sprintf("targets version %d expires %s", di.TargetsVersion, di.Expires.Format(time.RFC3339)))
	return di, nil
}
