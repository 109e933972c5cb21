package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/vigilhq/vigil/release"
	"github.com/vigilhq/vigil/server/tufrepo"
	"github.com/vigilhq/vigil/wire"
)

// WithoutTimeout returns a copy of c whose requests are bounded only by their context, for
// uploads of large builds.
func (c *Client) WithoutTimeout() *Client {
	hc := *c.http
	hc.Timeout = 0
	return &Client{base: c.base, token: c.token, http: &hc}
}

// raw fetches a JSON document as bytes (metadata must be kept byte for byte).
func (c *Client) raw(ctx context.Context, path string) ([]byte, error) {
	var out json.RawMessage
	if err := c.Do(ctx, http.MethodGet, path, nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// OnlineKeys returns the server's online snapshot and timestamp keys.
func (c *Client) OnlineKeys(ctx context.Context) (tufrepo.OnlineKeys, error) {
	var out tufrepo.OnlineKeys
	err := c.Do(ctx, http.MethodGet, "/api/v1/repo/online-keys", nil, &out)
	return out, err
}

// InitRepo creates the release repository from signed root (and optionally targets) metadata.
func (c *Client) InitRepo(ctx context.Context, root, targets []byte) (release.Status, error) {
	var out release.Status
	err := c.Do(ctx, http.MethodPost, "/api/v1/repo/init", RepoMetadataRequest{Root: root, Targets: targets}, &out)
	return out, err
}

// RotateRoot publishes the next root (and, when a targets key was revoked, re-signed targets).
func (c *Client) RotateRoot(ctx context.Context, root, targets []byte) (release.Status, error) {
	var out release.Status
	err := c.Do(ctx, http.MethodPost, "/api/v1/repo/rotate-root", RepoMetadataRequest{Root: root, Targets: targets}, &out)
	return out, err
}

// RepoStatus returns versions and expiries of every role and the pending drafts.
func (c *Client) RepoStatus(ctx context.Context) (release.Status, error) {
	var out release.Status
	err := c.Do(ctx, http.MethodGet, "/api/v1/repo/status", nil, &out)
	return out, err
}

// Root returns the current root metadata.
func (c *Client) Root(ctx context.Context) ([]byte, error) { return c.raw(ctx, "/api/v1/repo/root") }

// Targets returns the published targets metadata, nil if none was published yet.
func (c *Client) Targets(ctx context.Context) ([]byte, error) {
	b, err := c.raw(ctx, "/api/v1/repo/targets")
	if IsCode(err, CodeNoTargets) {
		return nil, nil
	}
	return b, err
}

// Renew drafts the next targets metadata with a fresh expiry (draft release.RenewDraft).
func (c *Client) Renew(ctx context.Context) (release.DraftInfo, error) {
	var out release.DraftInfo
	err := c.Do(ctx, http.MethodPost, "/api/v1/repo/renew", nil, &out)
	return out, err
}

// Releases lists published and drafted releases.
func (c *Client) Releases(ctx context.Context) ([]release.Release, error) {
	var out []release.Release
	err := c.Do(ctx, http.MethodGet, "/api/v1/releases", nil, &out)
	return out, err
}

// UploadArtifact streams one build of version; body must yield exactly a.Length bytes.
func (c *Client) UploadArtifact(ctx context.Context, version string, a release.ArtifactInfo, body io.Reader) error {
	path := "/api/v1/releases/" + url.PathEscape(version) + "/artifacts/" + url.PathEscape(a.Name)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, c.base+path, body)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.ContentLength = a.Length
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set(HeaderSHA256, a.SHA256)
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set(wire.ProtocolHeader, strconv.Itoa(wire.ProtocolVersion))
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("upload %s: %w", a.Name, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return fmt.Errorf("upload %s: read answer: %w", a.Name, err)
	}
	if resp.StatusCode >= 300 {
		var e wire.ErrorResponse
		if json.Unmarshal(data, &e) == nil && e.Error.Code != "" {
			return &APIError{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message}
		}
		return &APIError{Status: resp.StatusCode, Code: "http", Message: string(data)}
	}
	return nil
}

// Stage drafts the targets metadata of a release whose builds were uploaded.
func (c *Client) Stage(ctx context.Context, version string, req StageRequest) (release.DraftInfo, error) {
	var out release.DraftInfo
	err := c.Do(ctx, http.MethodPost, "/api/v1/releases/"+url.PathEscape(version)+"/stage", req, &out)
	return out, err
}

// Promote drafts the targets metadata that points channel at version.
func (c *Client) Promote(ctx context.Context, version, channel string) (release.DraftInfo, error) {
	var out release.DraftInfo
	err := c.Do(ctx, http.MethodPost, "/api/v1/releases/"+url.PathEscape(version)+"/promote", PromoteRequest{Channel: channel}, &out)
	return out, err
}

// Draft returns a draft's targets metadata with the signatures collected so far.
func (c *Client) Draft(ctx context.Context, name string) ([]byte, error) {
	return c.raw(ctx, "/api/v1/drafts/"+url.PathEscape(name))
}

// DraftStatus returns a draft's signatures and diff.
func (c *Client) DraftStatus(ctx context.Context, name string) (release.DraftInfo, error) {
	var out release.DraftInfo
	err := c.Do(ctx, http.MethodGet, "/api/v1/drafts/"+url.PathEscape(name)+"/status", nil, &out)
	return out, err
}

// AddSignatures uploads the draft as signed offline.
func (c *Client) AddSignatures(ctx context.Context, name string, signed []byte) (release.DraftInfo, error) {
	var out release.DraftInfo
	err := c.Do(ctx, http.MethodPost, "/api/v1/drafts/"+url.PathEscape(name)+"/signatures", json.RawMessage(signed), &out)
	return out, err
}

// AddSignature uploads one signature over a draft.
func (c *Client) AddSignature(ctx context.Context, name string, sig metadata.Signature) (release.DraftInfo, error) {
	var out release.DraftInfo
	err := c.Do(ctx, http.MethodPost, "/api/v1/drafts/"+url.PathEscape(name)+"/signatures", sig, &out)
	return out, err
}

// RemoveSignature drops keyID's signature from a draft.
func (c *Client) RemoveSignature(ctx context.Context, name, keyID string) error {
	return c.Do(ctx, http.MethodDelete, "/api/v1/drafts/"+url.PathEscape(name)+"/signatures/"+url.PathEscape(keyID), nil, nil)
}

// Publish publishes a draft signed to the targets threshold.
func (c *Client) Publish(ctx context.Context, name string) (release.Status, error) {
	var out release.Status
	err := c.Do(ctx, http.MethodPost, "/api/v1/drafts/"+url.PathEscape(name)+"/publish", nil, &out)
	return out, err
}

// Discard deletes a pending draft.
func (c *Client) Discard(ctx context.Context, name string) error {
	return c.Do(ctx, http.MethodDelete, "/api/v1/drafts/"+url.PathEscape(name), nil, nil)
}
