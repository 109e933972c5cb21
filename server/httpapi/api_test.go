package httpapi

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/wire"
)

func TestStatusOf(t *testing.T) {
	tests := []struct {
		err    error
		status int
		code   string
	}{
		{fmt.Errorf("x: %w", wire.ErrTooLarge), http.StatusRequestEntityTooLarge, api.CodeTooLarge},
		{fmt.Errorf("x: %w", wire.ErrInvalid), http.StatusBadRequest, api.CodeInvalid},
		{fmt.Errorf("x: %w", server.ErrInvalid), http.StatusBadRequest, api.CodeInvalid},
		{server.ErrUnauthorized, http.StatusUnauthorized, api.CodeUnauthorized},
		{fmt.Errorf("%w: %w", server.ErrUnauthorized, server.ErrHostRevoked), http.StatusUnauthorized, api.CodeUnauthorized},
		{server.ErrTokenInvalid, http.StatusUnauthorized, api.CodeTokenInvalid},
		{server.ErrForbidden, http.StatusForbidden, api.CodeForbidden},
		{fmt.Errorf("get host: %w", server.ErrNotFound), http.StatusNotFound, api.CodeNotFound},
		{server.ErrGroupNotEmpty, http.StatusConflict, api.CodeGroupNotEmpty},
		{server.ErrConflict, http.StatusConflict, api.CodeConflict},
		{errRateLimited, http.StatusTooManyRequests, api.CodeRateLimited},
		{server.ErrOverloaded, http.StatusServiceUnavailable, api.CodeOverloaded},
		{errUnsupportedEncoding, http.StatusUnsupportedMediaType, api.CodeUnsupportedType},
		{errors.New("database exploded: password=hunter2"), http.StatusInternalServerError, api.CodeInternal},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			status, code, msg := statusOf(tt.err)
			if status != tt.status || code != tt.code {
				t.Fatalf("statusOf(%v) = %d %s, want %d %s", tt.err, status, code, tt.status, tt.code)
			}
			if code == api.CodeInternal && msg != "internal error" {
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

// countingReader counts what the server read of a request body.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// TestReadReportBodyStopsAtLimit: a gzip bomb is decompressed only up to the decoded limit. The
// compressed bytes the server consumed prove it: zeros compress ~1000:1, so decompressing the whole
// 100 MB would read the whole body, while stopping at the 8 MB limit reads about a tenth of it
// (plus a read buffer); a quarter is the bound.
func TestReadReportBodyStopsAtLimit(t *testing.T) {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write([]byte(`{"reports":[{"seq":1,"time":"2026-01-01T00:00:00Z","agent_version":"`))
	zeros := make([]byte, 1<<20)
	for range 100 {
		zw.Write(zeros)
	}
	zw.Close()
	total := int64(buf.Len())
	body := &countingReader{r: bytes.NewReader(buf.Bytes())}
	_, err := readReportBody(body, -1, "gzip")
	if !errors.Is(err, wire.ErrTooLarge) {
		t.Fatalf("gzip bomb: %v, want ErrTooLarge", err)
	}
	if limit := total * (2 * wire.MaxReportDecodedBytes) / (100 << 20); body.n > limit {
		t.Fatalf("server read %d of %d compressed bytes: it decompressed far past the %d byte limit", body.n, total, wire.MaxReportDecodedBytes)
	}
	t.Logf("read %d of %d compressed bytes", body.n, total)
}
