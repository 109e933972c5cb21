package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/alert"
)

// CreateSilenceRequest is the body of POST /api/v1/silences. EndsAt or Duration says when it
// ends; StartsAt defaults to now.
type CreateSilenceRequest struct {
	HostID   string    `json:"host_id,omitempty"`
	Group    string    `json:"group,omitempty"`
	RuleID   string    `json:"rule_id,omitempty"`
	StartsAt time.Time `json:"starts_at,omitzero"`
	EndsAt   time.Time `json:"ends_at,omitzero"`
	// Duration is a duration string such as "2h", from StartsAt.
	Duration string `json:"duration,omitempty"`
	Comment  string `json:"comment,omitempty"`
}

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
	writeJSON(w, http.StatusOK, orEmpty(rs))
}

func (h *alertHandlers) createRule(w http.ResponseWriter, r *http.Request, p server.Principal) {
	var req alert.Rule
	if err := decodeSmall(r, &req); err != nil {
		h.api.writeError(w, r, err)
		return
	}
	rule, err := h.m.CreateRule(r.Context(), p, req)
	if err != nil {
		h.api.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, rule)
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
	writeJSON(w, http.StatusOK, orEmpty(as))
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
	writeJSON(w, http.StatusOK, a)
}

func (h *alertHandlers) listSilences(w http.ResponseWriter, r *http.Request, p server.Principal) {
	all, _ := strconv.ParseBool(r.URL.Query().Get("all"))
	ss, err := h.m.ListSilences(r.Context(), p, all)
	if err != nil {
		h.api.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, orEmpty(ss))
}

func (h *alertHandlers) createSilence(w http.ResponseWriter, r *http.Request, p server.Principal) {
	var req CreateSilenceRequest
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
	writeJSON(w, http.StatusCreated, s)
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
	writeJSON(w, http.StatusOK, orEmpty(ns))
}

// ListRules lists alert rules.
func (c *Client) ListRules(ctx context.Context) ([]alert.Rule, error) {
	var out []alert.Rule
	err := c.Do(ctx, http.MethodGet, "/api/v1/rules", nil, &out)
	return out, err
}

// CreateRule creates an alert rule; the server assigns its ID.
func (c *Client) CreateRule(ctx context.Context, r alert.Rule) (alert.Rule, error) {
	var out alert.Rule
	err := c.Do(ctx, http.MethodPost, "/api/v1/rules", r, &out)
	return out, err
}

// DeleteRule deletes an alert rule.
func (c *Client) DeleteRule(ctx context.Context, id string) error {
	return c.Do(ctx, http.MethodDelete, "/api/v1/rules/"+url.PathEscape(id), nil, nil)
}

// ListAlerts lists alerts newest first: only open ones when open, only of host when set.
func (c *Client) ListAlerts(ctx context.Context, open bool, host string, limit int) ([]alert.Alert, error) {
	q := url.Values{}
	if open {
		q.Set("state", "open")
	}
	if host != "" {
		q.Set("host", host)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out []alert.Alert
	err := c.Do(ctx, http.MethodGet, "/api/v1/alerts?"+q.Encode(), nil, &out)
	return out, err
}

// GetAlert returns one alert with its history.
func (c *Client) GetAlert(ctx context.Context, id int64) (alert.Alert, error) {
	var out alert.Alert
	err := c.Do(ctx, http.MethodGet, "/api/v1/alerts/"+strconv.FormatInt(id, 10), nil, &out)
	return out, err
}

// ListSilences lists maintenance silences; all includes those already over.
func (c *Client) ListSilences(ctx context.Context, all bool) ([]alert.Silence, error) {
	var out []alert.Silence
	err := c.Do(ctx, http.MethodGet, "/api/v1/silences?all="+strconv.FormatBool(all), nil, &out)
	return out, err
}

// CreateSilence creates a maintenance silence.
func (c *Client) CreateSilence(ctx context.Context, req CreateSilenceRequest) (alert.Silence, error) {
	var out alert.Silence
	err := c.Do(ctx, http.MethodPost, "/api/v1/silences", req, &out)
	return out, err
}

// DeleteSilence deletes (ends) a maintenance silence.
func (c *Client) DeleteSilence(ctx context.Context, id string) error {
	return c.Do(ctx, http.MethodDelete, "/api/v1/silences/"+url.PathEscape(id), nil, nil)
}

// ListNotifications lists queued and sent alert emails, newest first.
func (c *Client) ListNotifications(ctx context.Context, limit int) ([]alert.Notification, error) {
	var out []alert.Notification
	err := c.Do(ctx, http.MethodGet, "/api/v1/notifications?limit="+strconv.Itoa(limit), nil, &out)
	return out, err
}
