// Package web serves Vigil's dashboard: the fleet at a glance, each host's latest state and update
// history (clear its quarantine), groups with their pins, rollout policies and rollouts (pin, set
// the policy, pause, resume, abort), releases (versions, channels, drafts' signatures, metadata
// expiry; the online steps: publish a signed draft, discard one, draft a channel move or a
// renewal), alerts (acknowledge), maintenance silences
// (create, end), the notification outbox, the audit log, users (admin) and the signed-in user's
// account (password, own API tokens). Pages are
// rendered on the server with html/template (which escapes everything hosts report) from embedded
// templates and assets. Host charts are SVG drawn on the server (chart.go). One script only,
// assets/refresh.js, refreshes a table in place: the fleet table from GET /fleet/rows, the groups
// table (rollout progress) from GET /groups/rows (every page works without it); the
// Content-Security-Policy allows scripts and fetches from this server only, never inline.
//
// Trust model: people sign in with a user name and password (server.Service.Login: argon2id,
// lockout per account and per address). The browser holds only a random session ID, in a cookie
// that is __Host- prefixed, HttpOnly, Secure and SameSite=Strict, so scripts cannot read it and
// other sites cannot send it; the server keeps the ID's SHA-256, with idle and absolute expiry,
// and forgets it on sign-out and on a password change. The scripts' timed refreshes do not count
// as use (authRefresh), so an open tab does not hold its session past the idle limit. No API token ever reaches the browser.
// Every state-changing request is a POST form that must carry the session's CSRF token (an HMAC
// of the session ID, compared in constant time) and, if the browser sends them, an Origin of
// this server and Sec-Fetch-Site same-origin; sign-in, which has no session yet, requires the
// Origin check. Authorization is the Service's, per the user's role: every action calls the same
// server.Service, rollout.Manager or alert.Manager method as the API route that does it, which
// checks the role and writes the audit log (the release repository's online steps through
// httpapi.ReleaseOps, which the API's release routes call too), so a form only offers what that
// method allows.
package web

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/alert"
	"github.com/vigilhq/vigil/server/httpapi"
	"github.com/vigilhq/vigil/server/rollout"
	"github.com/vigilhq/vigil/server/tufrepo"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// cookieName holds the session ID. The __Host- prefix makes browsers refuse it unless it is Secure,
// for path / and without a Domain, so a sibling host cannot plant or read one.
const cookieName = "__Host-vigil_session"

// maxFormBytes bounds every form body.
const maxFormBytes = 8 << 10

// Config configures the dashboard.
type Config struct {
	// Service is required.
	Service *server.Service
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Version is shown in the footer.
	Version string
	// Now defaults to time.Now.
	Now func() time.Time
	// Releases is the release repository the releases page shows and pins are checked against
	// (as the API does). Nil: no repository; a pin to a version needs force.
	Releases *tufrepo.Repository
	// Rollouts is behind the groups page's rollout progress and its pause, resume and abort.
	// Nil: pins apply at once and no rollouts are shown.
	Rollouts *rollout.Manager
}

// Handler serves the dashboard. It is safe for concurrent use.
type Handler struct {
	cfg  Config
	tmpl map[string]*template.Template
	mux  *mux.Router
	// alerts is the alerting surface over the Service's store (nil if it keeps no alerts).
	alerts *alert.Manager
}

