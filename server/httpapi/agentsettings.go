package httpapi

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/server"
)

func (a *API) getGroupAgentSettings(w http.ResponseWriter, r *http.Request, p server.Principal) {
	s, err := a.svc.GroupAgentSettings(r.Context(), p, mux.Vars(r)["name"])
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, agentSettingsOut(s))
}

func (a *API) setGroupAgentSettings(w http.ResponseWriter, r *http.Request, p server.Principal) {
	var req api.AgentSettings
	if err := decodeSmall(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	s, err := a.svc.SetGroupAgentSettings(r.Context(), p, mux.Vars(r)["name"], agentSettingsIn(req))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, agentSettingsOut(s))
}

func (a *API) getHostAgentSettings(w http.ResponseWriter, r *http.Request, p server.Principal) {
	g, h, e, err := a.svc.HostAgentSettings(r.Context(), p, mux.Vars(r)["id"])
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, api.HostAgentSettings{Group: agentSettingsOut(g), Host: agentSettingsOut(h), Effective: agentSettingsOut(e)})
}

func (a *API) setHostAgentSettings(w http.ResponseWriter, r *http.Request, p server.Principal) {
	var req api.AgentSettings
	if err := decodeSmall(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	a.putHostAgentSettings(w, r, p, agentSettingsIn(req))
}

func (a *API) deleteHostAgentSettings(w http.ResponseWriter, r *http.Request, p server.Principal) {
	a.putHostAgentSettings(w, r, p, server.AgentSettings{})
}

// putHostAgentSettings stores a host's own settings and answers with all of them.
func (a *API) putHostAgentSettings(w http.ResponseWriter, r *http.Request, p server.Principal, s server.AgentSettings) {
	id := mux.Vars(r)["id"]
	if err := a.svc.SetHostAgentSettings(r.Context(), p, id, s); err != nil {
		a.writeError(w, r, err)
		return
	}
	a.getHostAgentSettings(w, r, p)
}
