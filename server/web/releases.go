package web

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/vigilhq/vigil/release"
	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/httpapi"
)

// Expiry warnings on the releases page: how long before a role's metadata expires the page warns.
// Root and targets are signed offline, so people need time to renew them (vigilctl repo
// rotate-root, vigilctl repo renew); snapshot and timestamp are re-signed by the server well
// before they expire, so one this close to expiry means the re-signing is failing.
var expiryWarning = map[string]time.Duration{
	"root":      30 * 24 * time.Hour,
	"targets":   14 * 24 * time.Hour,
	"snapshot":  24 * time.Hour,
	"timestamp": 6 * time.Hour,
}

// roleRow is a top-level role with its expiry judged: "ok", "warn" (within expiryWarning) or
// "expired".
type roleRow struct {
	release.RoleStatus
	Health string
	Advice string
}

// draftRow is a pending draft with its signing status.
type draftRow struct {
	release.DraftInfo
	Valid, Threshold, Missing int
	Ready                     bool
}

// releases renders the release repository: role expiries, channels, versions and drafts with
// their signatures. Reads need the viewer role, as the API's.
func (h *Handler) releases(w http.ResponseWriter, r *http.Request, p server.Principal) {
	h.releasesPage(w, r, p, http.StatusOK, "", "")
}

// releasesPage renders the releases page with the outcome of an action (notice or errMsg).
func (h *Handler) releasesPage(w http.ResponseWriter, r *http.Request, p server.Principal, status int, notice, errMsg string) {
	if err := h.cfg.Service.Authorize(p, server.RoleViewer); err != nil {
		h.fail(w, r, p, err)
		return
	}
	data := map[string]any{}
	if h.cfg.Releases == nil {
		h.render(w, r, status, "releases", page{Title: "Releases", Principal: p, Data: data, Notice: notice, Error: errMsg})
		return
	}
	data["Repository"] = true
	if !h.cfg.Releases.Initialized() {
		// Without loading the online keys: their first load is a slow key derivation.
		h.render(w, r, status, "releases", page{Title: "Releases", Principal: p, Data: data, Notice: notice, Error: errMsg})
		return
	}
	repo, err := h.cfg.Releases.Repo()
	if err != nil {
		h.fail(w, r, p, err)
		return
	}
	st, err := repo.Status(r.Context())
	if err != nil {
		h.fail(w, r, p, err)
		return
	}
	data["Initialized"] = st.Initialized
	now := h.cfg.Now()
	var roles []roleRow
	warnings := 0
	for _, rs := range st.Roles {
		row := roleRow{RoleStatus: rs, Health: "ok"}
		switch {
		case rs.Version == 0:
			row.Health = "none"
		case !rs.Expires.After(now):
			row.Health, row.Advice = "expired", renewAdvice(rs)
		case rs.Expires.Sub(now) < expiryWarning[rs.Role]:
			row.Health, row.Advice = "warn", renewAdvice(rs)
		}
		if row.Health == "warn" || row.Health == "expired" {
			warnings++
		}
		roles = append(roles, row)
	}
	data["Roles"], data["Warnings"] = roles, warnings
	rels, err := repo.Releases(r.Context())
	if err != nil && !errors.Is(err, release.ErrNotInitialized) {
		h.fail(w, r, p, err)
		return
	}
	data["Releases"] = rels
	// Channels: the highest published version on each (Releases is highest first).
	type channel struct{ Name, Version string }
	var channels []channel
	seen := map[string]bool{}
	for _, rel := range rels {
		if !rel.Published {
			continue
		}
		for _, c := range rel.Channels {
			if !seen[c] {
				seen[c] = true
				channels = append(channels, channel{c, rel.Version})
			}
		}
	}
	data["Channels"] = channels
	var drafts []draftRow
	for _, name := range st.Drafts {
		di, err := repo.DraftStatus(r.Context(), name)
		if errors.Is(err, release.ErrNoDraft) {
			continue // published or discarded meanwhile
		}
		if err != nil {
			h.fail(w, r, p, err)
			return
		}
		sr := di.Signatures
		drafts = append(drafts, draftRow{DraftInfo: di, Valid: len(sr.Valid), Threshold: sr.Threshold, Missing: len(sr.Missing),
			Ready: sr.Err() == nil && !di.Stale})
	}
	data["Drafts"] = drafts
	h.render(w, r, status, "releases", page{Title: "Releases", Principal: p, Data: data, Notice: notice, Error: errMsg})
}

func renewAdvice(rs release.RoleStatus) string {
	switch rs.Role {
	case "root":
		return "rotate root with fresh expiry offline (vigilctl repo rotate-root)"
	case "targets":
		return "renew: vigilctl repo renew, then sign and publish the draft"
	}
	return "the server re-signs this role: check its log for re-signing errors"
}

// releaseOps are the online release changes, shared with the API routes (role check, audit).
func (h *Handler) releaseOps() httpapi.ReleaseOps {
	return httpapi.ReleaseOps{Service: h.cfg.Service, Logger: h.cfg.Logger}
}

