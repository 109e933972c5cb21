package httpapi

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/wire"
)

// Request body kinds of the /api/v1 routes.
const (
	bodyJSON = "application/json"         // a JSON document
	bodyRaw  = "application/octet-stream" // bytes (a build)
)

// bodyRoutes names every /api/v1 route ("METHOD template") that takes a request body, and its
// kind; every other route takes none. checkBody enforces it, so a route added without an entry
// here refuses bodies until one is added (and TestBadInputOverRouteTable sends every route the
// bad bodies there are).
var bodyRoutes = map[string]string{
	"POST /api/v1/enroll":                             bodyJSON,
	"POST /api/v1/reports":                            bodyJSON,
	"POST /api/v1/updates/events":                     bodyJSON,
	"PUT /api/v1/hosts/{id}/group":                    bodyJSON,
	"PUT /api/v1/hosts/{id}/agent-settings":           bodyJSON,
	"POST /api/v1/groups":                             bodyJSON,
	"PATCH /api/v1/groups/{name}":                     bodyJSON,
	"PUT /api/v1/groups/{name}":                       bodyJSON,
	"PUT /api/v1/groups/{name}/pin":                   bodyJSON,
	"PUT /api/v1/groups/{name}/agent-settings":        bodyJSON,
	"POST /api/v1/enrollment-tokens":                  bodyJSON,
	"POST /api/v1/tokens":                             bodyJSON,
	"POST /api/v1/repo/init":                          bodyJSON,
	"POST /api/v1/repo/rotate-root":                   bodyJSON,
	"PUT /api/v1/releases/{version}/artifacts/{name}": bodyRaw,
	"POST /api/v1/releases/{version}/stage":           bodyJSON,
	"POST /api/v1/releases/{version}/promote":         bodyJSON,
	"POST /api/v1/drafts/{name}/signatures":           bodyJSON,
	"POST /api/v1/rules":                              bodyJSON,
	"POST /api/v1/silences":                           bodyJSON,
	"POST /api/v1/users":                              bodyJSON,
	"PUT /api/v1/users/{name}/role":                   bodyJSON,
	"PUT /api/v1/users/{name}/password":               bodyJSON,
	"PUT /api/v1/groups/{name}/rollout-policy":        bodyJSON,
}

// errUnsupportedType: a body whose Content-Type is not the route's (415).
var errUnsupportedType = errors.New("unsupported Content-Type")

// routeKey is "METHOD template" of the route r matched, or "" if none.
func routeKey(r *http.Request) string {
	cur := mux.CurrentRoute(r)
	if cur == nil {
		return ""
	}
	tpl, err := cur.GetPathTemplate()
	if err != nil {
		return ""
	}
	return r.Method + " " + tpl
}

// checkBody refuses, before any handler runs, a bad body shape (checkBodyShape) on the routes hosts
// call. Operator routes check it in opAuthRole, after the role, so authorization never depends on
// what was sent.
func (a *API) checkBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hostRouteKeys[routeKey(r)] {
			if err := checkBodyShape(r); err != nil {
				a.writeError(w, r, err)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// hostRouteKeys are the routes hosts call (with a host credential, an enrollment token or none).
var hostRouteKeys = map[string]bool{
	"POST /api/v1/enroll": true, "POST /api/v1/reports": true,
	"GET /api/v1/updates/desired": true, "POST /api/v1/updates/events": true,
}

// checkBodyShape refuses a body on a route that takes none (400) and a body whose Content-Type is
// not the route's (415; a missing Content-Type is accepted, as the body is then decoded as the
// route's kind anyway).
func checkBodyShape(r *http.Request) error {
	kind, ok := bodyRoutes[routeKey(r)]
	if !ok {
		if hasBody(r) {
			return fmt.Errorf("%w: %s %s takes no request body", server.ErrInvalid, r.Method, r.URL.Path)
		}
		return nil
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != kind {
			return fmt.Errorf("%w %q: send Content-Type: %s", errUnsupportedType, ct, kind)
		}
	}
	return nil
}

// hasBody reports whether r carries at least one byte of body. A body of unknown length is
// peeked at (one byte) and left intact for the handler.
func hasBody(r *http.Request) bool {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return false
	}
	if r.ContentLength > 0 {
		return true
	}
	br := bufio.NewReaderSize(io.LimitReader(r.Body, wire.MaxSmallBodyBytes+1), 16)
	_, err := br.Peek(1)
	r.Body = struct {
		io.Reader
		io.Closer
	}{br, r.Body}
	return err == nil
}
