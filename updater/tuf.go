package updater

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/fetcher"
	tufupdater "github.com/theupdateframework/go-tuf/v2/metadata/updater"

	"github.com/vigilhq/vigil/atomicfile"
	"github.com/vigilhq/vigil/internal/wallclock"
	"github.com/vigilhq/vigil/releasespec"
)

// Limits on what the repository may send. go-tuf applies its own per-role limits (the defaults
// below) on top of the fetcher's.
const (
	// MaxRootSize bounds one root.json.
	MaxRootSize = 512000
	// MaxTimestampSize bounds timestamp.json.
	MaxTimestampSize = 16384
	// MaxSnapshotSize bounds snapshot.json.
	MaxSnapshotSize = 2000000
	// MaxTargetsMetadataSize bounds targets.json.
	MaxTargetsMetadataSize = 5000000
	// MaxTargetSize bounds one downloaded build, whatever the signed length says.
	MaxTargetSize = 512 << 20
	// maxErrorBody bounds how much of an error answer is read.
	maxErrorBody = 4096
	// diskSpaceMargin is kept free beyond a download's length.
	diskSpaceMargin = 16 << 20
)

// HTTPConfig sets the timeouts of the client that talks to the server and the repository.
type HTTPConfig struct {
	// TLS verifies the server. Nil uses the system roots.
	TLS *tls.Config
	// ConnectTimeout bounds a TCP connect. Default 10s.
	ConnectTimeout time.Duration
	// TLSHandshakeTimeout bounds a TLS handshake. Default 10s.
	TLSHandshakeTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for response headers after the request is sent.
	// Default 15s.
	ResponseHeaderTimeout time.Duration
	// RequestTimeout bounds a whole metadata or API request, body included. Default 60s.
	RequestTimeout time.Duration
	// DownloadTimeout bounds a whole target download. Default 30m.
	DownloadTimeout time.Duration
	// IdleReadTimeout aborts a download when no byte arrives for this long. Default 30s.
	IdleReadTimeout time.Duration
}

func (c *HTTPConfig) withDefaults() HTTPConfig {
	o := *c
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.ConnectTimeout, 10*time.Second)
	def(&o.TLSHandshakeTimeout, 10*time.Second)
	def(&o.ResponseHeaderTimeout, 15*time.Second)
	def(&o.RequestTimeout, 60*time.Second)
	def(&o.DownloadTimeout, 30*time.Minute)
	def(&o.IdleReadTimeout, 30*time.Second)
	return o
}

// NewHTTPClient returns a client with connect, TLS-handshake and response-header timeouts. The
// total timeouts are applied per request by the callers (RequestTimeout, DownloadTimeout).
func NewHTTPClient(c HTTPConfig) *http.Client {
	c = c.withDefaults()
	if wallclock.Faked && c.TLS != nil {
		c.TLS = c.TLS.Clone()
		c.TLS.Time = wallclock.Override // certificate validity on the faked wall clock (test builds only)
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: c.ConnectTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       c.TLS,
		TLSHandshakeTimeout:   c.TLSHandshakeTimeout,
		ResponseHeaderTimeout: c.ResponseHeaderTimeout,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   2,
		ForceAttemptHTTP2:     true,
		// Targets are compressed builds already; identity keeps lengths and Range exact.
		DisableCompression: true,
	}
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
		return errors.New("redirects are not followed")
	}}
}

// TUFConfig configures a TUFClient.
type TUFConfig struct {
	// MetadataURL is the repository's metadata base URL (<server>/tuf/metadata/). Required.
	MetadataURL string
	// TargetsURL is the targets base URL (<server>/tuf/targets/). Required for downloads.
	TargetsURL string
	// MetadataDir caches trusted metadata as root.json, timestamp.json, snapshot.json,
	// targets.json. Required. Created 0700; refused when not ours or group/world writable.
	MetadataDir string
	// TrustedRoot is the initial root (embedded or --trusted-root), used only when MetadataDir
	// holds no root.json. A cached root is never replaced by it.
	TrustedRoot []byte
	// HTTP sets timeouts; HTTP.TLS verifies the server.
	HTTP HTTPConfig
	// Client overrides the HTTP client built from HTTP (its timeouts still apply per request).
	Client *http.Client
	// Now, when set, replaces the system clock as the reference time for expiry checks. Only
	// test tools set it (vigil-tuf-client under a faked clock, tests); vigil-updater leaves it
	// nil (wallclock.Override; set only in the test-only vigil_fakeclock build), and go-tuf then
	// reads the system clock itself (see Refresh).
	Now func() time.Time
	// Logger defaults to slog.Default() if nil. go-tuf's own log is bridged to the first
	// TUFClient's logger, once per process, at debug level.
	Logger *slog.Logger
}

