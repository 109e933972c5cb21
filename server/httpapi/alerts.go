package httpapi

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/gorilla/mux"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/alert"
)

// alertRoutes registers the alerting endpoints: rules, alerts, maintenance silences and the
// notification listing. They exist only when the store implements alert.Store (both real ones do).
func (a *API) alertRoutes(v1 *mux.Router) {
	st, ok := a.svc.Store().(alert.Store)
	if !ok {
		a.log.Warn("The store does not implement alerting; /api/v1/rules, alerts, silences and notifications are off.")
		return
	}
	h := &alertHandlers{api: a, m: alert.NewManager(st, a.now)}
	v1.HandleFunc("/rules", a.opAuth(h.listRules)).Methods(http.MethodGet)
	v1.HandleFunc("/rules", a.opAuth(h.createRule)).Methods(http.MethodPost)
	v1.HandleFunc("/rules/{id}", a.opAuth(h.deleteRule)).Methods(http.MethodDelete)
	v1.HandleFunc("/alerts", a.opAuth(h.listAlerts)).Methods(http.MethodGet)
	v1.HandleFunc("/alerts/{id}", a.opAuth(h.getAlert)).Methods(http.MethodGet)
	v1.HandleFunc("/alerts/{id}/ack", a.opAuth(h.ackAlert)).Methods(http.MethodPost)
	v1.HandleFunc("/silences", a.opAuth(h.listSilences)).Methods(http.MethodGet)
	v1.HandleFunc("/silences", a.opAuth(h.createSilence)).Methods(http.MethodPost)
	v1.HandleFunc("/silences/{id}", a.opAuth(h.deleteSilence)).Methods(http.MethodDelete)
	v1.HandleFunc("/notifications", a.opAuth(h.listNotifications)).Methods(http.MethodGet)
}

type alertHandlers struct {
	api *API
	m   *alert.Manager
}

// orEmpty makes a nil list encode as [].
func orEmpty[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}

func (h *alertHandlers) listRules(w http.ResponseWriter, r *http.Request, p server.Principal) {
	rs, err := h.m.ListRules(r.Context(), p)
	if err != nil {
		h.api.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, orEmpty(mapSlice(rs, ruleOut)))
}

func (h *alertHandlers) createRule(w http.ResponseWriter, r *http.Request, p server.Principal) {
	var req api.Rule
	if err := decodeSmall(r, &req); err != nil {
		h.api.writeError(w, r, err)
		return
	}
	rule, err := h.m.CreateRule(r.Context(), p, ruleIn(req))
	if err != nil {
		h.api.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, ruleOut(rule))
}

func (h *alertHandlers) deleteRule(w http.ResponseWriter, r *http.Request, p server.Principal) {
	if err := h.m.DeleteRule(r.Context(), p, mux.Vars(r)["id"]); err != nil {
		h.api.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *alertHandlers) listAlerts(w http.ResponseWriter, r *http.Request, p server.Principal) {
	q := r.URL.Query()
	f := alert.AlertFilter{HostID: q.Get("host")}
	switch q.Get("state") {
	case "", "all":
	case "open":
		f.OpenOnly = true
	default:
		h.api.writeError(w, r, fmt.Errorf("%w: state must be open or all", server.ErrInvalid))
		return
	}
	f.Limit, _ = strconv.Atoi(q.Get("limit"))
	f.Before, _ = strconv.ParseInt(q.Get("before"), 10, 64)
	as, err := h.m.ListAlerts(r.Context(), p, f)
	if err != nil {
		h.api.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, orEmpty(mapSlice(as, alertOut)))
}

func (h *alertHandlers) getAlert(w http.ResponseWriter, r *http.Request, p server.Principal) {
	id, err := strconv.ParseInt(mux.Vars(r)["id"], 10, 64)
	if err != nil {
		h.api.writeError(w, r, fmt.Errorf("%w: alert id must be a number", server.ErrInvalid))
		return
	}
	a, err := h.m.GetAlert(r.Context(), p, id)
	if err != nil {
		h.api.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, alertOut(a))
}

func (h *alertHandlers) ackAlert(w http.ResponseWriter, r *http.Request, p server.Principal) {
	id, err := strconv.ParseInt(mux.Vars(r)["id"], 10, 64)
	if err != nil {
		h.api.writeError(w, r, fmt.Errorf("%w: alert id must be a number", server.ErrInvalid))
		return
	}
	a, err := h.m.AckAlert(r.Context(), p, id)
	if err != nil {
		h.api.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, alertOut(a))
}

func (h *alertHandlers) listSilences(w http.ResponseWriter, r *http.Request, p server.Principal) {
	all, _ := strconv.ParseBool(r.URL.Query().Get("all"))
	ss, err := h.m.ListSilences(r.Context(), p, all)
	if err != nil {
		h.api.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, orEmpty(mapSlice(ss, silenceOut)))
}

func (h *alertHandlers) createSilence(w http.ResponseWriter, r *http.Request, p server.Principal) {
	var req api.CreateSilenceRequest
	if err := decodeSmall(r, &req); err != nil {
		h.api.writeError(w, r, err)
		return
	}
	s := alert.Silence{HostID: req.HostID, Group: req.Group, RuleID: req.RuleID, StartsAt: req.StartsAt, EndsAt: req.EndsAt, Comment: req.Comment}
	if req.Duration != "" {
		d, err := parseDuration("duration", req.Duration)
		if err != nil {
			h.api.writeError(w, r, err)
			return
		}
		if !req.EndsAt.IsZero() {
			h.api.writeError(w, r, fmt.Errorf("%w: give ends_at or duration, not both", server.ErrInvalid))
			return
		}
		start := req.StartsAt
		if start.IsZero() {
			start = h.api.now()
		}
		s.StartsAt, s.EndsAt = start, start.Add(d)
	}
	s, err := h.m.CreateSilence(r.Context(), p, s)
	if err != nil {
		h.api.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, silenceOut(s))
}

func (h *alertHandlers) deleteSilence(w http.ResponseWriter, r *http.Request, p server.Principal) {
	if err := h.m.DeleteSilence(r.Context(), p, mux.Vars(r)["id"]); err != nil {
		h.api.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *alertHandlers) listNotifications(w http.ResponseWriter, r *http.Request, p server.Principal) {
	q := r.URL.Query()
	limit, _ := strconv.Atoi(q.Get("limit"))
	before, _ := strconv.ParseInt(q.Get("before"), 10, 64)
	ns, err := h.m.ListNotifications(r.Context(), p, limit, before)
	if err != nil {
		h.api.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, orEmpty(mapSlice(ns, notificationOut)))
}
