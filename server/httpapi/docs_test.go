package httpapi

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gorilla/mux"
)

// TestRoutesDocumented walks the router's own route list and fails for every method and path
// registered that docs/api.md does not name as "`METHOD /path" (followed by "`", "[" or a space).
func TestRoutesDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "api.md"))
	if err != nil {
		t.Fatal(err)
	}
	e := newReleaseEnv(t, true) // with a release repository and alerting: every route
	var routes []string
	err = e.api.Router().Walk(func(r *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := r.GetPathTemplate()
		if err != nil {
			return nil // a route without a path (none today)
		}
		methods, err := r.GetMethods()
		if err != nil {
			return nil // the /api/v1 prefix itself
		}
		for _, m := range methods {
			routes = append(routes, m+" "+tpl)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(routes) < 50 {
		t.Fatalf("walked only %d routes: %v", len(routes), routes)
	}
	text := string(doc)
	for _, rt := range routes {
		found := false
		for rest := text; ; {
			i := strings.Index(rest, "`"+rt)
			if i < 0 {
				break
			}
			rest = rest[i+1+len(rt):]
			if rest == "" || strings.ContainsRune("`[ ", rune(rest[0])) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("docs/api.md does not document `%s`", rt)
		}
	}
}