// TUFClient is the TUF client of vigil-updater and vigil-tuf-client. Each Refresh uses a new
// go-tuf updater whose trust anchor is the cached root. A TUFClient is NOT safe for concurrent
// use: one refresh at a time per metadata directory.
type TUFClient struct {
	cfg    TUFConfig
	http   HTTPConfig
	client *http.Client
	log    *slog.Logger

	requests atomic.Int64
	bytes    atomic.Int64
}

var bridgeOnce sync.Once

// slogTUF adapts slog to go-tuf's logr-like Logger. go-tuf logs every step at Info; it is debug
// detail for us.
type slogTUF struct{ l *slog.Logger }

func (s slogTUF) Info(msg string, kv ...any) { s.l.Debug("go-tuf: "+msg, kv...) }
func (s slogTUF) Error(err error, msg string, kv ...any) {
	s.l.Debug("go-tuf: "+msg, append(kv, keyError, err)...)
}

// NewTUFClient checks cfg and the metadata directory.
func NewTUFClient(cfg TUFConfig) (*TUFClient, error) {
	if cfg.MetadataURL == "" || cfg.MetadataDir == "" {
		return nil, errors.New("updater: TUFConfig.MetadataURL and MetadataDir are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &TUFClient{cfg: cfg, http: cfg.HTTP.withDefaults(), log: cfg.Logger}
	c.client = cfg.Client
	if c.client == nil {
		hc := c.http
		hc.TLS = tlsForServer(hc.TLS, cfg.MetadataURL, cfg.TargetsURL)
		c.client = NewHTTPClient(hc)
	}
	bridgeOnce.Do(func() { metadata.SetLogger(slogTUF{cfg.Logger.With("component", "go-tuf")}) })
	if err := os.MkdirAll(cfg.MetadataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create TUF metadata dir: %w", err)
	}
	if err := CheckCacheDir(cfg.MetadataDir); err != nil {
		return nil, err
	}
	return c, nil
}

// CheckCacheDir refuses a metadata directory (or a file in it) not owned by this user or writable
// by group or others: whoever can write there can replace our trust anchor.
func CheckCacheDir(dir string) error {
	check := func(p string, fi fs.FileInfo) error {
		if fi.Mode()&fs.ModeSymlink != 0 {
			return fmt.Errorf("%s is a symlink: %w", p, ErrInsecureCache)
		}
		if fi.Mode().Perm()&0o022 != 0 {
			return fmt.Errorf("%s has mode %v: %w", p, fi.Mode().Perm(), ErrInsecureCache)
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
			return fmt.Errorf("%s is owned by uid %d, not %d: %w", p, st.Uid, os.Geteuid(), ErrInsecureCache)
		}
		return nil
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("TUF metadata dir: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory: %w", dir, ErrInsecureCache)
	}
	if err := check(dir, fi); err != nil {
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("TUF metadata dir: %w", err)
	}
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			continue
		}
		if err := check(filepath.Join(dir, e.Name()), fi); err != nil {
			return err
		}
	}
	return nil
}

// rootVersion returns the signed version of root metadata, or an error when it does not parse.
func rootVersion(data []byte) (int64, error) {
	md, err := metadata.Root().FromBytes(data)
	if err != nil {
		return 0, err
	}
	return md.Signed.Version, nil
}

