package httpapi

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/server"
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
	writeJSON(w, http.StatusOK, hostOut(h))
}

func (a *API) revokeHost(w http.ResponseWriter, r *http.Request, p server.Principal) {
	if err := a.svc.RevokeHost(r.Context(), p, mux.Vars(r)["id"]); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
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
	var pin api.Pin
	if err := decodeSmall(r, &pin); err != nil {
		a.writeError(w, r, err)
		return
	}
	if pin.Version == "" && pin.Channel == "" {
		a.writeError(w, r, fmt.Errorf("%w: a pin needs a version or a channel (DELETE the pin to unpin)", server.ErrInvalid))
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
	secret, t, err := a.svc.CreateAPIToken(r.Context(), p, req.Name, req.Role)
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
	q := r.URL.Query()
	limit, _ := strconv.Atoi(q.Get("limit"))
	before, _ := strconv.ParseInt(q.Get("before"), 10, 64)
	es, err := a.svc.ListAudit(r.Context(), p, limit, before)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, orEmpty(mapSlice(es, auditOut)))
}
