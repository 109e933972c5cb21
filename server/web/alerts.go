package web

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/alert"
)

// Page sizes of the alerting pages.
const (
	recentAlerts        = 50
	openAlertsListed    = 500
	endedSilencesListed = 20
	notificationsListed = 200
)

// alertsPage renders firing, pending and recently resolved alerts.
func (h *Handler) alertsPage(w http.ResponseWriter, r *http.Request, p server.Principal, status int, notice, errMsg string) {
	if h.alerts == nil {
		h.fail(w, r, p, errNoAlerting)
		return
	}
	open, err := h.alerts.ListAlerts(r.Context(), p, alert.AlertFilter{OpenOnly: true, Limit: openAlertsListed})
	if err != nil {
		h.fail(w, r, p, err)
		return
	}
	recent, err := h.alerts.ListAlerts(r.Context(), p, alert.AlertFilter{Limit: recentAlerts})
	if err != nil {
		h.fail(w, r, p, err)
		return
	}
	var firing, pending, resolved []alert.Alert
	for _, a := range open {
		if a.State == alert.StateFiring {
			firing = append(firing, a)
		} else {
			pending = append(pending, a)
		}
	}
	for _, a := range recent {
		if a.State == alert.StateResolved {
			resolved = append(resolved, a)
		}
	}
	h.render(w, r, status, "alerts", page{Title: "Alerts", Principal: p, Notice: notice, Error: errMsg, Data: map[string]any{
		"Firing": firing, "Pending": pending, "Resolved": resolved}})
}

// errNoAlerting: the store keeps no alerts (both real ones do).
var errNoAlerting = fmt.Errorf("%w: this server's store keeps no alerts", server.ErrNotFound)

func (h *Handler) alertList(w http.ResponseWriter, r *http.Request, p server.Principal) {
	h.alertsPage(w, r, p, http.StatusOK, "", "")
}

// ackAlert acknowledges an open alert (alert.Manager.AckAlert: operator role, audited).
func (h *Handler) ackAlert(w http.ResponseWriter, r *http.Request, p server.Principal) {
	if h.alerts == nil {
		h.fail(w, r, p, errNoAlerting)
		return
	}
	id, err := strconv.ParseInt(mux.Vars(r)["id"], 10, 64)
	if err != nil {
		h.fail(w, r, p, server.ErrNotFound)
		return
	}
	a, err := h.alerts.AckAlert(r.Context(), p, id)
	switch {
	case errors.Is(err, alert.ErrAlreadyAcked):
		h.alertsPage(w, r, p, http.StatusConflict, "", fmt.Sprintf("Alert %d was already acknowledged.", id))
		return
	case errors.Is(err, alert.ErrAlertResolved):
		h.alertsPage(w, r, p, http.StatusConflict, "", fmt.Sprintf("Alert %d has resolved meanwhile; there is nothing to acknowledge.", id))
		return
	case err != nil:
		h.fail(w, r, p, err)
		return
	}
	h.alertsPage(w, r, p, http.StatusOK, fmt.Sprintf("Alert %d (%s on %s) acknowledged: it sends no more reminders.", a.ID, a.RuleName, a.Hostname), "")
}

// silencesPage renders the current and upcoming maintenance silences, the latest ended ones and
// the form to create one.
func (h *Handler) silencesPage(w http.ResponseWriter, r *http.Request, p server.Principal, status int, notice, errMsg string, form map[string]string) {
	if h.alerts == nil {
		h.fail(w, r, p, errNoAlerting)
		return
	}
	all, err := h.alerts.ListSilences(r.Context(), p, true)
	if err != nil {
		h.fail(w, r, p, err)
		return
	}
	now := h.cfg.Now()
	var current, ended []alert.Silence
	for _, s := range all {
		if s.EndsAt.After(now) {
			current = append(current, s)
		} else {
			ended = append(ended, s)
		}
	}
	// Latest ended first, a few.
	for i, j := 0, len(ended)-1; i < j; i, j = i+1, j-1 {
		ended[i], ended[j] = ended[j], ended[i]
	}
	ended = ended[:min(len(ended), endedSilencesListed)]
	groups, err := h.cfg.Service.ListGroups(r.Context(), p)
	if err != nil {
		h.fail(w, r, p, err)
		return
	}
	rules, err := h.alerts.ListRules(r.Context(), p)
	if err != nil {
		h.fail(w, r, p, err)
		return
	}
	if form == nil {
		form = map[string]string{"duration": "1h"}
	}
	h.render(w, r, status, "silences", page{Title: "Silences", Principal: p, Notice: notice, Error: errMsg, Data: map[string]any{
		"Current": current, "Ended": ended, "Groups": groups, "Rules": rules, "Form": form}})
}

func (h *Handler) silences(w http.ResponseWriter, r *http.Request, p server.Principal) {
	h.silencesPage(w, r, p, http.StatusOK, "", "", nil)
}

