package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/httpapi"
	"github.com/vigilhq/vigil/server/rollout"
)

// groupRow is a group on the groups page with its rollout: the active one, else the latest.
type groupRow struct {
	server.Group
	Rollout *rollout.Rollout
	Active  bool
	// Policy is the group's rollout policy as set (zero fields mean the defaults); Effective
	// has the defaults filled in.
	Policy, Effective rollout.Policy
}

// maxRolloutsListed bounds the rollouts the groups page reads to find each group's latest.
const maxRolloutsListed = 500

// groupsPage renders the groups page: each group's pin, agent settings and rollout, with the pin
// and rollout forms for roles that may use them (the Service decides; the forms only follow it).
func (h *Handler) groupsPage(w http.ResponseWriter, r *http.Request, p server.Principal, status int, notice, errMsg string) {
	rows, err := h.groupRows(r, p)
	if err != nil {
		h.fail(w, r, p, err)
		return
	}
	versions, channels := h.published(r)
	h.render(w, r, status, "groups", page{Title: "Groups", Principal: p, Notice: notice, Error: errMsg, Data: map[string]any{
		"Groups": rows, "Versions": versions, "Channels": channels, "Staged": h.cfg.Rollouts != nil,
		"Refresh": groupsRefreshSeconds, "Defaults": rollout.Policy{}.WithDefaults()}})
}

// groupsRefreshSeconds is how often the groups page's script reloads the table (refresh.js), so
// an operator watches a rollout's progress without reloading.
const groupsRefreshSeconds = 5

