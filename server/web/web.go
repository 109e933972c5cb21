// Package web serves Vigil's dashboard: the fleet at a glance, each host's latest state and update
// history, and groups with their pins. Pages are rendered on the server with html/template (which
// escapes everything hosts report) from embedded templates and assets; there is no JavaScript.
//
// Trust model: the dashboard authenticates with an API token the operator pastes once; it is kept
// in a cookie that is HttpOnly, Secure and SameSite=Strict, so scripts cannot read it and other
// sites cannot ride on it. Every page is read-only (GET); the only state-changing requests are
// login and logout (POST, same-site only). Authorization is the Service's, per the token's role.
package web

import (
	"bytes"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/vigilhq/vigil/server"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// cookieName holds the operator's API token.
const cookieName = "vigil_token"

// maxLoginBytes bounds the login form.
const maxLoginBytes = 4 << 10

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
}

// Handler serves the dashboard. It is safe for concurrent use.
type Handler struct {
	cfg  Config
	tmpl map[string]*template.Template
	mux  *mux.Router
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
	funcs := template.FuncMap{
		"ago":     h.ago,
		"pct":     func(v float64) string { return fmtFloat(v) + "%" },
		"mib":     func(b uint64) string { return fmtFloat(float64(b)/(1<<30)) + " GiB" },
		"time":    func(t time.Time) string { return fmtTime(t) },
		"status":  h.status,
		"pinText": pinText,
		"plural":  server.Plural,
		"shortID": func(id string) string { return id[:min(len(id), 8)] },
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
	h.mux.HandleFunc("/logout", h.logout).Methods(http.MethodPost)
	h.mux.HandleFunc("/", h.auth(h.fleet)).Methods(http.MethodGet)
	h.mux.HandleFunc("/hosts/{id}", h.auth(h.host)).Methods(http.MethodGet)
	h.mux.HandleFunc("/groups", h.auth(h.groups)).Methods(http.MethodGet)
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
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'")
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
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	p.Version = h.cfg.Version
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

func (h *Handler) auth(next authed) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(cookieName)
		if err != nil {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		p, err := h.cfg.Service.Authenticate(r.Context(), c.Value)
		if err != nil {
			h.clearCookie(w)
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		next(w, r, p)
	}
}

func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, "login", page{Title: "Sign in"})
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBytes)
	if err := r.ParseForm(); err != nil {
		h.render(w, r, http.StatusBadRequest, "login", page{Title: "Sign in", Error: "The form could not be read."})
		return
	}
	token := strings.TrimSpace(r.PostForm.Get("token"))
	if _, err := h.cfg.Service.Authenticate(r.Context(), token); err != nil {
		h.render(w, r, http.StatusUnauthorized, "login", page{Title: "Sign in", Error: "That token is not valid."})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: token, Path: "/", HttpOnly: true, Secure: true,
		SameSite: http.SameSiteStrictMode, MaxAge: int((12 * time.Hour).Seconds())})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
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
		status, msg = http.StatusForbidden, "Your token's role may not see this."
	default:
		h.cfg.Logger.ErrorContext(r.Context(), "Dashboard request failed.", "path", r.URL.Path, "err", err)
	}
	h.render(w, r, status, "error", page{Title: "Error", Principal: p, Error: msg})
}

// fleetRow is a host in the fleet table.
type fleetRow struct {
	server.Host
	Status string
}

func (h *Handler) fleet(w http.ResponseWriter, r *http.Request, p server.Principal) {
	group := r.URL.Query().Get("group")
	hosts, err := h.cfg.Service.ListHosts(r.Context(), p, group)
	if err != nil {
		h.fail(w, r, p, err)
		return
	}
	groups, err := h.cfg.Service.ListGroups(r.Context(), p)
	if err != nil {
		h.fail(w, r, p, err)
		return
	}
	rows := make([]fleetRow, 0, len(hosts))
	counts := map[string]int{}
	for _, host := range hosts {
		st := h.status(host)
		counts[st]++
		rows = append(rows, fleetRow{Host: host, Status: st})
	}
	// Problems first, then by name.
	rank := map[string]int{server.StatusSilent: 0, server.StatusUnreachable: 1, server.StatusLate: 2, server.StatusUp: 3, "revoked": 4}
	slices.SortStableFunc(rows, func(a, b fleetRow) int { return rank[a.Status] - rank[b.Status] })
	h.render(w, r, http.StatusOK, "fleet", page{Title: "Fleet", Principal: p, Data: map[string]any{
		"Rows": rows, "Counts": counts, "Group": group, "Groups": groups, "Total": len(rows)}})
}

func (h *Handler) host(w http.ResponseWriter, r *http.Request, p server.Principal) {
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
	h.render(w, r, http.StatusOK, "host", page{Title: host.Hostname, Principal: p, Data: map[string]any{
		"Host": host, "Group": g, "Status": h.status(host), "Events": events}})
}

func (h *Handler) groups(w http.ResponseWriter, r *http.Request, p server.Principal) {
	groups, err := h.cfg.Service.ListGroups(r.Context(), p)
	if err != nil {
		h.fail(w, r, p, err)
		return
	}
	h.render(w, r, http.StatusOK, "groups", page{Title: "Groups", Principal: p, Data: groups})
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

func pinText(p server.Pin) string {
	switch {
	case p.Version != "":
		return "version " + p.Version
	case p.Channel != "":
		return "channel " + p.Channel
	}
	return "not pinned"
}
