package httpapi

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/rollout"
)

// rolloutRoutes registers the rollout endpoints when the server stages pins (both real stores).
func (a *API) rolloutRoutes(v1 *mux.Router) {
	if a.rollouts == nil {
		return
	}
	v1.HandleFunc("/rollouts", a.opAuth(a.listRollouts)).Methods(http.MethodGet)
	v1.HandleFunc("/rollouts/{id}", a.opAuth(a.getRollout)).Methods(http.MethodGet)
	v1.HandleFunc("/rollouts/{id}/pause", a.opAuth(a.actRollout(rollout.ActionPause))).Methods(http.MethodPost)
	v1.HandleFunc("/rollouts/{id}/resume", a.opAuth(a.actRollout(rollout.ActionResume))).Methods(http.MethodPost)
	v1.HandleFunc("/rollouts/{id}/abort", a.opAuth(a.actRollout(rollout.ActionAbort))).Methods(http.MethodPost)
	v1.HandleFunc("/groups/{name}/rollout-policy", a.opAuth(a.getRolloutPolicy)).Methods(http.MethodGet)
	v1.HandleFunc("/groups/{name}/rollout-policy", a.opAuth(a.setRolloutPolicy)).Methods(http.MethodPut)
}

// maxRolloutList caps GET /api/v1/rollouts.
const maxRolloutList = 500

func (a *API) listRollouts(w http.ResponseWriter, r *http.Request, p server.Principal) {
	q := r.URL.Query()
	f := rollout.Filter{Group: q.Get("group"), Limit: 100}
	if s := q.Get("active"); s != "" {
		v, err := strconv.ParseBool(s)
		if err != nil {
			a.writeError(w, r, fmt.Errorf("%w: active=%q (true or false)", server.ErrInvalid, s))
			return
		}
		f.ActiveOnly = v
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxRolloutList {
			a.writeError(w, r, fmt.Errorf("%w: limit=%q (1..%d)", server.ErrInvalid, s, maxRolloutList))
			return
		}
		f.Limit = n
	}
	rs, err := a.rollouts.List(r.Context(), p, f)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, orEmpty(mapSlice(rs, rolloutOut)))
}

func (a *API) getRollout(w http.ResponseWriter, r *http.Request, p server.Principal) {
	ro, err := a.rollouts.Get(r.Context(), p, mux.Vars(r)["id"])
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rolloutOut(ro))
}

func (a *API) actRollout(action string) func(http.ResponseWriter, *http.Request, server.Principal) {
	return func(w http.ResponseWriter, r *http.Request, p server.Principal) {
		ro, err := a.rollouts.Act(r.Context(), p, mux.Vars(r)["id"], action)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, rolloutOut(ro))
	}
}

func (a *API) getRolloutPolicy(w http.ResponseWriter, r *http.Request, p server.Principal) {
	pol, err := a.rollouts.Policy(r.Context(), p, mux.Vars(r)["name"])
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, policyOut(pol))
}

func (a *API) setRolloutPolicy(w http.ResponseWriter, r *http.Request, p server.Principal) {
	var req api.RolloutPolicy
	if err := decodeSmall(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	group := mux.Vars(r)["name"]
	if err := a.rollouts.SetPolicy(r.Context(), p, group, policyIn(req)); err != nil {
		a.writeError(w, r, err)
		return
	}
	pol, err := a.rollouts.Policy(r.Context(), p, group)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, policyOut(pol))
}

func policyOut(p rollout.Policy) api.RolloutPolicy {
	return api.RolloutPolicy{Canaries: p.Canaries, WavePercent: p.WavePercent, Soak: api.Duration(p.Soak),
		FailureThreshold: p.FailureThreshold, HealthDeadline: api.Duration(p.HealthDeadline)}
}

func policyIn(p api.RolloutPolicy) rollout.Policy {
	return rollout.Policy{Canaries: p.Canaries, WavePercent: p.WavePercent, Soak: time.Duration(p.Soak),
		FailureThreshold: p.FailureThreshold, HealthDeadline: time.Duration(p.HealthDeadline)}
}

func rolloutOut(r rollout.Rollout) api.Rollout {
	out := api.Rollout{
		ID: r.ID, Group: r.Group, From: pinOut(r.From), To: pinOut(r.To), ToVersion: r.ToVersion, Policy: policyOut(r.Policy),
		State: r.State, Stage: r.Stage, All: r.All, StageStarted: r.StageStarted, Settled: r.Settled,
		Progress: api.RolloutProgress{GroupHosts: r.Progress.GroupHosts, Admitted: r.Progress.Admitted, StageHosts: r.Progress.StageHosts,
			Healthy: r.Progress.Healthy, Failed: r.Progress.Failed, Pending: r.Progress.Pending, Offline: r.Progress.Offline},
		Reason: r.Reason, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, FinishedAt: r.FinishedAt, Version: r.Version,
	}
	for _, f := range r.Failures {
		out.Failures = append(out.Failures, api.RolloutFailure{HostID: f.HostID, Hostname: f.Hostname, Reason: f.Reason, Log: f.Log})
	}
	return out
}