// releaseAction checks the role (release; admin may too) before anything else, so a role that
// may not act learns nothing from the form, then loads the repository and runs do. do's refusal
// (a release sentinel: threshold not met, stale draft, no such draft, …) is shown in the page.
func (h *Handler) releaseAction(w http.ResponseWriter, r *http.Request, p server.Principal, do func(repo *release.Repo) (string, error)) {
	if err := h.cfg.Service.Authorize(p, server.RoleRelease); err != nil {
		h.fail(w, r, p, err)
		return
	}
	if h.cfg.Releases == nil {
		h.fail(w, r, p, server.ErrNotFound)
		return
	}
	repo, err := h.cfg.Releases.Repo()
	if err != nil {
		h.fail(w, r, p, err)
		return
	}
	notice, err := do(repo)
	if err != nil {
		status, ok := releaseRefusal(err)
		if !ok {
			h.fail(w, r, p, err)
			return
		}
		h.releasesPage(w, r, p, status, "", err.Error())
		return
	}
	h.releasesPage(w, r, p, http.StatusOK, notice, "")
}

// releaseRefusals are the release errors that are the user's to fix, with their status.
var releaseRefusals = []struct {
	err    error
	status int
}{
	{release.ErrThresholdNotMet, http.StatusConflict},
	{release.ErrUnknownKey, http.StatusConflict},
	{release.ErrBadSignature, http.StatusConflict},
	{release.ErrExpired, http.StatusConflict},
	{release.ErrStaleDraft, http.StatusConflict},
	{release.ErrDraftPending, http.StatusConflict},
	{release.ErrNoChange, http.StatusConflict},
	{release.ErrBlobMissing, http.StatusConflict},
	{release.ErrBlobMismatch, http.StatusConflict},
	{release.ErrConflict, http.StatusConflict},
	{release.ErrNotInitialized, http.StatusConflict},
	{release.ErrInvalidName, http.StatusBadRequest},
	{release.ErrUnknownRelease, http.StatusNotFound},
	{release.ErrNoDraft, http.StatusNotFound},
	{server.ErrInvalid, http.StatusBadRequest},
}

func releaseRefusal(err error) (int, bool) {
	for _, e := range releaseRefusals {
		if errors.Is(err, e.err) {
			return e.status, true
		}
	}
	return 0, false
}

// publishDraft publishes a draft whose signatures reach the threshold, as POST
// /api/v1/drafts/{name}/publish and vigilctl release publish do.
func (h *Handler) publishDraft(w http.ResponseWriter, r *http.Request, p server.Principal) {
	name := mux.Vars(r)["name"]
	h.releaseAction(w, r, p, func(repo *release.Repo) (string, error) {
		if _, err := h.releaseOps().Publish(r.Context(), p, repo, name); err != nil {
			return "", err
		}
		return "Draft " + name + " published: the server signed a new snapshot and timestamp, and updaters see it at their next check.", nil
	})
}

// discardDraft deletes a draft, as DELETE /api/v1/drafts/{name} and vigilctl release discard
// do. The form must carry confirm=yes (a checkbox the page asks to tick).
func (h *Handler) discardDraft(w http.ResponseWriter, r *http.Request, p server.Principal) {
	name := mux.Vars(r)["name"]
	h.releaseAction(w, r, p, func(repo *release.Repo) (string, error) {
		if r.PostForm.Get("confirm") != "yes" {
			return "", fmt.Errorf("%w: tick the box to confirm discarding draft %s (its signatures are lost)", server.ErrInvalid, name)
		}
		if err := h.releaseOps().Discard(r.Context(), p, repo, name); err != nil {
			return "", err
		}
		return "Draft " + name + " discarded, with the staged builds only it named.", nil
	})
}

// promoteRelease drafts moving a channel to a published version, as POST
// /api/v1/releases/{version}/promote and vigilctl release promote do. The draft then needs the
// release engineers' offline signatures (vigilctl release sign) before it can be published.
func (h *Handler) promoteRelease(w http.ResponseWriter, r *http.Request, p server.Principal) {
	version, channel := strings.TrimSpace(r.PostForm.Get("version")), strings.TrimSpace(r.PostForm.Get("channel"))
	h.releaseAction(w, r, p, func(repo *release.Repo) (string, error) {
		if version == "" || channel == "" {
			return "", fmt.Errorf("%w: give the version and the channel to move to it", server.ErrInvalid)
		}
		di, err := h.releaseOps().Promote(r.Context(), p, repo, version, channel)
		if err != nil {
			return "", err
		}
		return "Drafted moving channel " + channel + " to " + version + " (draft " + di.Name + "). Sign it offline with vigilctl release sign " +
			di.Name + ", then publish it here or with vigilctl release publish " + di.Name + ".", nil
	})
}

// renewTargets drafts the published targets again with a fresh expiry, as POST
// /api/v1/repo/renew and vigilctl repo renew do; it needs offline signatures too.
func (h *Handler) renewTargets(w http.ResponseWriter, r *http.Request, p server.Principal) {
	h.releaseAction(w, r, p, func(repo *release.Repo) (string, error) {
		di, err := h.releaseOps().Renew(r.Context(), p, repo)
		if err != nil {
			return "", err
		}
		return "Drafted a renewal of targets (draft " + di.Name + ", expires " + fmtTime(di.Expires) + "). Sign it offline with vigilctl release sign " +
			di.Name + ", then publish it.", nil
	})
}
