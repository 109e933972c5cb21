package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// signIn signs in to the dashboard at base as user with password, as a browser does (form post
// from the server's own origin), and returns the session cookie to send with later requests.
func signIn(t *testing.T, hc *http.Client, base, user, password string) *http.Cookie {
	t.Helper()
	noRedirect := *hc
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	form := url.Values{"user": {user}, "password": {password}}
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, base+"/login", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == "__Host-vigil_session" {
			return c
		}
	}
	t.Fatalf("sign-in as %s: %s, no session cookie", user, resp.Status)
	return nil
}