// maxSilenceDuration bounds the duration field (alert.Manager refuses longer silences too).
const maxSilenceDuration = 366 * 24 * time.Hour

// createSilence creates a maintenance silence from now for a duration (alert.Manager.CreateSilence:
// operator role, checks that the host, group and rule exist, audited). The host field takes a
// host ID or a hostname that names exactly one host.
func (h *Handler) createSilence(w http.ResponseWriter, r *http.Request, p server.Principal) {
	if h.alerts == nil {
		h.fail(w, r, p, errNoAlerting)
		return
	}
	if err := h.cfg.Service.Authorize(p, server.RoleOperator); err != nil {
		h.fail(w, r, p, err)
		return
	}
	form := map[string]string{}
	for _, k := range []string{"host", "group", "rule", "duration", "comment"} {
		form[k] = strings.TrimSpace(r.PostForm.Get(k))
	}
	bad := func(msg string) { h.silencesPage(w, r, p, http.StatusBadRequest, "", msg, form) }
	d, err := time.ParseDuration(form["duration"])
	if err != nil || d <= 0 || d > maxSilenceDuration {
		bad(fmt.Sprintf("Duration %q: give one such as 30m, 2h or 24h (at most %s).", form["duration"], maxSilenceDuration))
		return
	}
	hostID := ""
	if form["host"] != "" {
		if hostID, err = h.resolveHost(r, p, form["host"]); err != nil {
			if status, msg, ok := actionError(err); ok {
				h.silencesPage(w, r, p, status, "", msg, form)
				return
			}
			h.fail(w, r, p, err)
			return
		}
	}
	now := h.cfg.Now()
	s, err := h.alerts.CreateSilence(r.Context(), p, alert.Silence{HostID: hostID, Group: form["group"], RuleID: form["rule"],
		StartsAt: now, EndsAt: now.Add(d), Comment: form["comment"]})
	if err != nil {
		if status, msg, ok := actionError(err); ok {
			h.silencesPage(w, r, p, status, "", msg, form)
			return
		}
		h.fail(w, r, p, err)
		return
	}
	h.silencesPage(w, r, p, http.StatusOK, "Silence "+s.ID+" holds back alert emails until "+fmtTime(s.EndsAt)+".", "", nil)
}

// resolveHost finds a host by ID or by a hostname that names exactly one host.
func (h *Handler) resolveHost(r *http.Request, p server.Principal, s string) (string, error) {
	hosts, err := h.cfg.Service.ListHosts(r.Context(), p, "")
	if err != nil {
		return "", err
	}
	var byName []string
	for _, host := range hosts {
		if host.ID == s {
			return s, nil
		}
		if host.Hostname == s {
			byName = append(byName, host.ID)
		}
	}
	switch len(byName) {
	case 1:
		return byName[0], nil
	case 0:
		return "", fmt.Errorf("%w: there is no host with ID or hostname %q", server.ErrInvalid, s)
	}
	short := make([]string, len(byName))
	for i, id := range byName {
		short[i] = id[:min(len(id), 8)]
	}
	return "", fmt.Errorf("%w: %d hosts are named %q (IDs %s…): give the host ID", server.ErrInvalid, len(byName), s, strings.Join(short, "…, "))
}

// endSilence ends a silence now (alert.Manager.DeleteSilence).
func (h *Handler) endSilence(w http.ResponseWriter, r *http.Request, p server.Principal) {
	if h.alerts == nil {
		h.fail(w, r, p, errNoAlerting)
		return
	}
	id := mux.Vars(r)["id"]
	if err := h.alerts.DeleteSilence(r.Context(), p, id); err != nil {
		if status, msg, ok := actionError(err); ok && !errors.Is(err, server.ErrForbidden) {
			h.silencesPage(w, r, p, status, "", msg, nil)
			return
		}
		h.fail(w, r, p, err)
		return
	}
	h.silencesPage(w, r, p, http.StatusOK, "Silence "+id+" ended: alert emails it held back go out at the next alert scan.", "", nil)
}

// notifications renders the outbox, newest first, with counts by status.
func (h *Handler) notifications(w http.ResponseWriter, r *http.Request, p server.Principal) {
	if h.alerts == nil {
		h.fail(w, r, p, errNoAlerting)
		return
	}
	ns, err := h.alerts.ListNotifications(r.Context(), p, notificationsListed, 0)
	if err != nil {
		h.fail(w, r, p, err)
		return
	}
	counts := map[string]int{}
	for _, n := range ns {
		counts[n.Status]++
	}
	h.render(w, r, http.StatusOK, "notifications", page{Title: "Notifications", Principal: p, Data: map[string]any{
		"Notifications": ns, "Counts": counts, "Limit": notificationsListed}})
}
