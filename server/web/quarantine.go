package web

import (
	"net/http"
	"slices"
	"time"

	"github.com/gorilla/mux"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/wire"
)

// quarantinedVersion is a version a host's updater set aside, as its update events tell.
type quarantinedVersion struct {
	Binary, Version, Reason string
	Time                    time.Time
}

// quarantined lists the versions the host's updater quarantined since the quarantine was last
// cleared (cleared: zero when never), newest first, from its update events (newest first, as
// the store lists them). The server keeps no copy of the updater's quarantine list, so this is
// read from what the updater reported: a failed verify, install or trial of a version, or a
// rollback from it, each of which quarantines the version (a trial cut short by a restart is
// rolled back and quarantined only the second time, so it may show one interruption early).
func quarantined(events []server.UpdateEvent, cleared time.Time) []quarantinedVersion {
	var out []quarantinedVersion
	seen := map[[2]string]bool{}
	for _, e := range events {
		if !e.ReceivedAt.After(cleared) {
			continue
		}
		var v string
		switch {
		case e.Phase == wire.PhaseRollback && e.Result == wire.ResultOK:
			v = e.FromVersion
		case e.Result == wire.ResultFailed && (e.Phase == wire.PhaseVerify || e.Phase == wire.PhaseTrial || e.Phase == wire.PhaseSelf):
			v = e.ToVersion
		}
		binary := e.Binary
		if binary == "" {
			binary = "vigil-agent"
		}
		if v == "" || seen[[2]string{binary, v}] {
			continue
		}
		seen[[2]string{binary, v}] = true
		out = append(out, quarantinedVersion{Binary: binary, Version: v, Reason: e.Reason, Time: e.Time})
	}
	slices.SortStableFunc(out, func(a, b quarantinedVersion) int { return b.Time.Compare(a.Time) })
	return out
}

// lastQuarantineClear is when the host's quarantine was last cleared (zero if never), from
// the audit log that POST /api/v1/hosts/{id}/clear-quarantine and this page's form write.
func (h *Handler) lastQuarantineClear(r *http.Request, p server.Principal, hostID string) (time.Time, error) {
	es, err := h.cfg.Service.SearchAudit(r.Context(), p, server.AuditFilter{Action: "host.clear_quarantine", Target: "host/" + hostID, Limit: 1})
	if err != nil || len(es) == 0 {
		return time.Time{}, err
	}
	return es[0].Time, nil
}

// clearQuarantine lets the host's updater try again the versions it quarantined, as POST
// /api/v1/hosts/{id}/clear-quarantine and vigilctl hosts clear-quarantine do: the same
// Service.ClearQuarantine, so the same role check (operator) and audit entry.
func (h *Handler) clearQuarantine(w http.ResponseWriter, r *http.Request, p server.Principal) {
	id := mux.Vars(r)["id"]
	gen, err := h.cfg.Service.ClearQuarantine(r.Context(), p, id)
	if err != nil {
		h.fail(w, r, p, err)
		return
	}
	h.hostPage(w, r, p, "Quarantine cleared (generation "+itoa(int(gen))+"): the host's updater forgets its quarantined versions at its next check and may try them again.")
}
