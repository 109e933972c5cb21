// Package apiclient is the typed Go client of Vigil's operator API (/api/v1 with a Bearer API
// token), the one vigilctl and the tests use. It speaks the shapes of package api and links only
// api, wire and the standard library.
//
// Errors: an answer with a status of 300 or more is an *Error carrying the status and the
// envelope's code; branch on it with errors.As, IsCode or errors.Is against the sentinels below
// (which match by code), never on the message. An answer larger than MaxResponseBytes is
// ErrResponseTooLarge. Transport failures are returned wrapped as net/http gives them.
//
// Trust model: the server is trusted only as far as the TLS configuration of the *http.Client
// the caller passes; every answer is read through a named limit before it is decoded.
package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/wire"
)

// MaxResponseBytes bounds an answer the client reads (a release listing or metadata included).
const MaxResponseBytes = 64 << 20

// maxErrorText bounds the text of a non-JSON error answer kept in an Error.
const maxErrorText = 1 << 10

// ErrResponseTooLarge: the server answered with more than MaxResponseBytes.
var ErrResponseTooLarge = errors.New("answer too large")

// Error is an error answer from the server.
type Error struct {
	Status  int    // HTTP status
	Code    string // api.Code*, or "http" when the answer was not the JSON error envelope
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("server said %d %s: %s", e.Status, e.Code, e.Message)
}

// Is matches sentinel errors by code, so errors.Is(err, apiclient.ErrNotFound) holds for any
// not_found answer.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && (t.Status == 0 || t.Status == e.Status)
}

// Sentinels of the general error codes, for errors.Is. Release repository codes are branched on
// with IsCode(err, api.CodeThresholdNotMet) and the like.
var (
	ErrInvalid      = &Error{Code: api.CodeInvalid, Message: "invalid request"}
	ErrUnauthorized = &Error{Code: api.CodeUnauthorized, Message: "missing or invalid credentials"}
	ErrForbidden    = &Error{Code: api.CodeForbidden, Message: "forbidden"}
	ErrNotFound     = &Error{Code: api.CodeNotFound, Message: "not found"}
	ErrConflict     = &Error{Code: api.CodeConflict, Message: "conflict"}
	ErrTooLarge     = &Error{Code: api.CodeTooLarge, Message: "request too large"}
	ErrRateLimited  = &Error{Code: api.CodeRateLimited, Message: "rate limited"}
	ErrOverloaded   = &Error{Code: api.CodeOverloaded, Message: "server overloaded"}
)

// IsCode reports whether err is (or wraps) an *Error with the given code.
func IsCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// Client calls the operator API. It is safe for concurrent use.
type Client struct {
	base  string
	token string
	http  *http.Client
}

// New returns a client for the server at base (https://host:port) authenticating with token.
// A nil hc uses http.DefaultClient.
func New(base, token string, hc *http.Client) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: strings.TrimRight(base, "/"), token: token, http: hc}
}

// WithoutTimeout returns a copy of c whose requests are bounded only by their context, for
// uploads of large builds.
func (c *Client) WithoutTimeout() *Client {
	hc := *c.http
	hc.Timeout = 0
	return &Client{base: c.base, token: c.token, http: &hc}
}

// Do sends a JSON request (in, if non-nil) to path and decodes a JSON answer into out (if
// non-nil). The typed methods are built on it; it is exported for routes they do not cover.
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
	data, err := c.send(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

// send authenticates req, sends it and returns the answer's body, or an *Error for a status of
// 300 or more.
func (c *Client) send(req *http.Request) ([]byte, error) {
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set(wire.ProtocolHeader, strconv.Itoa(wire.ProtocolVersion))
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read answer: %w", err)
	}
	if len(data) > MaxResponseBytes {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrResponseTooLarge, MaxResponseBytes)
	}
	if resp.StatusCode >= 300 {
		var e api.ErrorResponse
		if json.Unmarshal(data, &e) == nil && e.Error.Code != "" {
			return nil, &Error{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message}
		}
		text := strings.TrimSpace(string(data))
		if len(text) > maxErrorText {
			text = text[:maxErrorText] + "…"
		}
		return nil, &Error{Status: resp.StatusCode, Code: "http", Message: text}
	}
	return data, nil
}
