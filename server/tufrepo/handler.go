package tufrepo

import (
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/vigilhq/vigil/wire"
)

// URL prefixes Handler serves.
const (
	MetadataPrefix = "/tuf/metadata/"
	TargetsPrefix  = "/tuf/targets/"
)

// Cache-Control values.
const (
	cacheNoStore   = "no-store"
	cacheRevalid   = "no-cache"
	cacheImmutable = "public, max-age=31536000, immutable"
)

// targetWriteTimeout bounds sending one target: builds are up to release.MaxArtifactSize, more
// than the server's default write timeout allows on a slow link (clients resume with Range).
const targetWriteTimeout = 30 * time.Minute

var (
	// metadataName accepts what a TUF client of a consistent-snapshot repository asks for.
	metadataName = regexp.MustCompile(`^(root|timestamp|[1-9][0-9]{0,18}\.(root|targets|snapshot))\.json$`)
	// consistentTarget is a target's base name with its sha256 prefixed.
	consistentTarget = regexp.MustCompile(`^[0-9a-f]{64}\.[^/]+$`)
)

// Handler serves the repository under /tuf/metadata/ and /tuf/targets/ (mount it at /tuf/).
func (r *Repository) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed")
			return
		}
		if name, ok := strings.CutPrefix(req.URL.Path, MetadataPrefix); ok {
			r.serveMetadata(w, req, name)
			return
		}
		if name, ok := strings.CutPrefix(req.URL.Path, TargetsPrefix); ok {
			r.serveTarget(w, req, name)
			return
		}
		writeError(w, http.StatusNotFound, "not_found", "no such file")
	})
}

func (r *Repository) serveMetadata(w http.ResponseWriter, req *http.Request, name string) {
	if !metadataName.MatchString(name) {
		writeError(w, http.StatusNotFound, "not_found", "no such metadata file")
		return
	}
	cache := cacheImmutable
	switch name {
	case "timestamp.json":
		cache = cacheNoStore
	case "root.json":
		cache = cacheRevalid
	}
	serveFile(w, req, r.storage.MetadataPath(), name, "application/json", cache)
}

func (r *Repository) serveTarget(w http.ResponseWriter, req *http.Request, name string) {
	for _, el := range strings.Split(name, "/") {
		if el == "" || strings.HasPrefix(el, ".") {
			writeError(w, http.StatusNotFound, "not_found", "no such target")
			return
		}
	}
	cache := cacheRevalid
	if consistentTarget.MatchString(name[strings.LastIndexByte(name, '/')+1:]) {
		cache = cacheImmutable
	}
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(targetWriteTimeout))
	serveFile(w, req, r.storage.TargetsPath(), name, "application/octet-stream", cache)
}

// serveFile serves dir/name, confined to dir by os.Root (no "..", no symlink out), with Range
// support.
func serveFile(w http.ResponseWriter, req *http.Request, dir, name, contentType, cache string) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "repository unavailable")
		return
	}
	defer root.Close()
	f, err := root.Open(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || !errors.Is(err, fs.ErrPermission) {
			writeError(w, http.StatusNotFound, "not_found", "no such file")
			return
		}
		writeError(w, http.StatusInternalServerError, "internal", "repository unavailable")
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		writeError(w, http.StatusNotFound, "not_found", "no such file")
		return
	}
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", cache)
	h.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, req, "", st.ModTime(), f)
}

// writeError writes the JSON error shape. Errors are never cached: the next root a client
// probes for appears when a rotation is published.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", cacheNoStore)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(wire.ErrorResponse{Error: wire.ErrorBody{Code: code, Message: msg}})
}
