package web

import (
	"errors"
	"net/http"
	"time"

	"github.com/vigilhq/vigil/release"
	"github.com/vigilhq/vigil/server"
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
	if err := h.cfg.Service.Authorize(p, server.RoleViewer); err != nil {
		h.fail(w, r, p, err)
		return
	}
	data := map[string]any{}
	if h.cfg.Releases == nil {
		h.render(w, r, http.StatusOK, "releases", page{Title: "Releases", Principal: p, Data: data})
		return
	}
	data["Repository"] = true
	if !h.cfg.Releases.Initialized() {
		// Without loading the online keys: their first load is a slow key derivation.
		h.render(w, r, http.StatusOK, "releases", page{Title: "Releases", Principal: p, Data: data})
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
	h.render(w, r, http.StatusOK, "releases", page{Title: "Releases", Principal: p, Data: data})
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
