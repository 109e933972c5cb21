package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/release"
	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/tufrepo"
)

func parseDuration(field, s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%w: %s %q is not a duration like 90s or 24h", server.ErrInvalid, field, s)
	}
	return d, nil
}

func (a *API) listHosts(w http.ResponseWriter, r *http.Request, p server.Principal) {
	hs, err := a.svc.ListHosts(r.Context(), p, r.URL.Query().Get("group"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, orEmpty(mapSlice(hs, hostOut)))
}

func (a *API) getHost(w http.ResponseWriter, r *http.Request, p server.Principal) {
	h, err := a.svc.GetHost(r.Context(), p, mux.Vars(r)["id"])
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := hostOut(h)
	if !h.Dropped.Since.IsZero() { // zero when the server could not read the sum (logged)
		out.ReportsDropped = &api.ReportsDropped{Since: h.Dropped.Since, Count: h.Dropped.Count, Last: h.Dropped.Last}
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) revokeHost(w http.ResponseWriter, r *http.Request, p server.Principal) {
	if err := a.svc.RevokeHost(r.Context(), p, mux.Vars(r)["id"]); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) clearQuarantine(w http.ResponseWriter, r *http.Request, p server.Principal) {
	id := mux.Vars(r)["id"]
	g, err := a.svc.ClearQuarantine(r.Context(), p, id)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, api.ClearQuarantineResponse{HostID: id, QuarantineGeneration: g})
}

func (a *API) deleteHost(w http.ResponseWriter, r *http.Request, p server.Principal) {
	if err := a.svc.DeleteHost(r.Context(), p, mux.Vars(r)["id"]); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) moveHost(w http.ResponseWriter, r *http.Request, p server.Principal) {
	var req api.MoveHostRequest
	if err := decodeSmall(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := a.svc.MoveHost(r.Context(), p, mux.Vars(r)["id"], req.Group); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) hostUpdates(w http.ResponseWriter, r *http.Request, p server.Principal) {
	evs, err := a.svc.ListUpdateEvents(r.Context(), p, mux.Vars(r)["id"])
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, orEmpty(mapSlice(evs, updateEventOut)))
}

func (a *API) listGroups(w http.ResponseWriter, r *http.Request, p server.Principal) {
	gs, err := a.svc.ListGroups(r.Context(), p)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, mapSlice(gs, groupOut))
}

func (a *API) getGroup(w http.ResponseWriter, r *http.Request, p server.Principal) {
	g, err := a.svc.GetGroup(r.Context(), p, mux.Vars(r)["name"])
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, groupOut(g))
}

func (a *API) createGroup(w http.ResponseWriter, r *http.Request, p server.Principal) {
	var req api.CreateGroupRequest
	if err := decodeSmall(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	grace, err := parseDuration("grace", req.Grace)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	g, err := a.svc.CreateGroup(r.Context(), p, server.Group{Name: req.Name, Grace: grace, AlertEmails: req.AlertEmails})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, groupOut(g))
}

func (a *API) updateGroup(w http.ResponseWriter, r *http.Request, p server.Principal) {
	if err := a.svc.Authorize(p, server.RoleOperator); err != nil { // 403 before 400/404
		a.writeError(w, r, err)
		return
	}
	var req api.GroupSettings
	if err := decodeSmall(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	g, err := a.svc.GetGroup(r.Context(), p, mux.Vars(r)["name"])
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if req.Grace != nil {
		if g.Grace, err = parseDuration("grace", *req.Grace); err != nil {
			a.writeError(w, r, err)
			return
		}
	}
	if req.AlertEmails != nil {
		g.AlertEmails = *req.AlertEmails
	}
	g, err = a.svc.UpdateGroup(r.Context(), p, g)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, groupOut(g))
}

func (a *API) deleteGroup(w http.ResponseWriter, r *http.Request, p server.Principal) {
	if err := a.svc.DeleteGroup(r.Context(), p, mux.Vars(r)["name"]); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) getPin(w http.ResponseWriter, r *http.Request, p server.Principal) {
	g, err := a.svc.GetGroup(r.Context(), p, mux.Vars(r)["name"])
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, pinOut(g.Pin))
}

func (a *API) setPin(w http.ResponseWriter, r *http.Request, p server.Principal) {
	if err := a.svc.Authorize(p, server.RoleOperator); err != nil { // 403 before 400/404
		a.writeError(w, r, err)
		return
	}
	var pin api.Pin
	if err := decodeSmall(r, &pin); err != nil {
		a.writeError(w, r, err)
		return
	}
	if pin.Version == "" && pin.Channel == "" {
		a.writeError(w, r, fmt.Errorf("%w: a pin needs a version or a channel (DELETE the pin to unpin)", server.ErrInvalid))
		return
	}
	if err := a.checkPin(r.Context(), pin); err != nil {
		a.writeError(w, r, err)
		return
	}
	g, err := a.svc.SetPin(r.Context(), p, mux.Vars(r)["name"], pinIn(pin))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, pinOut(g.Pin))
}

