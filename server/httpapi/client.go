package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/wire"
)

// maxResponseBytes bounds what the client reads from the server.
const maxResponseBytes = 64 << 20

// APIError is an error answer from the server.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("server said %d %s: %s", e.Status, e.Code, e.Message)
}

// Client calls the operator API. It is safe for concurrent use.
type Client struct {
	base  string
	token string
	http  *http.Client
}

// NewClient returns a client for the server at base (https://host:port) authenticating with token.
// A nil hc uses http.DefaultClient.
func NewClient(base, token string, hc *http.Client) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: strings.TrimRight(base, "/"), token: token, http: hc}
}

// Do sends a JSON request and decodes a JSON answer into out (if non-nil).
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set(wire.ProtocolHeader, strconv.Itoa(wire.ProtocolVersion))
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		var e wire.ErrorResponse
		if json.Unmarshal(data, &e) == nil && e.Error.Code != "" {
			return &APIError{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message}
		}
		return &APIError{Status: resp.StatusCode, Code: "http", Message: strings.TrimSpace(string(data))}
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

// IsCode reports whether err is an APIError with the given code.
func IsCode(err error, code string) bool {
	var e *APIError
	return errors.As(err, &e) && e.Code == code
}

// CreateEnrollmentToken creates an enrollment token.
func (c *Client) CreateEnrollmentToken(ctx context.Context, req CreateEnrollmentTokenRequest) (CreateEnrollmentTokenResponse, error) {
	var out CreateEnrollmentTokenResponse
	err := c.Do(ctx, http.MethodPost, "/api/v1/enrollment-tokens", req, &out)
	return out, err
}

// ListHosts lists hosts, optionally of one group.
func (c *Client) ListHosts(ctx context.Context, group string) ([]server.Host, error) {
	path := "/api/v1/hosts"
	if group != "" {
		path += "?group=" + url.QueryEscape(group)
	}
	var out []server.Host
	err := c.Do(ctx, http.MethodGet, path, nil, &out)
	return out, err
}

// GetHost returns one host.
func (c *Client) GetHost(ctx context.Context, id string) (server.Host, error) {
	var out server.Host
	err := c.Do(ctx, http.MethodGet, "/api/v1/hosts/"+url.PathEscape(id), nil, &out)
	return out, err
}

// ListGroups lists groups.
func (c *Client) ListGroups(ctx context.Context) ([]server.Group, error) {
	var out []server.Group
	err := c.Do(ctx, http.MethodGet, "/api/v1/groups", nil, &out)
	return out, err
}

// CreateGroup creates a group.
func (c *Client) CreateGroup(ctx context.Context, req CreateGroupRequest) (server.Group, error) {
	var out server.Group
	err := c.Do(ctx, http.MethodPost, "/api/v1/groups", req, &out)
	return out, err
}

// UpdateGroup changes a group's settings.
func (c *Client) UpdateGroup(ctx context.Context, name string, req GroupSettings) (server.Group, error) {
	var out server.Group
	err := c.Do(ctx, http.MethodPatch, "/api/v1/groups/"+url.PathEscape(name), req, &out)
	return out, err
}

// DeleteGroup deletes an empty group.
func (c *Client) DeleteGroup(ctx context.Context, name string) error {
	return c.Do(ctx, http.MethodDelete, "/api/v1/groups/"+url.PathEscape(name), nil, nil)
}

// SetPin pins a group to a version or a channel.
func (c *Client) SetPin(ctx context.Context, group string, pin server.Pin) (server.Pin, error) {
	var out server.Pin
	err := c.Do(ctx, http.MethodPut, "/api/v1/groups/"+url.PathEscape(group)+"/pin", pin, &out)
	return out, err
}

// Unpin removes a group's pin.
func (c *Client) Unpin(ctx context.Context, group string) error {
	return c.Do(ctx, http.MethodDelete, "/api/v1/groups/"+url.PathEscape(group)+"/pin", nil, nil)
}

// ListAudit returns audit entries, newest first.
func (c *Client) ListAudit(ctx context.Context, limit int) ([]server.AuditEntry, error) {
	var out []server.AuditEntry
	err := c.Do(ctx, http.MethodGet, "/api/v1/audit?limit="+strconv.Itoa(limit), nil, &out)
	return out, err
}