// groupsRows serves the groups table's body alone (GET /groups/rows), for refresh.js to swap in
// without reloading the page: the rollouts' progress and the actions their state allows.
func (h *Handler) groupsRows(w http.ResponseWriter, r *http.Request, p server.Principal) {
	rows, err := h.groupRows(r, p)
	if err != nil {
		if errors.Is(err, server.ErrForbidden) {
			http.Error(w, "Your role may not do this.", http.StatusForbidden)
			return
		}
		h.cfg.Logger.ErrorContext(r.Context(), "Dashboard request failed.", "path", r.URL.Path, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h.renderFragment(w, r, "groups", "groups-fragment", page{Principal: p, Data: map[string]any{
		"Groups": rows, "Staged": h.cfg.Rollouts != nil}})
}

// groupRows reads the groups with their rollout (the active one, else the latest) and policy: a
// fixed number of store reads whatever the number of groups (the page refreshes every
// groupsRefreshSeconds in every open tab). A group deleted between the reads is left out.
func (h *Handler) groupRows(r *http.Request, p server.Principal) ([]groupRow, error) {
	groups, err := h.cfg.Service.ListGroups(r.Context(), p)
	if err != nil {
		return nil, err
	}
	rows := make([]groupRow, 0, len(groups))
	for _, g := range groups {
		rows = append(rows, groupRow{Group: g})
	}
	if h.cfg.Rollouts == nil {
		return rows, nil
	}
	rs, err := h.cfg.Rollouts.List(r.Context(), p, rollout.Filter{Limit: maxRolloutsListed})
	if err != nil {
		return nil, err
	}
	policies, err := h.cfg.Rollouts.Policies(r.Context(), p)
	if err != nil {
		return nil, err
	}
	// Newest first: the first active one of a group wins, else its first one.
	byGroup := make(map[string][]int, len(rows))
	for j := range rs {
		byGroup[rs[j].Group] = append(byGroup[rs[j].Group], j)
	}
	kept := rows[:0]
	for _, row := range rows {
		pol, ok := policies[row.Name]
		if !ok {
			continue // deleted since ListGroups
		}
		for _, j := range byGroup[row.Name] {
			if rollout.Active(rs[j].State) {
				row.Rollout, row.Active = &rs[j], true
				break
			}
			if row.Rollout == nil {
				row.Rollout = &rs[j]
			}
		}
		row.Policy, row.Effective = pol, pol.WithDefaults()
		kept = append(kept, row)
	}
	return kept, nil
}

// published lists the published versions and channels for the pin form's suggestions; a
// repository that cannot be read suggests nothing (the pin is still checked when sent).
func (h *Handler) published(r *http.Request) (versions, channels []string) {
	if h.cfg.Releases == nil {
		return nil, nil
	}
	rels, err := h.cfg.Releases.Releases(r.Context())
	if err != nil {
		return nil, nil
	}
	seen := map[string]bool{}
	for _, rel := range rels {
		if !rel.Published {
			continue
		}
		versions = append(versions, rel.Version)
		for _, c := range rel.Channels {
			if !seen[c] {
				seen[c] = true
				channels = append(channels, c)
			}
		}
	}
	return versions, channels
}

func (h *Handler) groups(w http.ResponseWriter, r *http.Request, p server.Principal) {
	h.groupsPage(w, r, p, http.StatusOK, "", "")
}

// actionError maps a refused action to a status and a message for the page; ok is false for
// errors that are not the user's to fix (then the caller fails the request).
func actionError(err error) (status int, msg string, ok bool) {
	switch {
	case errors.Is(err, server.ErrInvalid):
		return http.StatusBadRequest, err.Error(), true
	case errors.Is(err, server.ErrConflict):
		return http.StatusConflict, err.Error(), true
	case errors.Is(err, server.ErrNotFound):
		return http.StatusNotFound, "Not found (removed meanwhile?): " + err.Error(), true
	}
	return 0, "", false
}

// pinGroup pins a group to a version or a channel (form fields kind, target, force), checked
// against the release repository as the API's PUT /api/v1/groups/{name}/pin is; with rollouts
// the Service starts one.
func (h *Handler) pinGroup(w http.ResponseWriter, r *http.Request, p server.Principal) {
	name := mux.Vars(r)["name"]
	// The role first, so a viewer learns nothing from how the form is checked.
	if err := h.cfg.Service.Authorize(p, server.RoleOperator); err != nil {
		h.fail(w, r, p, err)
		return
	}
	target := strings.TrimSpace(r.PostForm.Get("target"))
	pin := api.Pin{Force: r.PostForm.Get("force") != ""}
	kind := r.PostForm.Get("kind")
	switch kind {
	case "version":
		pin.Version = target
	case "channel":
		pin.Channel = target
	case "none": // unpin, as DELETE /api/v1/groups/{name}/pin and vigilctl groups pin G --none
	default:
		h.groupsPage(w, r, p, http.StatusBadRequest, "", "Choose whether to pin a version or a channel, or to unpin.")
		return
	}
	if target == "" && kind != "none" {
		h.groupsPage(w, r, p, http.StatusBadRequest, "", "Give the version or channel to pin group "+name+" to.")
		return
	}
	var err error
	if kind != "none" {
		err = httpapi.CheckPin(r.Context(), h.cfg.Releases, pin)
	}
	var g server.Group
	if err == nil {
		g, err = h.cfg.Service.SetPin(r.Context(), p, name, server.Pin{Version: pin.Version, Channel: pin.Channel})
	}
	if err != nil {
		h.afterGroupAction(w, r, p, err, "")
		return
	}
	notice := "Group " + g.Name + " pinned to " + pinText(g.Pin) + "."
	if kind == "none" {
		notice = "Group " + g.Name + " unpinned: its hosts stay on what they run."
	} else if h.cfg.Rollouts != nil {
		notice += " A rollout moves its hosts in stages; its progress is below."
	}
	h.groupsPage(w, r, p, http.StatusOK, notice, "")
}

// actRollout pauses, resumes or aborts a rollout.
func (h *Handler) actRollout(w http.ResponseWriter, r *http.Request, p server.Principal) {
	if h.cfg.Rollouts == nil {
		h.fail(w, r, p, server.ErrNotFound)
		return
	}
	vars := mux.Vars(r)
	ro, err := h.cfg.Rollouts.Act(r.Context(), p, vars["id"], vars["action"])
	if errors.Is(err, rollout.ErrState) {
		msg := vars["action"] + " is not possible: the rollout is " + stateOf(r, h, p, vars["id"]) + "."
		if errors.Is(err, rollout.ErrHalted) {
			msg += " A halted rollout can only be aborted: abort it (the group returns to its previous pin), fix the build, then pin the fixed version to start a new rollout."
		}
		h.groupsPage(w, r, p, http.StatusConflict, "", msg)
		return
	}
	if err != nil {
		h.afterGroupAction(w, r, p, err, "")
		return
	}
	done := map[string]string{rollout.ActionPause: "paused", rollout.ActionResume: "resumed",
		rollout.ActionAbort: "aborted; the group's pin is back to " + pinText(ro.From)}[vars["action"]]
	h.afterGroupAction(w, r, p, nil, "Rollout of group "+ro.Group+" to "+pinText(ro.To)+" "+done+".")
}

// stateOf is the rollout's state for a message, or "in another state".
func stateOf(r *http.Request, h *Handler, p server.Principal, id string) string {
	ro, err := h.cfg.Rollouts.Get(r.Context(), p, id)
	if err != nil {
		return "in another state"
	}
	return ro.State
}

func (h *Handler) afterGroupAction(w http.ResponseWriter, r *http.Request, p server.Principal, err error, done string) {
	if err == nil {
		h.groupsPage(w, r, p, http.StatusOK, done, "")
		return
	}
	status, msg, ok := actionError(err)
	if !ok {
		h.fail(w, r, p, err)
		return
	}
	h.groupsPage(w, r, p, status, "", msg)
}

// setPolicy sets a group's rollout policy from the form (fields canaries, wave_percent, soak,
// failure_threshold, health_deadline; empty means the default), as PUT
// /api/v1/groups/{name}/rollout-policy and vigilctl groups set G --canaries … do: the same
// rollout.Manager.SetPolicy, so the same validation, role check and audit. A field that does
// not parse, or a value out of range, is shown in the page and nothing is stored.
func (h *Handler) setPolicy(w http.ResponseWriter, r *http.Request, p server.Principal) {
	name := mux.Vars(r)["name"]
	if err := h.cfg.Service.Authorize(p, server.RoleOperator); err != nil {
		h.fail(w, r, p, err)
		return
	}
	if h.cfg.Rollouts == nil {
		h.fail(w, r, p, server.ErrNotFound)
		return
	}
	pol, err := policyForm(r.PostForm)
	if err == nil {
		err = h.cfg.Rollouts.SetPolicy(r.Context(), p, name, pol)
	}
	if err != nil {
		h.afterGroupAction(w, r, p, err, "")
		return
	}
	e := pol.WithDefaults()
	h.afterGroupAction(w, r, p, nil, fmt.Sprintf("Rollout policy of group %s set: %s, waves of %d%%, soak %s, halt above %d%% failed, health deadline %s. It applies to rollouts that start from now on.",
		name, server.Plural(e.Canaries, "canary", "canaries"), e.WavePercent, e.Soak, e.FailureThreshold, e.HealthDeadline))
}

// Form fields of the rollout policy form.
const (
	fieldCanaries         = "canaries"
	fieldWavePercent      = "wave_percent"
	fieldSoak             = "soak"
	fieldFailureThreshold = "failure_threshold"
	fieldHealthDeadline   = "health_deadline"
)

// policyForm reads a rollout policy form; empty fields are zero (the defaults). Ranges are
// rollout.Policy.Validate's, checked by SetPolicy.
func policyForm(f url.Values) (rollout.Policy, error) {
	var pol rollout.Policy
	ints := []struct {
		field, label string
		dst          *int
	}{
		{fieldCanaries, "Canaries", &pol.Canaries},
		{fieldWavePercent, "Wave percent", &pol.WavePercent},
		{fieldFailureThreshold, "Failure threshold", &pol.FailureThreshold},
	}
	for _, in := range ints {
		v := strings.TrimSpace(f.Get(in.field))
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSuffix(v, "%"))
		if err != nil {
			return pol, fmt.Errorf("%w: %s %q is not a whole number", server.ErrInvalid, in.label, v)
		}
		*in.dst = n
	}
	durs := []struct {
		field, label string
		dst          *time.Duration
	}{
		{fieldSoak, "Soak", &pol.Soak},
		{fieldHealthDeadline, "Health deadline", &pol.HealthDeadline},
	}
	for _, in := range durs {
		v := strings.TrimSpace(f.Get(in.field))
		if v == "" {
			continue
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			return pol, fmt.Errorf("%w: %s %q is not a duration such as 90s, 10m or 1h30m", server.ErrInvalid, in.label, v)
		}
		*in.dst = d
	}
	return pol, nil
}