// InitRoot stores root as the trust anchor in dir unless a cached root of the same or a higher
// version is there already (that one stays: a cached root is only ever replaced by go-tuf after
// verifying the chain). It makes no request.
func InitRoot(dir string, root []byte) error {
	if len(root) > MaxRootSize {
		return fmt.Errorf("trusted root larger than %d bytes", MaxRootSize)
	}
	v, err := rootVersion(root)
	if err != nil {
		return fmt.Errorf("trusted root: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := CheckCacheDir(dir); err != nil {
		return err
	}
	p := filepath.Join(dir, "root.json")
	if cached, err := os.ReadFile(p); err == nil {
		if cv, err := rootVersion(cached); err == nil && cv >= v {
			return nil
		}
	}
	return atomicfile.Write(p, root, 0o644)
}

// anchor returns the root to start from: the cached one, else the configured one.
func (c *TUFClient) anchor() ([]byte, error) {
	p := filepath.Join(c.cfg.MetadataDir, "root.json")
	data, err := readFileLimit(p, MaxRootSize)
	switch {
	case err == nil:
		return data, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("read cached root: %w", err)
	case len(c.cfg.TrustedRoot) == 0:
		return nil, fmt.Errorf("no cached root in %s and no trusted root configured", c.cfg.MetadataDir)
	}
	return c.cfg.TrustedRoot, nil
}

// Stats returns how many requests and body bytes this client fetched so far.
func (c *TUFClient) Stats() (requests, bytes int64) { return c.requests.Load(), c.bytes.Load() }

// Repository is a verified view of the repository after one refresh.
type Repository struct {
	c          *TUFClient
	up         *tufupdater.Updater
	targets    map[string]*metadata.TargetFiles
	listing    releasespec.Listing
	consistent bool
	// TargetsVersion and RootVersion are the versions of the trusted metadata.
	TargetsVersion, RootVersion int64
}

// Refresh runs the TUF client workflow (root → timestamp → snapshot → targets) with a new go-tuf
// updater and returns the verified view. ctx bounds every request (go-tuf's Refresh takes none,
// so ctx is bound into the fetcher). Security failures match ErrSecurity.
func (c *TUFClient) Refresh(ctx context.Context) (*Repository, error) {
	if err := CheckCacheDir(c.cfg.MetadataDir); err != nil {
		return nil, err
	}
	root, err := c.anchor()
	if err != nil {
		return nil, err
	}
	cfg, err := config.New(c.cfg.MetadataURL, root)
	if err != nil {
		return nil, err
	}
	cfg.LocalMetadataDir = c.cfg.MetadataDir
	cfg.LocalTargetsDir = c.cfg.MetadataDir // unused: targets are streamed to our own files
	cfg.RemoteTargetsURL = c.cfg.TargetsURL
	cfg.RootMaxLength = MaxRootSize
	cfg.TimestampMaxLength = MaxTimestampSize
	cfg.SnapshotMaxLength = MaxSnapshotSize
	cfg.TargetsMaxLength = MaxTargetsMetadataSize
	cfg.Fetcher = &tufFetcher{ctx: ctx, c: c}
	up, err := tufupdater.New(cfg)
	if err != nil {
		return nil, classifyTUF("load trusted root", err)
	}
	// The reference time. go-tuf v2.4.2 has no supported way to set it: config.UpdaterConfig has
	// no clock, trustedmetadata.New stamps RefTime with time.Now().UTC() while tufupdater.New
	// loads the root, GetTrustedMetadataSet returns a copy, and the one setter,
	// UnsafeSetRefTime, is documented as for tests only. So the production path (Now nil) does
	// not touch it: expiry is judged by the system clock, read by tufupdater.New, as go-tuf intends. The
	// setter is used only when a test tool supplies its own clock. Either way the clock decides
	// expiry only: a clock ahead refuses metadata that has not expired yet (the installed version
	// keeps running until the clock is right), a clock behind accepts metadata that has (it
	// widens a freeze attack by the skew), and neither weakens signatures or the version
	// numbers that refuse replays (TestRefTimeAhead, TestRefTimeBehind).
	if c.cfg.Now != nil {
		up.UnsafeSetRefTime(c.cfg.Now().UTC())
	}
	if err := up.Refresh(); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("refresh metadata: %w: %w", ErrUnavailable, ctx.Err())
		}
		return nil, classifyTUF("refresh metadata", err)
	}
	tm := up.GetTrustedMetadataSet()
	r := &Repository{
		c:              c,
		up:             up,
		targets:        up.GetTopLevelTargets(),
		listing:        listing(up.GetTopLevelTargets()),
		consistent:     tm.Root.Signed.ConsistentSnapshot,
		TargetsVersion: tm.Targets[metadata.TARGETS].Signed.Version,
		RootVersion:    tm.Root.Signed.Version,
	}
	return r, nil
}

