package apiclient

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/vigilhq/vigil/api"
)

// ListHosts lists hosts, optionally of one group.
func (c *Client) ListHosts(ctx context.Context, group string) ([]api.Host, error) {
	path := "/api/v1/hosts"
	if group != "" {
		path += "?group=" + url.QueryEscape(group)
	}
	var out []api.Host
	err := c.Do(ctx, http.MethodGet, path, nil, &out)
	return out, err
}

// GetHost returns one host.
func (c *Client) GetHost(ctx context.Context, id string) (api.Host, error) {
	var out api.Host
	err := c.Do(ctx, http.MethodGet, "/api/v1/hosts/"+url.PathEscape(id), nil, &out)
	return out, err
}

// RevokeHost revokes a host's credential.
func (c *Client) RevokeHost(ctx context.Context, id string) error {
	return c.Do(ctx, http.MethodPost, "/api/v1/hosts/"+url.PathEscape(id)+"/revoke", nil, nil)
}

// ClearQuarantine tells a host's updater to forget the versions it quarantined, at its next poll.
func (c *Client) ClearQuarantine(ctx context.Context, id string) (api.ClearQuarantineResponse, error) {
	var out api.ClearQuarantineResponse
	err := c.Do(ctx, http.MethodPost, "/api/v1/hosts/"+url.PathEscape(id)+"/clear-quarantine", nil, &out)
	return out, err
}

// DeleteHost removes a host and its stored reports; its credential stops working.
func (c *Client) DeleteHost(ctx context.Context, id string) error {
	return c.Do(ctx, http.MethodDelete, "/api/v1/hosts/"+url.PathEscape(id), nil, nil)
}

// MoveHost moves a host to another group.
func (c *Client) MoveHost(ctx context.Context, id, group string) error {
	return c.Do(ctx, http.MethodPut, "/api/v1/hosts/"+url.PathEscape(id)+"/group", api.MoveHostRequest{Group: group}, nil)
}

// HostUpdates returns a host's update events, newest first.
func (c *Client) HostUpdates(ctx context.Context, id string) ([]api.UpdateEvent, error) {
	var out []api.UpdateEvent
	err := c.Do(ctx, http.MethodGet, "/api/v1/hosts/"+url.PathEscape(id)+"/updates", nil, &out)
	return out, err
}

// ListGroups lists groups with their host counts.
func (c *Client) ListGroups(ctx context.Context) ([]api.Group, error) {
	var out []api.Group
	err := c.Do(ctx, http.MethodGet, "/api/v1/groups", nil, &out)
	return out, err
}

// GetGroup returns one group.
func (c *Client) GetGroup(ctx context.Context, name string) (api.Group, error) {
	var out api.Group
	err := c.Do(ctx, http.MethodGet, "/api/v1/groups/"+url.PathEscape(name), nil, &out)
	return out, err
}

// CreateGroup creates a group.
func (c *Client) CreateGroup(ctx context.Context, req api.CreateGroupRequest) (api.Group, error) {
	var out api.Group
	err := c.Do(ctx, http.MethodPost, "/api/v1/groups", req, &out)
	return out, err
}

// UpdateGroup changes a group's settings.
func (c *Client) UpdateGroup(ctx context.Context, name string, req api.GroupSettings) (api.Group, error) {
	var out api.Group
	err := c.Do(ctx, http.MethodPatch, "/api/v1/groups/"+url.PathEscape(name), req, &out)
	return out, err
}

// DeleteGroup deletes an empty group.
func (c *Client) DeleteGroup(ctx context.Context, name string) error {
	return c.Do(ctx, http.MethodDelete, "/api/v1/groups/"+url.PathEscape(name), nil, nil)
}

// GetPin returns a group's pin (zero: unpinned).
func (c *Client) GetPin(ctx context.Context, group string) (api.Pin, error) {
	var out api.Pin
	err := c.Do(ctx, http.MethodGet, "/api/v1/groups/"+url.PathEscape(group)+"/pin", nil, &out)
	return out, err
}

// SetPin pins a group to a version or a channel.
func (c *Client) SetPin(ctx context.Context, group string, pin api.Pin) (api.Pin, error) {
	var out api.Pin
	err := c.Do(ctx, http.MethodPut, "/api/v1/groups/"+url.PathEscape(group)+"/pin", pin, &out)
	return out, err
}

