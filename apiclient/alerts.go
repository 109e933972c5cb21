package apiclient

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/vigilhq/vigil/api"
)

// ListRules lists alert rules.
func (c *Client) ListRules(ctx context.Context) ([]api.Rule, error) {
	var out []api.Rule
	err := c.Do(ctx, http.MethodGet, "/api/v1/rules", nil, &out)
	return out, err
}

// CreateRule creates an alert rule; the server assigns its ID.
func (c *Client) CreateRule(ctx context.Context, r api.Rule) (api.Rule, error) {
	var out api.Rule
	err := c.Do(ctx, http.MethodPost, "/api/v1/rules", r, &out)
	return out, err
}

// DeleteRule deletes an alert rule.
func (c *Client) DeleteRule(ctx context.Context, id string) error {
	return c.Do(ctx, http.MethodDelete, "/api/v1/rules/"+url.PathEscape(id), nil, nil)
}

// ListAlerts lists alerts newest first: only open ones when open, only of host when set.
func (c *Client) ListAlerts(ctx context.Context, open bool, host string, limit int) ([]api.Alert, error) {
	q := url.Values{}
	if open {
		q.Set("state", "open")
	}
	if host != "" {
		q.Set("host", host)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out []api.Alert
	err := c.Do(ctx, http.MethodGet, "/api/v1/alerts?"+q.Encode(), nil, &out)
	return out, err
}

// GetAlert returns one alert with its history.
func (c *Client) GetAlert(ctx context.Context, id int64) (api.Alert, error) {
	var out api.Alert
	err := c.Do(ctx, http.MethodGet, "/api/v1/alerts/"+strconv.FormatInt(id, 10), nil, &out)
	return out, err
}

// AckAlert acknowledges an open alert: it sends no more reminders (operator role).
func (c *Client) AckAlert(ctx context.Context, id int64) (api.Alert, error) {
	var out api.Alert
	err := c.Do(ctx, http.MethodPost, "/api/v1/alerts/"+strconv.FormatInt(id, 10)+"/ack", nil, &out)
	return out, err
}

// ListSilences lists maintenance silences; all includes those already over.
func (c *Client) ListSilences(ctx context.Context, all bool) ([]api.Silence, error) {
	var out []api.Silence
	err := c.Do(ctx, http.MethodGet, "/api/v1/silences?all="+strconv.FormatBool(all), nil, &out)
	return out, err
}

// CreateSilence creates a maintenance silence.
func (c *Client) CreateSilence(ctx context.Context, req api.CreateSilenceRequest) (api.Silence, error) {
	var out api.Silence
	err := c.Do(ctx, http.MethodPost, "/api/v1/silences", req, &out)
	return out, err
}

// DeleteSilence deletes (ends) a maintenance silence.
func (c *Client) DeleteSilence(ctx context.Context, id string) error {
	return c.Do(ctx, http.MethodDelete, "/api/v1/silences/"+url.PathEscape(id), nil, nil)
}

// ListNotifications lists queued and sent alert emails, newest first.
func (c *Client) ListNotifications(ctx context.Context, limit int) ([]api.Notification, error) {
	var out []api.Notification
	err := c.Do(ctx, http.MethodGet, "/api/v1/notifications?limit="+strconv.Itoa(limit), nil, &out)
	return out, err
}
