package httpapi

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"github.com/vigilhq/vigil/server"
)

// CreateEnrollmentTokenRequest is the body of POST /api/v1/enrollment-tokens.
type CreateEnrollmentTokenRequest struct {
	Group string `json:"group,omitempty"`
	// TTL is a duration string such as "24h"; default 24h.
	TTL     string `json:"ttl,omitempty"`
	MaxUses int    `json:"max_uses,omitempty"`
}

// CreateEnrollmentTokenResponse carries the token secret, shown once.
type CreateEnrollmentTokenResponse struct {
	Token string `json:"token"`
	server.EnrollmentToken
}

// CreateTokenRequest is the body of POST /api/v1/tokens.
type CreateTokenRequest struct {
	Name string `json:"name"`
	Role string `json:"role"`
}

// CreateTokenResponse carries the API token secret, shown once.
type CreateTokenResponse struct {
	Token string `json:"token"`
	server.APIToken
}

// CreateGroupRequest is the body of POST /api/v1/groups.
type CreateGroupRequest struct {
	Name        string   `json:"name"`
	Grace       string   `json:"grace,omitempty"`
	AlertEmails []string `json:"alert_emails,omitempty"`
}

// GroupSettings is the body of PATCH /api/v1/groups/{name}; nil fields are left as they are.
type GroupSettings struct {
	Grace       *string   `json:"grace,omitempty"`
	AlertEmails *[]string `json:"alert_emails,omitempty"`
}

// MoveHostRequest is the body of PUT /api/v1/hosts/{id}/group.
type MoveHostRequest struct {
	Group string `json:"group"`
}

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
	if hs == nil {
		hs = []server.Host{}
	}
	writeJSON(w, http.StatusOK, hs)
}

func (a *API) getHost(w http.ResponseWriter, r *http.Request, p server.Principal) {
	h, err := a.svc.GetHost(r.Context(), p, mux.Vars(r)["id"])
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, h)
}

func (a *API) revokeHost(w http.ResponseWriter, r *http.Request, p server.Principal) {
	if err := a.svc.RevokeHost(r.Context(), p, mux.Vars(r)["id"]); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) moveHost(w http.ResponseWriter, r *http.Request, p server.Principal) {
	var req MoveHostRequest
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
	if evs == nil {
		evs = []server.UpdateEvent{}
	}
	writeJSON(w, http.StatusOK, evs)
}

func (a *API) listGroups(w http.ResponseWriter, r *http.Request, p server.Principal) {
	gs, err := a.svc.ListGroups(r.Context(), p)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, gs)
}

func (a *API) getGroup(w http.ResponseWriter, r *http.Request, p server.Principal) {
	g, err := a.svc.GetGroup(r.Context(), p, mux.Vars(r)["name"])
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, g)
}

func (a *API) createGroup(w http.ResponseWriter, r *http.Request, p server.Principal) {
	var req CreateGroupRequest
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
	writeJSON(w, http.StatusCreated, g)
}

func (a *API) updateGroup(w http.ResponseWriter, r *http.Request, p server.Principal) {
	var req GroupSettings
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
	writeJSON(w, http.StatusOK, g)
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
	writeJSON(w, http.StatusOK, g.Pin)
}

func (a *API) setPin(w http.ResponseWriter, r *http.Request, p server.Principal) {
	var pin server.Pin
	if err := decodeSmall(r, &pin); err != nil {
		a.writeError(w, r, err)
		return
	}
	if pin.Version == "" && pin.Channel == "" {
		a.writeError(w, r, fmt.Errorf("%w: a pin needs a version or a channel (DELETE the pin to unpin)", server.ErrInvalid))
		return
	}
	g, err := a.svc.SetPin(r.Context(), p, mux.Vars(r)["name"], pin)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, g.Pin)
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
	if ts == nil {
		ts = []server.EnrollmentToken{}
	}
	writeJSON(w, http.StatusOK, ts)
}

func (a *API) createEnrollmentToken(w http.ResponseWriter, r *http.Request, p server.Principal) {
	var req CreateEnrollmentTokenRequest
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
	writeJSON(w, http.StatusCreated, CreateEnrollmentTokenResponse{Token: secret, EnrollmentToken: t})
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
	writeJSON(w, http.StatusOK, ts)
}

func (a *API) createToken(w http.ResponseWriter, r *http.Request, p server.Principal) {
	var req CreateTokenRequest
	if err := decodeSmall(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	secret, t, err := a.svc.CreateAPIToken(r.Context(), p, req.Name, req.Role)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, CreateTokenResponse{Token: secret, APIToken: t})
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
	if es == nil {
		es = []server.AuditEntry{}
	}
	writeJSON(w, http.StatusOK, es)
}