// Unpin removes a group's pin.
func (c *Client) Unpin(ctx context.Context, group string) error {
	return c.Do(ctx, http.MethodDelete, "/api/v1/groups/"+url.PathEscape(group)+"/pin", nil, nil)
}

// GroupAgentSettings returns a group's agent settings.
func (c *Client) GroupAgentSettings(ctx context.Context, group string) (api.AgentSettings, error) {
	var out api.AgentSettings
	err := c.Do(ctx, http.MethodGet, "/api/v1/groups/"+url.PathEscape(group)+"/agent-settings", nil, &out)
	return out, err
}

// SetGroupAgentSettings replaces a group's agent settings (the zero value clears them).
func (c *Client) SetGroupAgentSettings(ctx context.Context, group string, s api.AgentSettings) (api.AgentSettings, error) {
	var out api.AgentSettings
	err := c.Do(ctx, http.MethodPut, "/api/v1/groups/"+url.PathEscape(group)+"/agent-settings", s, &out)
	return out, err
}

// HostAgentSettings returns a host's group settings, its own and the effective ones.
func (c *Client) HostAgentSettings(ctx context.Context, hostID string) (api.HostAgentSettings, error) {
	var out api.HostAgentSettings
	err := c.Do(ctx, http.MethodGet, "/api/v1/hosts/"+url.PathEscape(hostID)+"/agent-settings", nil, &out)
	return out, err
}

// SetHostAgentSettings replaces a host's own agent settings, added to its group's.
func (c *Client) SetHostAgentSettings(ctx context.Context, hostID string, s api.AgentSettings) (api.HostAgentSettings, error) {
	var out api.HostAgentSettings
	err := c.Do(ctx, http.MethodPut, "/api/v1/hosts/"+url.PathEscape(hostID)+"/agent-settings", s, &out)
	return out, err
}

// ClearHostAgentSettings removes a host's own agent settings: it gets its group's.
func (c *Client) ClearHostAgentSettings(ctx context.Context, hostID string) (api.HostAgentSettings, error) {
	var out api.HostAgentSettings
	err := c.Do(ctx, http.MethodDelete, "/api/v1/hosts/"+url.PathEscape(hostID)+"/agent-settings", nil, &out)
	return out, err
}

// ListEnrollmentTokens lists enrollment tokens (never their secrets).
func (c *Client) ListEnrollmentTokens(ctx context.Context) ([]api.EnrollmentToken, error) {
	var out []api.EnrollmentToken
	err := c.Do(ctx, http.MethodGet, "/api/v1/enrollment-tokens", nil, &out)
	return out, err
}

// CreateEnrollmentToken creates an enrollment token; the answer carries its secret, once.
func (c *Client) CreateEnrollmentToken(ctx context.Context, req api.CreateEnrollmentTokenRequest) (api.CreateEnrollmentTokenResponse, error) {
	var out api.CreateEnrollmentTokenResponse
	err := c.Do(ctx, http.MethodPost, "/api/v1/enrollment-tokens", req, &out)
	return out, err
}

// RevokeEnrollmentToken revokes an enrollment token.
func (c *Client) RevokeEnrollmentToken(ctx context.Context, id string) error {
	return c.Do(ctx, http.MethodDelete, "/api/v1/enrollment-tokens/"+url.PathEscape(id), nil, nil)
}

// ListTokens lists API tokens (never their secrets).
func (c *Client) ListTokens(ctx context.Context) ([]api.APIToken, error) {
	var out []api.APIToken
	err := c.Do(ctx, http.MethodGet, "/api/v1/tokens", nil, &out)
	return out, err
}

// CreateToken creates an API token; the answer carries its secret, once.
func (c *Client) CreateToken(ctx context.Context, req api.CreateTokenRequest) (api.CreateTokenResponse, error) {
	var out api.CreateTokenResponse
	err := c.Do(ctx, http.MethodPost, "/api/v1/tokens", req, &out)
	return out, err
}

// RevokeToken revokes an API token.
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	return c.Do(ctx, http.MethodDelete, "/api/v1/tokens/"+url.PathEscape(id), nil, nil)
}

// ListAudit returns audit entries, newest first.
func (c *Client) ListAudit(ctx context.Context, limit int) ([]api.AuditEntry, error) {
	var out []api.AuditEntry
	err := c.Do(ctx, http.MethodGet, "/api/v1/audit?limit="+strconv.Itoa(limit), nil, &out)
	return out, err
}