// Targets returns the verified top-level targets (delegations are not used by Vigil).
func (r *Repository) Targets() map[string]*metadata.TargetFiles { return r.targets }

// Listing is the verified top-level targets as releasespec's rules read them.
func (r *Repository) Listing() releasespec.Listing { return r.listing }

// Target returns the verified entry of one target path, following delegations if any. Every
// delegated role on the way is verified against the keys of the delegator it is reached through,
// on every call (see forgetDelegatedRoles). Not safe for concurrent use.
func (r *Repository) Target(targetPath string) (*metadata.TargetFiles, error) {
	if tf, ok := r.targets[targetPath]; ok {
		return tf, nil
	}
	r.forgetDelegatedRoles()
	tf, err := r.up.GetTargetInfo(targetPath)
	if err != nil {
		if errors.Is(err, &metadata.ErrRepository{}) {
			return nil, classifyTUF("find target", err)
		}
		return nil, fmt.Errorf("target %s: %w", targetPath, ErrUnknownVersion)
	}
	return tf, nil
}

// forgetDelegatedRoles drops every delegated role from go-tuf's trusted set, keeping the
// top-level roles. go-tuf v2.4.2 keeps each delegated role it loaded and, on a later lookup,
// returns it whichever delegator the walk reaches it through, without checking that
// delegator's keys: a role C that A's keys for C signed would then be trusted for a path that
// B delegates to C under other keys (the conformance case
// test_cached_role_is_verified_against_current_delegator). Once dropped, go-tuf loads the role
// again (from the cache directory, else the repository) and verifies it against the delegator
// of this walk. GetTrustedMetadataSet returns the set by value, but its Targets map is the one
// the updater uses; TestCachedRoleIsVerifiedAgainstCurrentDelegator fails if that changes.
func (r *Repository) forgetDelegatedRoles() {
	tm := r.up.GetTrustedMetadataSet()
	for name := range tm.Targets {
		if name != metadata.TARGETS {
			delete(tm.Targets, name)
		}
	}
}

// TargetURL is where a target is fetched: with consistent snapshots the base name is prefixed by
// its sha256 ("<dir>/<sha256>.<base>").
func (r *Repository) TargetURL(base string, tf *metadata.TargetFiles) (string, error) {
	p := tf.Path
	if r.consistent {
		var sum string
		for _, alg := range []string{"sha256", "sha512"} {
			if h, ok := tf.Hashes[alg]; ok {
				sum = hex.EncodeToString(h)
				break
			}
		}
		if sum == "" {
			for _, h := range tf.Hashes {
				sum = hex.EncodeToString(h)
				break
			}
		}
		dir, file := path.Split(p)
		p = dir + sum + "." + file
	}
	if base == "" {
		base = r.c.cfg.TargetsURL
	}
	if base == "" {
		return "", errors.New("no targets URL configured")
	}
	return strings.TrimSuffix(base, "/") + "/" + p, nil
}

