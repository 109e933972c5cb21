package web

import (
	"errors"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/vigilhq/vigil/server"
)

// roles lists the roles in the order forms offer them.
var roles = []string{server.RoleViewer, server.RoleOperator, server.RoleRelease, server.RoleAdmin}

// usersPage renders the users page with a notice or an error (admin only: the Service refuses
// others).
func (h *Handler) usersPage(w http.ResponseWriter, r *http.Request, p server.Principal, status int, notice, errMsg string) {
	us, err := h.cfg.Service.ListUsers(r.Context(), p)
	if err != nil {
		h.fail(w, r, p, err)
		return
	}
	h.render(w, r, status, "users", page{Title: "Users", Principal: p, Notice: notice, Error: errMsg,
		Data: map[string]any{"Users": us, "Roles": roles}})
}

func (h *Handler) users(w http.ResponseWriter, r *http.Request, p server.Principal) {
	h.usersPage(w, r, p, http.StatusOK, "", "")
}

// formError maps a refused change to a status and a message for the page; ok is false for errors
// that are not the user's to fix (then the caller fails the request).
func formError(err error) (status int, msg string, ok bool) {
	switch {
	case errors.Is(err, server.ErrInvalid):
		return http.StatusBadRequest, err.Error(), true
	case errors.Is(err, server.ErrConflict):
		return http.StatusConflict, "That name is taken.", true
	case errors.Is(err, server.ErrNotFound):
		return http.StatusNotFound, "Not found (removed meanwhile?).", true
	case errors.Is(err, server.ErrForbidden):
		return http.StatusForbidden, err.Error(), true
	}
	return 0, "", false
}

func (h *Handler) addUser(w http.ResponseWriter, r *http.Request, p server.Principal) {
	name, role := r.PostForm.Get("name"), r.PostForm.Get("role")
	_, err := h.cfg.Service.CreateUser(r.Context(), p, name, role, r.PostForm.Get("password"))
	h.afterUserChange(w, r, p, err, "User "+name+" added with role "+role+".")
}

func (h *Handler) setUserRole(w http.ResponseWriter, r *http.Request, p server.Principal) {
	name, role := mux.Vars(r)["name"], r.PostForm.Get("role")
	_, err := h.cfg.Service.SetUserRole(r.Context(), p, name, role)
	h.afterUserChange(w, r, p, err, "User "+name+" now has role "+role+".")
}

func (h *Handler) removeUser(w http.ResponseWriter, r *http.Request, p server.Principal) {
	name := mux.Vars(r)["name"]
	err := h.cfg.Service.DeleteUser(r.Context(), p, name)
	h.afterUserChange(w, r, p, err, "User "+name+" removed; their sessions ended and their API tokens were revoked.")
}

func (h *Handler) afterUserChange(w http.ResponseWriter, r *http.Request, p server.Principal, err error, done string) {
	if err != nil {
		status, msg, ok := formError(err)
		if !ok {
			h.fail(w, r, p, err)
			return
		}
		if status == http.StatusForbidden && !server.Allowed(p, server.RoleAdmin) {
			h.fail(w, r, p, err)
			return
		}
		h.usersPage(w, r, p, status, "", msg)
		return
	}
	h.usersPage(w, r, p, http.StatusOK, done, "")
}

// accountPage renders the account page: the user, their API tokens, and a new token's secret once.
func (h *Handler) accountPage(w http.ResponseWriter, r *http.Request, p server.Principal, status int, notice, errMsg, secret string) {
	ts, err := h.cfg.Service.ListAPITokens(r.Context(), p)
	if err != nil {
		h.fail(w, r, p, err)
		return
	}
	mine := ts[:0]
	for _, t := range ts {
		if t.Owner == p.UserID && !t.Revoked {
			mine = append(mine, t)
		}
	}
	h.render(w, r, status, "account", page{Title: "Account", Principal: p, Notice: notice, Error: errMsg,
		Data: map[string]any{"Tokens": mine, "Roles": roles, "Secret": secret}})
}

func (h *Handler) createToken(w http.ResponseWriter, r *http.Request, p server.Principal) {
	secret, t, err := h.cfg.Service.CreateAPIToken(r.Context(), p, r.PostForm.Get("name"), r.PostForm.Get("role"))
	if err != nil {
		status, msg, ok := formError(err)
		if !ok {
			h.fail(w, r, p, err)
			return
		}
		h.accountPage(w, r, p, status, "", msg, "")
		return
	}
	h.accountPage(w, r, p, http.StatusOK, "API token "+t.Name+" ("+t.Role+") created. Copy it now: it is shown only once.", "", secret)
}

func (h *Handler) revokeToken(w http.ResponseWriter, r *http.Request, p server.Principal) {
	if err := h.cfg.Service.RevokeAPIToken(r.Context(), p, mux.Vars(r)["id"]); err != nil {
		status, msg, ok := formError(err)
		if !ok {
			h.fail(w, r, p, err)
			return
		}
		h.accountPage(w, r, p, status, "", msg, "")
		return
	}
	h.accountPage(w, r, p, http.StatusOK, "API token revoked.", "", "")
}
