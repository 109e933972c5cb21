package apiclient

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/vigilhq/vigil/api"
)

// raw fetches a JSON document as bytes (metadata must be kept byte for byte).
func (c *Client) raw(ctx context.Context, path string) ([]byte, error) {
	var out json.RawMessage
	if err := c.Do(ctx, http.MethodGet, path, nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// OnlineKeys returns the server's online snapshot and timestamp keys.
func (c *Client) OnlineKeys(ctx context.Context) (api.OnlineKeys, error) {
	var out api.OnlineKeys
	err := c.Do(ctx, http.MethodGet, "/api/v1/repo/online-keys", nil, &out)
	return out, err
}

// InitRepo creates the release repository from signed root (and optionally targets) metadata.
func (c *Client) InitRepo(ctx context.Context, root, targets []byte) (api.RepoStatus, error) {
	var out api.RepoStatus
	err := c.Do(ctx, http.MethodPost, "/api/v1/repo/init", api.RepoMetadataRequest{Root: root, Targets: targets}, &out)
	return out, err
}

// RotateRoot publishes the next root (and, when a targets key was revoked, re-signed targets).
func (c *Client) RotateRoot(ctx context.Context, root, targets []byte) (api.RepoStatus, error) {
	var out api.RepoStatus
	err := c.Do(ctx, http.MethodPost, "/api/v1/repo/rotate-root", api.RepoMetadataRequest{Root: root, Targets: targets}, &out)
	return out, err
}

// RepoStatus returns versions and expiries of every role and the pending drafts.
func (c *Client) RepoStatus(ctx context.Context) (api.RepoStatus, error) {
	var out api.RepoStatus
	err := c.Do(ctx, http.MethodGet, "/api/v1/repo/status", nil, &out)
	return out, err
}

// Root returns the current root metadata.
func (c *Client) Root(ctx context.Context) ([]byte, error) { return c.raw(ctx, "/api/v1/repo/root") }

// Targets returns the published targets metadata, nil if none was published yet.
func (c *Client) Targets(ctx context.Context) ([]byte, error) {
	b, err := c.raw(ctx, "/api/v1/repo/targets")
	if IsCode(err, api.CodeNoTargets) {
		return nil, nil
	}
	return b, err
}

// Renew drafts the next targets metadata with a fresh expiry (draft "renew").
func (c *Client) Renew(ctx context.Context) (api.DraftInfo, error) {
	var out api.DraftInfo
	err := c.Do(ctx, http.MethodPost, "/api/v1/repo/renew", nil, &out)
	return out, err
}

// Releases lists published and drafted releases, highest version first.
func (c *Client) Releases(ctx context.Context) ([]api.Release, error) {
	var out []api.Release
	err := c.Do(ctx, http.MethodGet, "/api/v1/releases", nil, &out)
	return out, err
}

// UploadArtifact streams one build of version; body must yield exactly a.Length bytes.
func (c *Client) UploadArtifact(ctx context.Context, version string, a api.ArtifactInfo, body io.Reader) error {
	path := "/api/v1/releases/" + url.PathEscape(version) + "/artifacts/" + url.PathEscape(a.Name)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, c.base+path, body)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.ContentLength = a.Length
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set(api.HeaderSHA256, a.SHA256)
	if _, err := c.send(req); err != nil {
		return fmt.Errorf("upload %s: %w", a.Name, err)
	}
	return nil
}

// Stage drafts the targets metadata of a release whose builds were uploaded.
func (c *Client) Stage(ctx context.Context, version string, req api.StageRequest) (api.DraftInfo, error) {
	var out api.DraftInfo
	err := c.Do(ctx, http.MethodPost, "/api/v1/releases/"+url.PathEscape(version)+"/stage", req, &out)
	return out, err
}

// Promote drafts the targets metadata that points channel at version.
func (c *Client) Promote(ctx context.Context, version, channel string) (api.DraftInfo, error) {
	var out api.DraftInfo
	err := c.Do(ctx, http.MethodPost, "/api/v1/releases/"+url.PathEscape(version)+"/promote", api.PromoteRequest{Channel: channel}, &out)
	return out, err
}

// Draft returns a draft's targets metadata with the signatures collected so far.
func (c *Client) Draft(ctx context.Context, name string) ([]byte, error) {
	return c.raw(ctx, "/api/v1/drafts/"+url.PathEscape(name))
}

// DraftStatus returns a draft's signatures and diff.
func (c *Client) DraftStatus(ctx context.Context, name string) (api.DraftInfo, error) {
	var out api.DraftInfo
	err := c.Do(ctx, http.MethodGet, "/api/v1/drafts/"+url.PathEscape(name)+"/status", nil, &out)
	return out, err
}

// AddSignatures uploads the draft as signed offline.
func (c *Client) AddSignatures(ctx context.Context, name string, signed []byte) (api.DraftInfo, error) {
	var out api.DraftInfo
	err := c.Do(ctx, http.MethodPost, "/api/v1/drafts/"+url.PathEscape(name)+"/signatures", json.RawMessage(signed), &out)
	return out, err
}

// AddSignature uploads one signature over a draft.
func (c *Client) AddSignature(ctx context.Context, name string, sig api.Signature) (api.DraftInfo, error) {
	var out api.DraftInfo
	err := c.Do(ctx, http.MethodPost, "/api/v1/drafts/"+url.PathEscape(name)+"/signatures", sig, &out)
	return out, err
}

// RemoveSignature drops keyID's signature from a draft.
func (c *Client) RemoveSignature(ctx context.Context, name, keyID string) error {
	return c.Do(ctx, http.MethodDelete, "/api/v1/drafts/"+url.PathEscape(name)+"/signatures/"+url.PathEscape(keyID), nil, nil)
}

// Publish publishes a draft signed to the targets threshold.
func (c *Client) Publish(ctx context.Context, name string) (api.RepoStatus, error) {
	var out api.RepoStatus
	err := c.Do(ctx, http.MethodPost, "/api/v1/drafts/"+url.PathEscape(name)+"/publish", nil, &out)
	return out, err
}

// Discard deletes a pending draft.
func (c *Client) Discard(ctx context.Context, name string) error {
	return c.Do(ctx, http.MethodDelete, "/api/v1/drafts/"+url.PathEscape(name), nil, nil)
}