// Download streams the target to dst, resuming a partial dst+".part" with Range, and verifies the
// signed length and hashes before dst appears. Free space is checked first. The partial file is
// deleted when it cannot be the target (too long, wrong hash). Verification failures match
// ErrSecurity and ErrTargetMismatch.
func (r *Repository) Download(ctx context.Context, tf *metadata.TargetFiles, dst, targetsBaseURL string) error {
	if tf.Length <= 0 || tf.Length > MaxTargetSize {
		return &SecurityError{Op: "download " + tf.Path, Err: fmt.Errorf("signed length %d outside 1..%d", tf.Length, MaxTargetSize)}
	}
	hashes, err := newHashes(tf)
	if err != nil {
		return &SecurityError{Op: "download " + tf.Path, Err: err}
	}
	u, err := r.TargetURL(targetsBaseURL, tf)
	if err != nil {
		return err
	}
	part := dst + ".part"
	if err := checkFreeSpace(filepath.Dir(dst), tf.Length); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, r.c.http.DownloadTimeout)
	defer cancel()

	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open partial download: %w", err)
	}
	defer f.Close()
	// Re-hash what is already there.
	have, err := io.Copy(hashes.w, io.LimitReader(f, tf.Length+1))
	if err != nil {
		return fmt.Errorf("read partial download: %w", err)
	}
	if have > tf.Length {
		f.Close()
		os.Remove(part)
		return &SecurityError{Op: "download " + tf.Path, Err: fmt.Errorf("partial file longer than signed length: %w", ErrTargetMismatch)}
	}
	var lastErr error = ErrUnavailable
	for attempt := 0; have < tf.Length; attempt++ {
		if attempt >= 3 {
			return fmt.Errorf("download %s: gave up after %d attempts at %d of %d bytes: %w", tf.Path, attempt, have, tf.Length, requestError(lastErr))
		}
		n, restart, err := r.fetchRange(ctx, u, f, hashes.w, have, tf.Length)
		if restart {
			// The server ignored Range: start over.
			if err := f.Truncate(0); err != nil {
				return err
			}
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return err
			}
			hashes.reset()
			have = 0
			n, _, err = r.fetchRange(ctx, u, f, hashes.w, 0, tf.Length)
			have += n
		} else {
			have += n
		}
		if err != nil {
			if errors.Is(err, ErrSecurity) {
				f.Close()
				os.Remove(part)
				return err
			}
			if ctx.Err() != nil {
				return fmt.Errorf("download %s: %w", tf.Path, requestError(err))
			}
			lastErr = err
			r.c.log.Warn("Download interrupted; resuming.", keyTarget, tf.Path, "have", have, keyError, err)
			continue
		}
	}
	if err := hashes.verify(); err != nil {
		f.Close()
		os.Remove(part)
		return &SecurityError{Op: "download " + tf.Path, Err: err}
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(part, dst); err != nil {
		return err
	}
	return atomicfile.SyncDir(filepath.Dir(dst))
}

// fetchRange GETs url from offset, appending to w and h. restart reports that the server sent the
// whole file (200) although a range was asked for.
func (r *Repository) fetchRange(ctx context.Context, url string, w io.Writer, h io.Writer, offset, length int64) (n int64, restart bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	idle := time.AfterFunc(r.c.http.IdleReadTimeout+r.c.http.ResponseHeaderTimeout, cancel)
	defer idle.Stop()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, false, err
	}
	if offset > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", offset))
	}
	r.c.requests.Add(1)
	resp, err := r.c.client.Do(req)
	if err != nil {
		return 0, false, requestError(err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPartialContent && offset > 0:
		if !strings.HasPrefix(resp.Header.Get("Content-Range"), fmt.Sprintf("bytes %d-", offset)) {
			return 0, true, nil
		}
	case resp.StatusCode == http.StatusOK:
		if offset > 0 {
			return 0, true, nil
		}
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		return 0, true, nil
	default:
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		err := &metadata.ErrDownloadHTTP{StatusCode: resp.StatusCode, URL: url}
		if resp.StatusCode >= 500 || resp.StatusCode == 429 {
			return 0, false, statusError(err)
		}
		return 0, false, fmt.Errorf("download: %w", err)
	}
	if cl := resp.ContentLength; cl > length-offset {
		return 0, false, &SecurityError{Op: "download", Err: fmt.Errorf("server announces %d bytes, at most %d expected: %w", cl, length-offset, ErrTargetMismatch)}
	}
	// Read at most one byte more than the signed length, with an idle timeout per read.
	idle.Reset(r.c.http.IdleReadTimeout)
	body := &idleReader{r: resp.Body, t: idle, timeout: r.c.http.IdleReadTimeout}
	limit := length - offset + 1
	n, err = io.Copy(io.MultiWriter(w, h), io.LimitReader(body, limit))
	r.c.bytes.Add(n)
	if n == limit {
		return n, false, &SecurityError{Op: "download", Err: fmt.Errorf("more than the signed %d bytes: %w", length, ErrTargetMismatch)}
	}
	if err != nil {
		return n, false, err
	}
	return n, false, nil
}

