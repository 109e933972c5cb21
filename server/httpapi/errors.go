package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/wire"
)

// errRateLimited is returned when a host sends faster than its bucket allows.
var errRateLimited = errors.New("too many requests")

// errUnsupportedEncoding is returned for a Content-Encoding other than gzip or identity.
var errUnsupportedEncoding = errors.New("unsupported Content-Encoding")

// errBodyAborted is returned when the client did not send its whole body: it closed the
// connection, reset it, or stopped sending until the server's read timeout. It is the client's
// doing (400, logged at INFO), not the server's failure.
var errBodyAborted = errors.New("request body incomplete")

// abortReader marks errors reading a request body, other than its clean end, as errBodyAborted.
type abortReader struct{ io.ReadCloser }

func (b abortReader) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF && !errors.Is(err, wire.ErrTooLarge) {
		var maxErr *http.MaxBytesError
		if !errors.As(err, &maxErr) {
			err = fmt.Errorf("%w: %w", errBodyAborted, err)
		}
	}
	return n, err
}

// retryAfterSeconds is what 429 and 503 answers ask clients to wait.
const retryAfterSeconds = 5

// statusOf maps an error to an HTTP status, a code and a message safe to show the caller. Only
// errors carrying one of the known sentinels reveal their text; anything else is "internal".
func statusOf(err error) (int, string, string) {
	switch {
	case errors.Is(err, wire.ErrTooLarge):
		return http.StatusRequestEntityTooLarge, api.CodeTooLarge, err.Error()
	case errors.Is(err, errUnsupportedEncoding), errors.Is(err, errUnsupportedType):
		return http.StatusUnsupportedMediaType, api.CodeUnsupportedType, err.Error()
	case errors.Is(err, errBodyAborted):
		return http.StatusBadRequest, api.CodeInvalid, errBodyAborted.Error() + ": send the whole body"
	case errors.Is(err, server.ErrInvalid), errors.Is(err, wire.ErrInvalid):
		return http.StatusBadRequest, api.CodeInvalid, err.Error()
	case errors.Is(err, server.ErrTokenInvalid):
		return http.StatusUnauthorized, api.CodeTokenInvalid, server.ErrTokenInvalid.Error()
	case errors.Is(err, server.ErrUnauthorized):
		// Revoked and unknown credentials get the same answer: the log tells them apart.
		return http.StatusUnauthorized, api.CodeUnauthorized, "missing or invalid credentials"
	case errors.Is(err, server.ErrForbidden):
		return http.StatusForbidden, api.CodeForbidden, err.Error()
	case errors.Is(err, server.ErrNotFound):
		return http.StatusNotFound, api.CodeNotFound, err.Error()
	case errors.Is(err, server.ErrGroupNotEmpty):
		return http.StatusConflict, api.CodeGroupNotEmpty, err.Error()
	case errors.Is(err, server.ErrConflict):
		return http.StatusConflict, api.CodeConflict, err.Error()
	case errors.Is(err, errBodyTimeout):
		return http.StatusRequestTimeout, api.CodeTimeout, err.Error()
	case errors.Is(err, errRateLimited), errors.Is(err, errHostBusy):
		return http.StatusTooManyRequests, api.CodeRateLimited, err.Error()
	case errors.Is(err, server.ErrOverloaded):
		return http.StatusServiceUnavailable, api.CodeOverloaded, "server busy, retry later"
	default:
		return http.StatusInternalServerError, api.CodeInternal, "internal error"
	}
}

func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, code, msg := statusOf(err)
	if errors.Is(err, errBodyAborted) {
		a.log.InfoContext(r.Context(), "Client did not send its whole request body.", "method", r.Method, "path", r.URL.Path,
			logKeyAddr, r.RemoteAddr, "err", err)
	}
	if status == http.StatusInternalServerError {
		if errors.Is(err, context.Canceled) {
			return // the client went away
		}
		a.log.ErrorContext(r.Context(), "Request failed.", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	switch {
	case errors.Is(err, errBodyTimeout):
		// The client's fault or its network's, not the server's: a warning, never an error.
		a.log.WarnContext(r.Context(), "Request body too slow; answered 408.", "path", r.URL.Path, "remote", r.RemoteAddr, "err", err)
	}
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
	}
	writeJSON(w, status, wire.ErrorResponse{Error: wire.ErrorBody{Code: code, Message: msg}})
}

// writeCompactJSON writes v as writeJSON does, without indentation, for answers only programs
// read on a hot path (the answer to every report): the same JSON value, ~30 % fewer bytes, and
// no indentation pass.
func writeCompactJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		writeJSON(w, status, v) // cannot happen for the types used; keep the one error path
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set(wire.ProtocolHeader, protocolVersion)
	w.WriteHeader(status)
	if _, err := w.Write(append(data, '\n')); err != nil {
		slog.Debug("Writing response failed.", "err", err)
	}
}

// protocolVersion is wire.ProtocolVersion as the header carries it.
var protocolVersion = strconv.Itoa(wire.ProtocolVersion)

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set(wire.ProtocolHeader, strconv.Itoa(wire.ProtocolVersion))
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		slog.Debug("Writing response failed.", "err", err)
	}
}
