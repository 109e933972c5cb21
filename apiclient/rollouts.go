package apiclient

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/vigilhq/vigil/api"
)

// RolloutFilter selects rollouts for ListRollouts; zero fields select everything (the server
// caps the list at 100 unless Limit says otherwise).
type RolloutFilter struct {
	Group      string
	ActiveOnly bool
	Limit      int
}

// ListRollouts lists rollouts, newest first.
func (c *Client) ListRollouts(ctx context.Context, f RolloutFilter) ([]api.Rollout, error) {
	q := url.Values{}
	if f.Group != "" {
		q.Set("group", f.Group)
	}
	if f.ActiveOnly {
		q.Set("active", "true")
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	path := "/api/v1/rollouts"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out []api.Rollout
	err := c.Do(ctx, http.MethodGet, path, nil, &out)
	return out, err
}

// GetRollout returns one rollout.
func (c *Client) GetRollout(ctx context.Context, id string) (api.Rollout, error) {
	var out api.Rollout
	err := c.Do(ctx, http.MethodGet, "/api/v1/rollouts/"+url.PathEscape(id), nil, &out)
	return out, err
}

// PauseRollout stops a running rollout from admitting more hosts.
func (c *Client) PauseRollout(ctx context.Context, id string) (api.Rollout, error) {
	return c.rolloutAction(ctx, id, "pause")
}

// ResumeRollout resumes a paused rollout.
func (c *Client) ResumeRollout(ctx context.Context, id string) (api.Rollout, error) {
	return c.rolloutAction(ctx, id, "resume")
}

// AbortRollout ends an active rollout and sets its group's pin back to the previous one.
func (c *Client) AbortRollout(ctx context.Context, id string) (api.Rollout, error) {
	return c.rolloutAction(ctx, id, "abort")
}

func (c *Client) rolloutAction(ctx context.Context, id, action string) (api.Rollout, error) {
	var out api.Rollout
	err := c.Do(ctx, http.MethodPost, "/api/v1/rollouts/"+url.PathEscape(id)+"/"+action, nil, &out)
	return out, err
}

// RolloutPolicy returns a group's rollout policy (absent fields: the defaults).
func (c *Client) RolloutPolicy(ctx context.Context, group string) (api.RolloutPolicy, error) {
	var out api.RolloutPolicy
	err := c.Do(ctx, http.MethodGet, "/api/v1/groups/"+url.PathEscape(group)+"/rollout-policy", nil, &out)
	return out, err
}

// SetRolloutPolicy replaces a group's rollout policy.
func (c *Client) SetRolloutPolicy(ctx context.Context, group string, p api.RolloutPolicy) (api.RolloutPolicy, error) {
	var out api.RolloutPolicy
	err := c.Do(ctx, http.MethodPut, "/api/v1/groups/"+url.PathEscape(group)+"/rollout-policy", p, &out)
	return out, err
}
