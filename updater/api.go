package updater

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/vigilhq/vigil/releasespec"
	"github.com/vigilhq/vigil/wire"
)

// Limits on the server's API answers.
const (
	// maxDesiredBody bounds GET /api/v1/updates/desired.
	maxDesiredBody = 16 << 10
	// maxCredential bounds the agent's credential file.
	maxCredential = 4096
	// maxQueuedEvents bounds undelivered update events; the oldest go first.
	maxQueuedEvents = 200
)

// errNotEnrolled: the agent has no credential yet, so the updater cannot ask the server.
var errNotEnrolled = errors.New("agent not enrolled yet")

// apiClient talks to /api/v1/updates with the agent's host credential.
type apiClient struct {
	base     string
	client   *http.Client
	timeout  time.Duration
	credPath string
	// enrollToken, when set, authenticates GET /api/v1/updates/desired while the agent has no
	// credential yet, so the first install follows the group's pin (the server does not consume it).
	enrollToken string
}

func (a *apiClient) credential() (string, error) {
	data, err := readFileLimit(a.credPath, maxCredential)
	if errors.Is(err, fs.ErrNotExist) {
		return "", errNotEnrolled
	}
	if err != nil {
		return "", err
	}
	c := strings.TrimSpace(string(data))
	if c == "" {
		return "", errNotEnrolled
	}
	return c, nil
}

func (a *apiClient) do(ctx context.Context, method, path string, body any, out any, limit int64) error {
	cred, err := a.credential()
	if err != nil {
		return err
	}
	return a.doAs(ctx, cred, method, path, body, out, limit)
}

func (a *apiClient) doAs(ctx context.Context, cred, method, path string, body any, out any, limit int64) error {
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(a.base, "/")+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+cred)
	req.Header.Set(wire.ProtocolHeader, fmt.Sprint(wire.ProtocolVersion))
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return requestError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e wire.ErrorResponse
		_ = wire.Decode(resp.Body, maxErrorBody, false, &e)
		err := &apiError{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message}
		if d, perr := http.ParseTime(resp.Header.Get("Date")); perr == nil {
			err.Date = d
		}
		if resp.StatusCode >= 500 || resp.StatusCode == 429 {
			return statusError(err)
		}
		return err
	}
	if out == nil {
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		return nil
	}
	if err := wire.Decode(resp.Body, limit, false, out); err != nil {
		return fmt.Errorf("read the server's answer: %w", err)
	}
	return nil
}

type apiError struct {
	Status        int
	Code, Message string
	// Date is the server's clock when it answered (its Date header, to the second); zero when it
	// sent none or none that parses.
	Date time.Time
}

func (e *apiError) Error() string {
	return fmt.Sprintf("server answered %d %s: %s", e.Status, e.Code, e.Message)
}

// Is makes every error status match ErrHTTPStatus.
func (e *apiError) Is(target error) bool { return target == ErrHTTPStatus }

// desiredFirst asks the server which version a host that may not be enrolled yet should run:
// with the agent's credential when it has one, else with the enrollment token.
// errNotEnrolled when it has neither.
func (a *apiClient) desiredFirst(ctx context.Context) (wire.UpdateDesired, error) {
	d, err := a.desired(ctx)
	if !errors.Is(err, errNotEnrolled) || a.enrollToken == "" {
		return d, err
	}
	err = a.doAs(ctx, a.enrollToken, http.MethodGet, "/api/v1/updates/desired", nil, &d, maxDesiredBody)
	return d, err
}

// desired asks the server which version this host should run.
func (a *apiClient) desired(ctx context.Context) (wire.UpdateDesired, error) {
	var d wire.UpdateDesired
	err := a.do(ctx, http.MethodGet, "/api/v1/updates/desired", nil, &d, maxDesiredBody)
	if err != nil {
		return d, fmt.Errorf("get desired version: %w", err)
	}
	if len(d.Version) > releasespec.MaxVersionLen || len(d.Channel) > releasespec.MaxChannelLen {
		return wire.UpdateDesired{}, fmt.Errorf("desired version or channel too long")
	}
	return d, nil
}

// postEvents posts the outbox oldest first and returns how many the server took (or refused:
// 4xx other than 401 and 429, which a retry cannot fix), stopping at the first that cannot be
// delivered now.
func postEvents(ctx context.Context, ev []wire.UpdateEvent, post func(context.Context, wire.UpdateEvent) error) (int, error) {
	for i, e := range ev {
		err := post(ctx, e)
		var ae *apiError
		if err != nil && !(errors.As(err, &ae) && ae.Status != 401 && ae.Status != 429 && ae.Status < 500) {
			return i, err
		}
	}
	return len(ev), nil
}