// New parses the templates and builds the routes.
func New(cfg Config) (*Handler, error) {
	if cfg.Service == nil {
		return nil, errors.New("web: Config.Service is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &Handler{cfg: cfg, tmpl: map[string]*template.Template{}, mux: mux.NewRouter()}
	if st, ok := cfg.Service.Store().(alert.Store); ok {
		h.alerts = alert.NewManager(st, cfg.Now)
	}
	funcs := template.FuncMap{
		"ago":        h.ago,
		"pct":        func(v float64) string { return fmtFloat(v) + "%" },
		"mib":        func(b uint64) string { return fmtFloat(float64(b)/(1<<30)) + " GiB" },
		"time":       func(t time.Time) string { return fmtTime(t) },
		"checkValue": func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) },
		"status":     h.status,
		"pinText":    pinText,
		"plural":     server.Plural,
		"shortID":    func(id string) string { return id[:min(len(id), 8)] },
		"outageSpan": outageSpan,
		"meter":      meter,
		"allowed":    server.Allowed,
		"stageName":  rollout.StageName,
		"active":     rollout.Active,
		"until":      h.until,
		"join":       strings.Join,
		"list":       func(v ...any) []any { return v },
	}
	pages, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, p := range pages {
		name := strings.TrimSuffix(strings.TrimPrefix(p, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", p)
		if err != nil {
			return nil, err
		}
		h.tmpl[name] = t
	}
	assets, _ := fs.Sub(assetFS, "assets")
	h.mux.PathPrefix("/assets/").Handler(http.StripPrefix("/assets/", cacheFor(time.Hour, http.FileServerFS(assets))))
	h.mux.HandleFunc("/login", h.loginPage).Methods(http.MethodGet)
	h.mux.HandleFunc("/login", h.login).Methods(http.MethodPost)
	h.mux.HandleFunc("/logout", h.form(h.logout)).Methods(http.MethodPost)
	h.mux.HandleFunc("/audit", h.auth(h.audit)).Methods(http.MethodGet)
	h.mux.HandleFunc("/account", h.auth(h.account)).Methods(http.MethodGet)
	h.mux.HandleFunc("/account/password", h.form(h.changePassword)).Methods(http.MethodPost)
	h.mux.HandleFunc("/account/tokens", h.form(h.createToken)).Methods(http.MethodPost)
	h.mux.HandleFunc("/account/tokens/{id}/revoke", h.form(h.revokeToken)).Methods(http.MethodPost)
	h.mux.HandleFunc("/users", h.auth(h.users)).Methods(http.MethodGet)
	h.mux.HandleFunc("/users", h.form(h.addUser)).Methods(http.MethodPost)
	h.mux.HandleFunc("/users/{name}/role", h.form(h.setUserRole)).Methods(http.MethodPost)
	h.mux.HandleFunc("/users/{name}/remove", h.form(h.removeUser)).Methods(http.MethodPost)
	h.mux.HandleFunc("/", h.auth(h.fleet)).Methods(http.MethodGet)
	h.mux.HandleFunc("/fleet/rows", h.authRefresh(h.fleetRows)).Methods(http.MethodGet)
	h.mux.HandleFunc("/hosts/{id}", h.auth(h.host)).Methods(http.MethodGet)
	h.mux.HandleFunc("/hosts/{id}/clear-quarantine", h.form(h.clearQuarantine)).Methods(http.MethodPost)
	h.mux.HandleFunc("/groups", h.auth(h.groups)).Methods(http.MethodGet)
	h.mux.HandleFunc("/groups/rows", h.authRefresh(h.groupsRows)).Methods(http.MethodGet)
	h.mux.HandleFunc("/groups/{name}/pin", h.form(h.pinGroup)).Methods(http.MethodPost)
	h.mux.HandleFunc("/groups/{name}/rollout-policy", h.form(h.setPolicy)).Methods(http.MethodPost)
	h.mux.HandleFunc("/rollouts/{id}/{action:pause|resume|abort}", h.form(h.actRollout)).Methods(http.MethodPost)
	h.mux.HandleFunc("/releases", h.auth(h.releases)).Methods(http.MethodGet)
	h.mux.HandleFunc("/releases/promote", h.form(h.promoteRelease)).Methods(http.MethodPost)
	h.mux.HandleFunc("/releases/renew", h.form(h.renewTargets)).Methods(http.MethodPost)
	h.mux.HandleFunc("/releases/drafts/{name}/publish", h.form(h.publishDraft)).Methods(http.MethodPost)
	h.mux.HandleFunc("/releases/drafts/{name}/discard", h.form(h.discardDraft)).Methods(http.MethodPost)
	h.mux.HandleFunc("/alerts", h.auth(h.alertList)).Methods(http.MethodGet)
	h.mux.HandleFunc("/alerts/{id}/ack", h.form(h.ackAlert)).Methods(http.MethodPost)
	h.mux.HandleFunc("/silences", h.auth(h.silences)).Methods(http.MethodGet)
	h.mux.HandleFunc("/silences", h.form(h.createSilence)).Methods(http.MethodPost)
	h.mux.HandleFunc("/silences/{id}/end", h.form(h.endSilence)).Methods(http.MethodPost)
	h.mux.HandleFunc("/notifications", h.auth(h.notifications)).Methods(http.MethodGet)
	return h, nil
}

func cacheFor(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age="+itoa(int(d.Seconds())))
		next.ServeHTTP(w, r)
	})
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "same-origin")
	h.mux.ServeHTTP(w, r)
}

