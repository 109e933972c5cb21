package e2eproc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/apiclient"
	"github.com/vigilhq/vigil/wire"
)

// maxAnswer bounds the answers PostJSON reads (our own server's).
const maxAnswer = 8 << 20

// PostJSON posts v to s at path (with a Bearer token when given), expects status and decodes the
// answer into out when set.
func PostJSON(ctx context.Context, s *Server, path, bearer string, v any, status int, out any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+path, bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := s.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if resp.StatusCode != status {
		return fmt.Errorf("POST %s: %d %s", path, resp.StatusCode, body)
	}
	if out != nil {
		return json.Unmarshal(body, out)
	}
	return nil
}

// EnrollHost enrolls a synthetic linux/amd64 host by name with an enrollment token, as an agent
// at agentVersion does, and returns its id and credential.
func EnrollHost(ctx context.Context, t testing.TB, s *Server, token, name, agentVersion string) (id, cred string) {
	t.Helper()
	var resp wire.EnrollResponse
	if err := PostJSON(ctx, s, "/api/v1/enroll", "", wire.EnrollRequest{EnrollmentToken: token, Hostname: name,
		MachineID: "machine-" + name, OS: "linux", Arch: "amd64", AgentVersion: agentVersion}, http.StatusCreated, &resp); err != nil {
		t.Fatalf("enroll %s: %v", name, err)
	}
	return resp.HostID, resp.Credential
}

// OnlySilenceRule deletes every alert rule but the silence rule, so that synthetic reports do
// not trip thresholds and add notifications to the ones a test counts.
func OnlySilenceRule(ctx context.Context, t testing.TB, admin *apiclient.Client) {
	t.Helper()
	rules, err := admin.ListRules(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		if r.Kind != api.KindSilence {
			if err := admin.DeleteRule(ctx, r.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
}
