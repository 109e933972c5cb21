package httpapi

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/vigilhq/vigil/server"
)

// routeRoles is the role each operator route needs beyond viewer, by method and path template.
// opAuth checks it right after authentication, before the body is read or validated, so a viewer
// gets 403 for a change whatever it sent, never a 400 or 404 that depends on the body or on what
// exists. The Service checks the role again (it is the authority); this is the early answer.
// Release routes give their role to relAuth directly. TestAuthorizationBeforeValidation walks the
// router, so a new route that changes something cannot be missing here.
var routeRoles = map[string]string{
	"DELETE /api/v1/hosts/{id}":                server.RoleOperator,
	"POST /api/v1/hosts/{id}/revoke":           server.RoleOperator,
	"PUT /api/v1/hosts/{id}/group":             server.RoleOperator,
	"PUT /api/v1/hosts/{id}/agent-settings":    server.RoleOperator,
	"DELETE /api/v1/hosts/{id}/agent-settings": server.RoleOperator,
	"POST /api/v1/groups":                      server.RoleOperator,
	"PATCH /api/v1/groups/{name}":              server.RoleOperator,
	"PUT /api/v1/groups/{name}":                server.RoleOperator,
	"DELETE /api/v1/groups/{name}":             server.RoleOperator,
	"PUT /api/v1/groups/{name}/pin":            server.RoleOperator,
	"DELETE /api/v1/groups/{name}/pin":         server.RoleOperator,
	"PUT /api/v1/groups/{name}/agent-settings": server.RoleOperator,
	"POST /api/v1/enrollment-tokens":           server.RoleOperator,
	"DELETE /api/v1/enrollment-tokens/{id}":    server.RoleOperator,
	"POST /api/v1/hosts/{id}/clear-quarantine": server.RoleOperator,
	"PUT /api/v1/groups/{name}/rollout-policy": server.RoleOperator,
	"POST /api/v1/rollouts/{id}/pause":         server.RoleOperator,
	"POST /api/v1/rollouts/{id}/resume":        server.RoleOperator,
	"POST /api/v1/rollouts/{id}/abort":         server.RoleOperator,
	"GET /api/v1/users":                        server.RoleAdmin,
	"POST /api/v1/users":                       server.RoleAdmin,
	"DELETE /api/v1/users/{name}":              server.RoleAdmin,
	"PUT /api/v1/users/{name}/role":            server.RoleAdmin,
	"POST /api/v1/rules":                       server.RoleOperator,
	"DELETE /api/v1/rules/{id}":                server.RoleOperator,
	"POST /api/v1/silences":                    server.RoleOperator,
	"DELETE /api/v1/silences/{id}":             server.RoleOperator,
	"POST /api/v1/alerts/{id}/ack":             server.RoleOperator,
}

// selfServiceRoutes change something, yet any role may call them for itself: its own API tokens
// (never above its role) and its own password. The Service decides, from the principal, whether
// the object is the caller's own; TestAuthorization and TestUsersAndTokenOwnership cover them.
var selfServiceRoutes = map[string]bool{
	"POST /api/v1/tokens":               true,
	"DELETE /api/v1/tokens/{id}":        true,
	"PUT /api/v1/users/{name}/password": true,
}

// routeRole returns the role r's route needs ("" when any valid token may call it, or the route
// checks its own, as relAuth does).
func routeRole(r *http.Request) string {
	cur := mux.CurrentRoute(r)
	if cur == nil {
		return ""
	}
	tpl, err := cur.GetPathTemplate()
	if err != nil {
		return ""
	}
	return routeRoles[r.Method+" "+tpl]
}
