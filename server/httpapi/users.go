package httpapi

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/server"
)

// ClientAddress is the request's peer IP address, as recorded in the audit log and counted by the
// sign-in limits. Forwarding headers are not trusted: a proxy in front shows as itself.
func ClientAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (a *API) userRoutes(v1 *mux.Router) {
	v1.HandleFunc("/users", a.opAuth(a.listUsers)).Methods(http.MethodGet)
	v1.HandleFunc("/users", a.opAuth(a.createUser)).Methods(http.MethodPost)
	v1.HandleFunc("/users/{name}", a.opAuth(a.deleteUser)).Methods(http.MethodDelete)
	v1.HandleFunc("/users/{name}/role", a.opAuth(a.setUserRole)).Methods(http.MethodPut)
	v1.HandleFunc("/users/{name}/password", a.opAuth(a.setPassword)).Methods(http.MethodPut)
}

func (a *API) listUsers(w http.ResponseWriter, r *http.Request, p server.Principal) {
	us, err := a.svc.ListUsers(r.Context(), p)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, orEmpty(mapSlice(us, userOut)))
}

func (a *API) createUser(w http.ResponseWriter, r *http.Request, p server.Principal) {
	var req api.CreateUserRequest
	if err := decodeSmall(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	u, err := a.svc.CreateUser(r.Context(), p, req.Name, req.Role, req.Password)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, userOut(u))
}

func (a *API) deleteUser(w http.ResponseWriter, r *http.Request, p server.Principal) {
	if err := a.svc.DeleteUser(r.Context(), p, mux.Vars(r)["name"]); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) setUserRole(w http.ResponseWriter, r *http.Request, p server.Principal) {
	var req api.SetUserRoleRequest
	if err := decodeSmall(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	u, err := a.svc.SetUserRole(r.Context(), p, mux.Vars(r)["name"], req.Role)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, userOut(u))
}

func (a *API) setPassword(w http.ResponseWriter, r *http.Request, p server.Principal) {
	var req api.SetPasswordRequest
	if err := decodeSmall(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := a.svc.SetPassword(r.Context(), p, mux.Vars(r)["name"], req.CurrentPassword, req.Password); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// ParseAuditQuery reads the audit filter from query parameters (actor, action, target, since,
// until as RFC 3339, limit, before). Bad values are server.ErrInvalid.
func ParseAuditQuery(q map[string][]string) (server.AuditFilter, error) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	f := server.AuditFilter{Actor: get("actor"), Action: get("action"), Target: get("target")}
	for _, tv := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := get(tv.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return f, fmt.Errorf("%w: %s=%q is not an RFC 3339 time such as 2026-12-01T09:00:00Z", server.ErrInvalid, tv.name, v)
			}
			*tv.dst = t
		}
	}
	if v := get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > server.MaxAuditPage {
			return f, fmt.Errorf("%w: limit=%q must be 1..%d", server.ErrInvalid, v, server.MaxAuditPage)
		}
		f.Limit = n
	}
	if v := get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return f, fmt.Errorf("%w: before=%q must be an audit entry ID", server.ErrInvalid, v)
		}
		f.Before = n
	}
	return f, nil
}
