package apiclient

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/vigilhq/vigil/api"
)

// ListUsers lists users (admin).
func (c *Client) ListUsers(ctx context.Context) ([]api.User, error) {
	var out []api.User
	err := c.Do(ctx, http.MethodGet, "/api/v1/users", nil, &out)
	return out, err
}

// CreateUser adds a user (admin).
func (c *Client) CreateUser(ctx context.Context, req api.CreateUserRequest) (api.User, error) {
	var out api.User
	err := c.Do(ctx, http.MethodPost, "/api/v1/users", req, &out)
	return out, err
}

// DeleteUser removes a user, ends its sessions and revokes its tokens (admin).
func (c *Client) DeleteUser(ctx context.Context, name string) error {
	return c.Do(ctx, http.MethodDelete, "/api/v1/users/"+url.PathEscape(name), nil, nil)
}

// SetUserRole changes a user's role (admin).
func (c *Client) SetUserRole(ctx context.Context, name, role string) (api.User, error) {
	var out api.User
	err := c.Do(ctx, http.MethodPut, "/api/v1/users/"+url.PathEscape(name)+"/role", api.SetUserRoleRequest{Role: role}, &out)
	return out, err
}

// SetPassword sets a user's password (admin, or the user with the current password) and ends all
// of the user's dashboard sessions.
func (c *Client) SetPassword(ctx context.Context, name string, req api.SetPasswordRequest) error {
	return c.Do(ctx, http.MethodPut, "/api/v1/users/"+url.PathEscape(name)+"/password", req, nil)
}

// SearchAudit returns the audit entries q selects, newest first.
func (c *Client) SearchAudit(ctx context.Context, q api.AuditQuery) ([]api.AuditEntry, error) {
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	set("actor", q.Actor)
	set("action", q.Action)
	set("target", q.Target)
	if !q.Since.IsZero() {
		v.Set("since", q.Since.UTC().Format(time.RFC3339))
	}
	if !q.Until.IsZero() {
		v.Set("until", q.Until.UTC().Format(time.RFC3339))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Before > 0 {
		v.Set("before", strconv.FormatInt(q.Before, 10))
	}
	path := "/api/v1/audit"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var out []api.AuditEntry
	err := c.Do(ctx, http.MethodGet, path, nil, &out)
	return out, err
}
