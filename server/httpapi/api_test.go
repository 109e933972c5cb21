package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/wire"
)

func TestStatusOf(t *testing.T) {
	tests := []struct {
		err    error
		status int
		code   string
	}{
		{fmt.Errorf("x: %w", wire.ErrTooLarge), http.StatusRequestEntityTooLarge, CodeTooLarge},
		{fmt.Errorf("x: %w", wire.ErrInvalid), http.StatusBadRequest, CodeInvalid},
		{fmt.Errorf("x: %w", server.ErrInvalid), http.StatusBadRequest, CodeInvalid},
		{server.ErrUnauthorized, http.StatusUnauthorized, CodeUnauthorized},
		{fmt.Errorf("%w: %w", server.ErrUnauthorized, server.ErrHostRevoked), http.StatusUnauthorized, CodeUnauthorized},
		{server.ErrTokenInvalid, http.StatusUnauthorized, CodeTokenInvalid},
		{server.ErrForbidden, http.StatusForbidden, CodeForbidden},
		{fmt.Errorf("get host: %w", server.ErrNotFound), http.StatusNotFound, CodeNotFound},
		{server.ErrGroupNotEmpty, http.StatusConflict, CodeGroupNotEmpty},
		{server.ErrConflict, http.StatusConflict, CodeConflict},
		{errRateLimited, http.StatusTooManyRequests, CodeRateLimited},
		{server.ErrOverloaded, http.StatusServiceUnavailable, CodeOverloaded},
		{errUnsupportedEncoding, http.StatusUnsupportedMediaType, CodeUnsupportedType},
		{errors.New("database exploded: password=hunter2"), http.StatusInternalServerError, CodeInternal},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			status, code, msg := statusOf(tt.err)
			if status != tt.status || code != tt.code {
				t.Fatalf("statusOf(%v) = %d %s, want %d %s", tt.err, status, code, tt.status, tt.code)
			}
			if code == CodeInternal && msg != "internal error" {
				t.Fatalf("internal error leaks its text: %q", msg)
			}
		})
	}
}

func TestHostLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newHostLimiter(2, 3, func() time.Time { return now })
	for i := range 3 {
		if !l.allow("a") {
			t.Fatalf("request %d within burst refused", i)
		}
	}
	if l.allow("a") {
		t.Fatal("request beyond burst allowed")
	}
	if !l.allow("b") {
		t.Fatal("another host is limited by the first")
	}
	now = now.Add(500 * time.Millisecond) // one token back at 2/s
	if !l.allow("a") || l.allow("a") {
		t.Fatal("refill does not follow the rate")
	}
}
