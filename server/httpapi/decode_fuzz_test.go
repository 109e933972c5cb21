package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/vigilhq/vigil/wire"
)

// bodyEndpoints are the operator endpoints that decode a JSON body, with the role that may call
// them (so the decoder, not the role check, sees the body).
var bodyEndpoints = []struct {
	method, path string
	admin        bool
}{
	{http.MethodPost, "/api/v1/repo/init", true},
	{http.MethodPost, "/api/v1/repo/rotate-root", true},
	{http.MethodPost, "/api/v1/releases/1.0.0/stage", false},
	{http.MethodPost, "/api/v1/releases/1.0.0/promote", false},
	{http.MethodPost, "/api/v1/drafts/1.0.0/signatures", false},
	{http.MethodPost, "/api/v1/rules", true},
	{http.MethodPost, "/api/v1/silences", true},
}

var decodeSeeds = []string{
	``, `null`, `{}`, `[]`, `"x"`, `0`, `{"root": null}`, `{"root": 1}`, `{"root": {}, "targets": null}`,
	`{"root": {"signed": {}, "signatures": []}}`, `{"signed": null, "signatures": null}`,
	`{"signed": {"_type": "targets"}, "signatures": [{"keyid": "ab", "sig": "zz"}]}`,
	`{"signed": 1, "signatures": [null, 1, "x"]}`, `{"keyid": "a", "sig": "00"}`, `{"keyid": 1}`,
	`{"artifacts": [{"name": "../../etc/passwd", "length": -1, "sha256": "x"}]}`,
	`{"artifacts": null, "channels": ["", "../x"], "min_version": "not a version"}`, `{"channel": "../../stable"}`,
	`{"kind": "cpu", "threshold": 1e308, "for": "-5m"}`, `{"kind": "cpu", "for": 9223372036854775807}`,
	`{"kind": "silence", "for": "99999999h"}`, `{"kind": "disk", "threshold": 50, "group": "../x"}`,
	`{"host_id": "h", "duration": "-1h"}`, `{"host_id": "h", "duration": "2562047h"}`,
	`{"group": "g", "starts_at": "0001-01-01T00:00:00Z", "ends_at": "9999-12-31T23:59:59Z"}`,
	`{"rule_id": "r", "ends_at": "not a time"}`, `{"a": 1} {"b": 2}`, `{"kind": "cpu", "unknown": 1}`,
	"\x00\xff", `{"root": "` + string(bytes.Repeat([]byte("A"), 4096)) + `"}`,
}

// checkDecodes posts body to every body endpoint and fails on a 5xx or an answer that is not the
// JSON error shape: malformed input is the caller's error, never the server's.
func checkDecodes(t *testing.T, e *releaseEnv, body []byte) {
	for _, ep := range bodyEndpoints {
		tok := e.relTok
		if ep.admin {
			tok = e.adminTok
		}
		req, err := http.NewRequestWithContext(context.Background(), ep.method, e.base+ep.path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := e.hc.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", ep.method, ep.path, err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Errorf("%s %s with %q: %d %s", ep.method, ep.path, body, resp.StatusCode, data)
			continue
		}
		if resp.StatusCode >= 400 {
			var er wire.ErrorResponse
			if err := json.Unmarshal(data, &er); err != nil || er.Error.Code == "" {
				t.Errorf("%s %s with %q: %d answer is not the error shape: %s", ep.method, ep.path, body, resp.StatusCode, data)
			}
		}
	}
}

// newDecodeEnv is a repository with root, a published release 0.9.0 and a pending draft 1.0.0.
func newDecodeEnv(t testing.TB) *releaseEnv {
	e := newReleaseEnv(t, true)
	e.initRepo(t)
	e.stage(t, "1.0.0", []byte("agent build"))
	return e
}

// TestDecodeMalformedBodies runs the seeds of FuzzDecodeBodies.
func TestDecodeMalformedBodies(t *testing.T) {
	e := newDecodeEnv(t)
	for _, s := range decodeSeeds {
		checkDecodes(t, e, []byte(s))
	}
}

// FuzzDecodeBodies feeds arbitrary bodies to the release and alerting endpoints that decode
// JSON: none may answer 5xx or panic.
func FuzzDecodeBodies(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add([]byte(s))
	}
	e := newDecodeEnv(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		checkDecodes(t, e, body)
	})
}
