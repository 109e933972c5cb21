package apiclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/wire"
)

// TestLeaf: the client links only api, wire and the standard library.
func TestLeaf(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		switch p {
		case "github.com/vigilhq/vigil/apiclient", "github.com/vigilhq/vigil/api", "github.com/vigilhq/vigil/wire":
		default:
			t.Errorf("apiclient links %s; it may import only api, wire and the standard library", p)
		}
	}
}

func serve(t *testing.T, h http.HandlerFunc) *Client {
	t.Helper()
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return New(hs.URL+"/", "tok", hs.Client())
}

func TestErrorsBranchByCode(t *testing.T) {
	cl := serve(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/hosts/gone":
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"error": {"code": "not_found", "message": "no host gone"}}`)
		case "/api/v1/drafts/1.0.0/publish":
			w.WriteHeader(http.StatusConflict)
			fmt.Fprint(w, `{"error": {"code": "threshold_not_met", "message": "1 of 2"}}`)
		default:
			w.WriteHeader(http.StatusBadGateway)
			fmt.Fprint(w, "<html>proxy says no</html>"+strings.Repeat("x", 4<<10))
		}
	})
	ctx := context.Background()

	_, err := cl.GetHost(ctx, "gone")
	var e *Error
	if !errors.As(err, &e) || e.Status != http.StatusNotFound || e.Code != api.CodeNotFound || e.Message != "no host gone" {
		t.Fatalf("GetHost: %#v, want a 404 not_found *Error", err)
	}
	if !errors.Is(err, ErrNotFound) || errors.Is(err, ErrForbidden) || !IsCode(err, api.CodeNotFound) {
		t.Errorf("GetHost error %v does not branch as not_found", err)
	}

	_, err = cl.Publish(ctx, "1.0.0")
	if !IsCode(err, api.CodeThresholdNotMet) || errors.Is(err, ErrConflict) {
		t.Errorf("Publish: %v, want threshold_not_met and not the generic conflict", err)
	}

	_, err = cl.ListGroups(ctx)
	if !errors.As(err, &e) || e.Status != http.StatusBadGateway || e.Code != "http" || len(e.Message) > maxErrorText+len("…") {
		t.Errorf("non-JSON error: %#v, want a 502 *Error with code http and its text cut to %d bytes", err, maxErrorText)
	}
}

func TestRequestCarriesTokenAndProtocol(t *testing.T) {
	var got *http.Request
	var body string
	cl := serve(t, func(w http.ResponseWriter, r *http.Request) {
		got = r
		b, _ := io.ReadAll(r.Body)
		body = string(b)
		w.WriteHeader(http.StatusOK)
		fmt.Fprint(w, `{"version": "1.2.3"}`)
	})
	pin, err := cl.SetPin(context.Background(), "web servers", api.Pin{Version: "1.2.3"})
	if err != nil || pin.Version != "1.2.3" {
		t.Fatalf("SetPin: %+v %v", pin, err)
	}
	if got.Method != http.MethodPut || got.URL.EscapedPath() != "/api/v1/groups/web%20servers/pin" {
		t.Errorf("request %s %s", got.Method, got.URL.EscapedPath())
	}
	if got.Header.Get("Authorization") != "Bearer tok" || got.Header.Get(wire.ProtocolHeader) != "1" ||
		got.Header.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", got.Header)
	}
	if body != `{"version":"1.2.3"}` {
		t.Errorf("body %s", body)
	}
}

func TestAnswerTooLarge(t *testing.T) {
	cl := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		chunk := []byte(strings.Repeat(" ", 1<<20))
		for range MaxResponseBytes>>20 + 1 {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	if _, err := cl.ListHosts(context.Background(), ""); !errors.Is(err, ErrResponseTooLarge) {
		t.Fatalf("ListHosts with a %d MiB answer: %v, want ErrResponseTooLarge", MaxResponseBytes>>20+1, err)
	}
}

func TestUploadArtifact(t *testing.T) {
	var got *http.Request
	var body string
	cl := serve(t, func(w http.ResponseWriter, r *http.Request) {
		got = r
		b, _ := io.ReadAll(r.Body)
		body = string(b)
		w.WriteHeader(http.StatusUnprocessableEntity)
		fmt.Fprint(w, `{"error": {"code": "blob_mismatch", "message": "sha256 differs"}}`)
	})
	a := api.ArtifactInfo{Name: "vigil-agent-linux-amd64", Length: 5, SHA256: strings.Repeat("ab", 32)}
	err := cl.WithoutTimeout().UploadArtifact(context.Background(), "1.0.0", a, strings.NewReader("build"))
	if !IsCode(err, api.CodeBlobMismatch) {
		t.Fatalf("upload: %v, want blob_mismatch", err)
	}
	if got.Method != http.MethodPut || got.URL.Path != "/api/v1/releases/1.0.0/artifacts/vigil-agent-linux-amd64" ||
		got.ContentLength != 5 || got.Header.Get(api.HeaderSHA256) != a.SHA256 || got.Header.Get("Authorization") != "Bearer tok" || body != "build" {
		t.Errorf("upload request %s %s length %d headers %v body %q", got.Method, got.URL.Path, got.ContentLength, got.Header, body)
	}
}