func (a *API) deletePin(w http.ResponseWriter, r *http.Request, p server.Principal) {
	if _, err := a.svc.SetPin(r.Context(), p, mux.Vars(r)["name"], server.Pin{}); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) listEnrollmentTokens(w http.ResponseWriter, r *http.Request, p server.Principal) {
	ts, err := a.svc.ListEnrollmentTokens(r.Context(), p)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, orEmpty(mapSlice(ts, enrollmentTokenOut)))
}

func (a *API) createEnrollmentToken(w http.ResponseWriter, r *http.Request, p server.Principal) {
	var req api.CreateEnrollmentTokenRequest
	if err := decodeSmall(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	ttl, err := parseDuration("ttl", req.TTL)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	secret, t, err := a.svc.CreateEnrollmentToken(r.Context(), p, req.Group, ttl, req.MaxUses)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, api.CreateEnrollmentTokenResponse{Token: secret, EnrollmentToken: enrollmentTokenOut(t)})
}

func (a *API) revokeEnrollmentToken(w http.ResponseWriter, r *http.Request, p server.Principal) {
	if err := a.svc.RevokeEnrollmentToken(r.Context(), p, mux.Vars(r)["id"]); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) listTokens(w http.ResponseWriter, r *http.Request, p server.Principal) {
	ts, err := a.svc.ListAPITokens(r.Context(), p)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, mapSlice(ts, apiTokenOut))
}

func (a *API) createToken(w http.ResponseWriter, r *http.Request, p server.Principal) {
	var req api.CreateTokenRequest
	if err := decodeSmall(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	create := a.svc.CreateAPIToken
	if req.Owner != "" {
		create = func(ctx context.Context, p server.Principal, name, role string) (string, server.APIToken, error) {
			return a.svc.CreateAPITokenFor(ctx, p, req.Owner, name, role)
		}
	}
	secret, t, err := create(r.Context(), p, req.Name, req.Role)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, api.CreateTokenResponse{Token: secret, APIToken: apiTokenOut(t)})
}

func (a *API) revokeToken(w http.ResponseWriter, r *http.Request, p server.Principal) {
	if err := a.svc.RevokeAPIToken(r.Context(), p, mux.Vars(r)["id"]); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) listAudit(w http.ResponseWriter, r *http.Request, p server.Principal) {
	f, err := ParseAuditQuery(r.URL.Query())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	es, err := a.svc.SearchAudit(r.Context(), p, f)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, orEmpty(mapSlice(es, auditOut)))
}

func (a *API) checkPin(ctx context.Context, pin api.Pin) error { return CheckPin(ctx, a.releases, pin) }

// CheckPin refuses (ErrInvalid) a pin to a channel no published release is on, or to a version
// the release repository has not published, unless pin.Force allows the latter: both are more
// often typos than intent, and a group pinned to nothing that exists just never updates. A
// server without a release repository (releases nil), or with an empty one, has nothing
// published. The API's PUT /groups/{name}/pin and the dashboard's pin form both call it.
func CheckPin(ctx context.Context, releases *tufrepo.Repository, pin api.Pin) error {
	var rels []release.Release
	if releases != nil {
		var err error
		if rels, err = releases.Releases(ctx); err != nil {
			return fmt.Errorf("list releases: %w", err)
		}
	}
	var published, channels []string
	draft := false
	for _, r := range rels {
		if r.Published {
			published = append(published, r.Version)
			for _, c := range r.Channels {
				if !slices.Contains(channels, c) {
					channels = append(channels, c)
				}
			}
		} else if r.Version == pin.Version {
			draft = true
		}
	}
	slices.Sort(channels)
	switch {
	case pin.Channel != "" && !slices.Contains(channels, pin.Channel):
		return fmt.Errorf("%w: no published release is on channel %q (channels: %s); promote a release to it first (vigilctl release promote)",
			server.ErrInvalid, pin.Channel, listOrNone(channels))
	case pin.Version != "" && !pin.Force && !slices.Contains(published, pin.Version) && draft:
		return fmt.Errorf("%w: version %s is staged but not published yet; publish it first, or pin it anyway with force (vigilctl groups pin --force): hosts stay where they are until it is published",
			server.ErrInvalid, pin.Version)
	case pin.Version != "" && !pin.Force && !slices.Contains(published, pin.Version):
		return fmt.Errorf("%w: the release repository has no published version %s (published: %s); to pin a version before it is published, use force (vigilctl groups pin --force)",
			server.ErrInvalid, pin.Version, listOrNone(published))
	}
	return nil
}

// maxListed bounds the names an error message lists.
const maxListed = 10

func listOrNone(names []string) string {
	switch {
	case len(names) == 0:
		return "none"
	case len(names) > maxListed:
		return strings.Join(names[:maxListed], ", ") + fmt.Sprintf(" and %d more", len(names)-maxListed)
	}
	return strings.Join(names, ", ")
}