// idleReader resets an idle timer on every read; when the timer fires, the request's context is
// cancelled and the pending read fails.
type idleReader struct {
	r       io.Reader
	t       *time.Timer
	timeout time.Duration
}

func (i *idleReader) Read(p []byte) (int, error) {
	n, err := i.r.Read(p)
	if n > 0 {
		i.t.Reset(i.timeout)
	}
	return n, err
}

// targetHashes checks every hash the signed metadata lists that we know (sha256 required).
type targetHashes struct {
	tf *metadata.TargetFiles
	hs map[string]hash.Hash
	w  io.Writer
}

func newHashes(tf *metadata.TargetFiles) (*targetHashes, error) {
	t := &targetHashes{tf: tf}
	t.reset()
	if len(t.hs) == 0 {
		return nil, fmt.Errorf("target %s lists no sha256 or sha512 hash", tf.Path)
	}
	return t, nil
}

func (t *targetHashes) reset() {
	t.hs = map[string]hash.Hash{}
	var ws []io.Writer
	for alg := range t.tf.Hashes {
		var h hash.Hash
		switch alg {
		case "sha256":
			h = sha256.New()
		case "sha512":
			h = sha512.New()
		default:
			continue
		}
		t.hs[alg] = h
		ws = append(ws, h)
	}
	t.w = io.MultiWriter(ws...)
}

func (t *targetHashes) verify() error {
	for alg, h := range t.hs {
		if !bytes.Equal(h.Sum(nil), t.tf.Hashes[alg]) {
			return fmt.Errorf("%s %s: %w", t.tf.Path, alg, ErrTargetMismatch)
		}
	}
	return nil
}

// checkFreeSpace refuses a download that would leave less than diskSpaceMargin free.
func checkFreeSpace(dir string, need int64) error {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return fmt.Errorf("statfs %s: %w", dir, err)
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	if free < need+diskSpaceMargin {
		return fmt.Errorf("%s has %d bytes free, %d needed: %w", dir, free, need+diskSpaceMargin, ErrNoSpace)
	}
	return nil
}

// tufFetcher implements go-tuf's fetcher.Fetcher with our client, the refresh's ctx, a total timeout
// per request and the length go-tuf allows for each file.
type tufFetcher struct {
	ctx context.Context
	c   *TUFClient
}

var _ fetcher.Fetcher = (*tufFetcher)(nil)

// DownloadFile implements fetcher.Fetcher.
func (f *tufFetcher) DownloadFile(url string, maxLength int64, _ time.Duration) ([]byte, error) {
	if maxLength <= 0 || maxLength > MaxTargetsMetadataSize {
		maxLength = MaxTargetsMetadataSize
	}
	ctx, cancel := context.WithTimeout(f.ctx, f.c.http.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	f.c.requests.Add(1)
	resp, err := f.c.client.Do(req)
	if err != nil {
		return nil, requestError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		n, _ := io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		f.c.bytes.Add(n)
		herr := &metadata.ErrDownloadHTTP{StatusCode: resp.StatusCode, URL: url}
		if resp.StatusCode >= 500 || resp.StatusCode == 429 {
			return nil, statusError(herr)
		}
		return nil, herr
	}
	if resp.ContentLength > maxLength {
		return nil, &metadata.ErrDownloadLengthMismatch{Msg: fmt.Sprintf("%s: %d bytes announced, at most %d allowed", url, resp.ContentLength, maxLength)}
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxLength+1))
	f.c.bytes.Add(int64(len(data)))
	if int64(len(data)) > maxLength {
		return nil, &metadata.ErrDownloadLengthMismatch{Msg: fmt.Sprintf("%s: more than %d bytes", url, maxLength)}
	}
	if err != nil {
		return nil, requestError(fmt.Errorf("read %s: %w", url, err))
	}
	return data, nil
}

// readFileLimit reads at most limit bytes of a file and fails when it is longer.
func readFileLimit(p string, limit int64) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", p, limit)
	}
	return data, nil
}