type page struct {
	Title     string
	Principal server.Principal
	Version   string
	Now       time.Time
	Data      any
	Error     string
	Notice    string
	// CSRF is the session's token, put in every POST form as the field "csrf".
	CSRF string
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	p.Version = h.cfg.Version
	p.CSRF = sessionOf(r).csrf
	p.Now = h.cfg.Now()
	var buf bytes.Buffer
	if err := h.tmpl[name].Execute(&buf, p); err != nil {
		h.cfg.Logger.ErrorContext(r.Context(), "Rendering a page failed.", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	buf.WriteTo(w)
}

type authed func(w http.ResponseWriter, r *http.Request, p server.Principal)

// session is the signed-in user behind a request and the session's CSRF token.
type session struct {
	id   string
	csrf string
}

type sessionKey struct{}

// auth resolves the session cookie, counting the request as a use of the session; without a
// valid session it sends the browser to /login.
func (h *Handler) auth(next authed) http.HandlerFunc {
	return h.authWith(next, h.cfg.Service.AuthenticateSession)
}

// authRefresh is auth for the fragments the pages' scripts fetch on a timer (GET /fleet/rows
// from refresh.js, GET /groups/rows from refresh.js): they do not count as use, so an open tab
// does not keep its session alive past the idle limit (server.Config.SessionIdle).
func (h *Handler) authRefresh(next authed) http.HandlerFunc {
	return h.authWith(next, h.cfg.Service.AuthenticateSessionRefresh)
}

func (h *Handler) authWith(next authed, authenticate func(ctx context.Context, id, address string) (server.Principal, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(cookieName)
		if err != nil {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		p, err := authenticate(r.Context(), c.Value, httpapi.ClientAddress(r))
		if err != nil {
			if !errors.Is(err, server.ErrUnauthorized) {
				h.cfg.Logger.ErrorContext(r.Context(), "Checking a dashboard session failed.", "err", err)
			}
			h.clearCookie(w)
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		ss := session{id: c.Value, csrf: csrfToken(c.Value)}
		next(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, ss)), p)
	}
}

// csrfToken is the session's synchronizer token: an HMAC of the (secret) session ID, so it is
// bound to the session, needs no storage and reveals nothing about the ID.
func csrfToken(sessionID string) string {
	m := hmac.New(sha256.New, []byte(sessionID))
	m.Write([]byte("vigil dashboard csrf v1"))
	return hex.EncodeToString(m.Sum(nil))
}

func sessionOf(r *http.Request) session {
	ss, _ := r.Context().Value(sessionKey{}).(session)
	return ss
}

// errCrossSite is a state-changing request from another origin or without this session's token.
var errCrossSite = errors.New("cross-site or stale form")

// sameOrigin checks the headers browsers set on a POST: Origin, when present, must be this server
// (scheme and host), and Sec-Fetch-Site, when present, same-origin.
func sameOrigin(r *http.Request) error {
	if sfs := r.Header.Get("Sec-Fetch-Site"); sfs != "" && sfs != "same-origin" && sfs != "none" {
		return fmt.Errorf("%w: Sec-Fetch-Site %s", errCrossSite, sfs)
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil || u.Scheme != "https" || !strings.EqualFold(u.Host, r.Host) {
		return fmt.Errorf("%w: Origin %q is not this server", errCrossSite, origin)
	}
	return nil
}

// form wraps a state-changing POST handler: bounded body, a session, a same-origin request and the
// session's CSRF token. Anything else gets 403 and changes nothing.
func (h *Handler) form(next authed) http.HandlerFunc {
	return h.auth(func(w http.ResponseWriter, r *http.Request, p server.Principal) {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			h.render(w, r, http.StatusBadRequest, "error", page{Title: "Error", Principal: p, Error: "The form could not be read."})
			return
		}
		err := sameOrigin(r)
		if err == nil && subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(sessionOf(r).csrf)) != 1 {
			err = fmt.Errorf("%w: missing or wrong CSRF token", errCrossSite)
		}
		if err != nil {
			h.cfg.Logger.WarnContext(r.Context(), "Refused a dashboard form.", "path", r.URL.Path, "user", p.User,
				"address", httpapi.ClientAddress(r), "err", err)
			h.render(w, r, http.StatusForbidden, "error", page{Title: "Error", Principal: p,
				Error: "This form was not sent from this dashboard page, or your session changed since. Reload the page and try again."})
			return
		}
		next(w, r, p)
	})
}

func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, "login", page{Title: "Sign in"})
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		h.render(w, r, http.StatusBadRequest, "login", page{Title: "Sign in", Error: "The form could not be read."})
		return
	}
	if err := sameOrigin(r); err != nil {
		h.cfg.Logger.WarnContext(r.Context(), "Refused a cross-site sign-in.", "address", httpapi.ClientAddress(r), "err", err)
		h.render(w, r, http.StatusForbidden, "login", page{Title: "Sign in", Error: "Sign in from this dashboard's own page."})
		return
	}
	name := strings.TrimSpace(r.PostForm.Get("user"))
	id, _, err := h.cfg.Service.Login(r.Context(), name, r.PostForm.Get("password"), httpapi.ClientAddress(r))
	var locked *server.LockedOutError
	switch {
	case errors.As(err, &locked):
		w.Header().Set("Retry-After", itoa(max(1, int(time.Until(locked.Until).Seconds()))))
		h.render(w, r, http.StatusTooManyRequests, "login", page{Title: "Sign in",
			Error: "Too many failed sign-ins for " + map[bool]string{true: "this account", false: "your address"}[locked.Account] +
				". Try again after " + locked.Until.UTC().Format("15:04 MST") + ", or ask an admin to reset your password."})
		return
	case errors.Is(err, server.ErrUnauthorized):
		h.render(w, r, http.StatusUnauthorized, "login", page{Title: "Sign in", Error: "Wrong user name or password."})
		return
	case err != nil:
		h.cfg.Logger.ErrorContext(r.Context(), "Sign-in failed.", "err", err)
		h.render(w, r, http.StatusInternalServerError, "login", page{Title: "Sign in", Error: "Signing in failed; the server log has the details."})
		return
	}
	// No MaxAge: the server ends the session (idle and absolute expiry); the cookie goes with the
	// browser session.
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: id, Path: "/", HttpOnly: true, Secure: true,
		SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request, p server.Principal) {
	if err := h.cfg.Service.Logout(r.Context(), sessionOf(r).id); err != nil {
		h.fail(w, r, p, err)
		return
	}
	h.clearCookie(w)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func (h *Handler) clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, p server.Principal, err error) {
	status := http.StatusInternalServerError
	msg := "Something went wrong; the server log has the details."
	switch {
	case errors.Is(err, server.ErrNotFound):
		status, msg = http.StatusNotFound, "Not found."
	case errors.Is(err, server.ErrForbidden):
		status, msg = http.StatusForbidden, "Your role may not do this."
	default:
		h.cfg.Logger.ErrorContext(r.Context(), "Dashboard request failed.", "path", r.URL.Path, "err", err)
	}
	h.render(w, r, status, "error", page{Title: "Error", Principal: p, Error: msg})
}

