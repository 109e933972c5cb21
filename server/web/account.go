package web

import (
	"errors"
	"net/http"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/httpapi"
)

// auditPageSize is how many audit entries one page shows.
const auditPageSize = 200

// audit shows the audit log, filtered by the query's actor, action, target, since and until (the
// API's parameters).
func (h *Handler) audit(w http.ResponseWriter, r *http.Request, p server.Principal) {
	q := r.URL.Query()
	f, err := httpapi.ParseAuditQuery(q)
	if err != nil {
		h.render(w, r, http.StatusBadRequest, "audit", page{Title: "Audit log", Principal: p, Error: err.Error(),
			Data: map[string]any{"Query": q, "Entries": nil}})
		return
	}
	if f.Limit == 0 {
		f.Limit = auditPageSize
	}
	es, err := h.cfg.Service.SearchAudit(r.Context(), p, f)
	if err != nil {
		if errors.Is(err, server.ErrInvalid) {
			h.render(w, r, http.StatusBadRequest, "audit", page{Title: "Audit log", Principal: p, Error: err.Error(),
				Data: map[string]any{"Query": q}})
			return
		}
		h.fail(w, r, p, err)
		return
	}
	h.render(w, r, http.StatusOK, "audit", page{Title: "Audit log", Principal: p, Data: map[string]any{
		"Query": q, "Entries": es}})
}

// account shows the signed-in user and the password form.
func (h *Handler) account(w http.ResponseWriter, r *http.Request, p server.Principal) {
	h.accountPage(w, r, p, http.StatusOK, "", "", "")
}

// changePassword sets the signed-in user's password (checking the current one). The Service ends
// all of the user's sessions, this one included, so the browser signs in again.
func (h *Handler) changePassword(w http.ResponseWriter, r *http.Request, p server.Principal) {
	cur, pw, again := r.PostForm.Get("current"), r.PostForm.Get("password"), r.PostForm.Get("again")
	if pw != again {
		h.accountPage(w, r, p, http.StatusBadRequest, "", "The new passwords differ.", "")
		return
	}
	// Even an admin gives the current password here: a stolen session must not be enough to
	// take the account over.
	self := p
	self.Role = server.RoleViewer
	err := h.cfg.Service.SetPassword(r.Context(), self, p.User, cur, pw)
	switch {
	case errors.Is(err, server.ErrInvalid):
		h.accountPage(w, r, p, http.StatusBadRequest, "", err.Error(), "")
		return
	case errors.Is(err, server.ErrForbidden):
		h.accountPage(w, r, p, http.StatusForbidden, "", "The current password is wrong.", "")
		return
	case err != nil:
		h.fail(w, r, p, err)
		return
	}
	h.clearCookie(w)
	h.render(w, r, http.StatusOK, "login", page{Title: "Sign in", Notice: "Your password was changed and all your sessions ended. Sign in with the new password."})
}