func (h *Handler) host(w http.ResponseWriter, r *http.Request, p server.Principal) {
	h.hostPage(w, r, p, "")
}

// hostPage renders the host page, with notice after an action.
func (h *Handler) hostPage(w http.ResponseWriter, r *http.Request, p server.Principal, notice string) {
	id := mux.Vars(r)["id"]
	host, err := h.cfg.Service.GetHost(r.Context(), p, id)
	if err != nil {
		h.fail(w, r, p, err)
		return
	}
	g, err := h.cfg.Service.GetGroup(r.Context(), p, host.Group)
	if err != nil {
		h.fail(w, r, p, err)
		return
	}
	events, err := h.cfg.Service.ListUpdateEvents(r.Context(), p, id)
	if err != nil {
		h.fail(w, r, p, err)
		return
	}
	d, err := h.hostDetails(r, p, host)
	if isBadRange(err) {
		h.render(w, r, http.StatusBadRequest, "error", page{Title: "Error", Principal: p,
			Error: "Unknown chart range: choose 6h, 24h, 7d or 30d."})
		return
	}
	if err != nil {
		h.fail(w, r, p, err)
		return
	}
	cleared, err := h.lastQuarantineClear(r, p, id)
	if err != nil {
		h.fail(w, r, p, err)
		return
	}
	d["Host"], d["Group"], d["Status"], d["Events"] = host, g, h.status(host), events
	d["Quarantined"], d["QuarantineCleared"] = quarantined(events, cleared), cleared
	h.render(w, r, http.StatusOK, "host", page{Title: host.Hostname, Principal: p, Data: d, Notice: notice})
}

// status is the host's status as the Service derived it (server.HostStatus: up, late, silent or
// unreachable), or "revoked".
func (h *Handler) status(host server.Host) string {
	if host.Revoked {
		return "revoked"
	}
	return host.Status
}

func (h *Handler) ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := h.cfg.Now().Sub(t)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return itoa(int(d.Seconds())) + " s ago"
	case d < time.Hour:
		return itoa(int(d.Minutes())) + " min ago"
	case d < 48*time.Hour:
		return itoa(int(d.Hours())) + " h ago"
	}
	return itoa(int(d.Hours()/24)) + " days ago"
}

// until says how far t is from now: "in 3 days", "in 5 h", "in 12 min", or as ago when past.
func (h *Handler) until(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	d := t.Sub(h.cfg.Now())
	if d < 0 {
		return h.ago(t)
	}
	// Rounded to the nearest unit: a silence of 2h just created ends "in 2 h".
	switch {
	case d < time.Hour:
		return "in " + itoa(int((d + 30*time.Second).Minutes())) + " min"
	case d < 48*time.Hour:
		return "in " + itoa(int((d + 30*time.Minute).Hours())) + " h"
	}
	return "in " + itoa(int((d+12*time.Hour).Hours()/24)) + " days"
}

func pinText(p server.Pin) string {
	switch {
	case p.Version != "":
		return "version " + p.Version
	case p.Channel != "":
		return "channel " + p.Channel
	}
	return "not pinned"
}
