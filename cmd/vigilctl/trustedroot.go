package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vigilhq/vigil/apiclient"
	"github.com/vigilhq/vigil/atomicfile"
	"github.com/vigilhq/vigil/release"
)

// The trusted root file is this workstation's trust anchor for the release repository: root
// metadata obtained out of band (written by `repo init`, or copied from whoever ran it and
// checked against the key IDs noted at the init ceremony). `release sign` and
// `repo rotate-root` never act on the root the server's API hands out; they fetch the
// server's newer roots from /tuf/metadata/<v>.root.json, verify the chain from the trusted
// root with release.VerifyRootChain (each version signed by the previous root's threshold and
// its own), and move the file forward to the verified latest root. A compromised server can
// withhold new roots, but not make an engineer sign against, or rotate from, keys it chose.

// trustedRootFileName is the file under the vigil config directory.
const trustedRootFileName = "trusted-root.json"

// trustedRootPath returns --trusted-root, or $XDG_CONFIG_HOME/vigil/trusted-root.json
// (~/.config/vigil/trusted-root.json when XDG_CONFIG_HOME is unset or relative).
func (c *cli) trustedRootPath() (string, error) {
	if c.trustedRoot != "" {
		return c.trustedRoot, nil
	}
	dir := os.Getenv("XDG_CONFIG_HOME")
	if dir == "" || !filepath.IsAbs(dir) {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", usageError{fmt.Errorf("no home directory for the trusted root file: pass --trusted-root FILE (%w)", err)}
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "vigil", trustedRootFileName), nil
}

// readTrustedRoot reads the trusted root file (at most release.MaxRootSize bytes).
func readTrustedRoot(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, release.MaxRootSize+1))
	if err != nil {
		return nil, fmt.Errorf("read trusted root %s: %w", path, err)
	}
	if len(data) > release.MaxRootSize {
		return nil, fmt.Errorf("trusted root %s is larger than %d bytes", path, release.MaxRootSize)
	}
	return data, nil
}

// writeTrustedRoot atomically replaces the trusted root file with root.
func writeTrustedRoot(path string, root []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("write trusted root: %w", err)
	}
	return atomicfile.Write(path, root, 0o644)
}

// verifiedRoot returns the server's latest root, verified from the trusted root file, and
// moves the file forward to it. path is the trusted root file to update after a rotation, ""
// when --insecure-trust-server-root took the server's root unverified.
func (c *cli) verifiedRoot(ctx context.Context, cl *apiclient.Client) (root []byte, path string, err error) {
	path, err = c.trustedRootPath()
	if err != nil {
		return nil, "", err
	}
	trusted, err := readTrustedRoot(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && c.insecureTrustServerRoot:
		root, err := cl.Root(ctx)
		if err != nil {
			return nil, "", err
		}
		if _, err := release.VerifyRootChain(root, nil); err != nil {
			return nil, "", fmt.Errorf("the server's root: %w", err)
		}
		spec, err := release.RootSpecOf(root)
		if err != nil {
			return nil, "", err
		}
		fmt.Fprintf(c.stderr, "WARNING: --insecure-trust-server-root: there is no trusted root at %s, so vigilctl is trusting\n"+
			"WARNING: root version %d exactly as the server serves it (root keys %s). A compromised server could\n"+
			"WARNING: have forged it. Get a trusted root out of band as soon as you can (see docs/releasing.md).\n",
			path, spec.Version, shortIDs(spec.Root))
		return root, "", nil
	case errors.Is(err, fs.ErrNotExist):
		return nil, "", fmt.Errorf("no trusted root at %s: vigilctl verifies the server's root against a root you trust before it signs.\n"+
			"Get root version 1 (/tuf/metadata/1.root.json, or the trusted-root.json written by `vigilctl repo init`) from whoever ran\n"+
			"the init ceremony, compare its root and targets key IDs with the note made at the ceremony (not with the server),\n"+
			"and save it as %s (or pass --trusted-root FILE). --insecure-trust-server-root skips the check", path, path)
	case err != nil:
		return nil, "", err
	}
	from, err := release.RootSpecOf(trusted)
	if err != nil {
		return nil, "", fmt.Errorf("trusted root %s: %w", path, err)
	}
	chain, err := c.fetchRootChain(ctx, from.Version+1)
	if err != nil {
		return nil, "", err
	}
	latest, err := release.VerifyRootChain(trusted, chain)
	if err != nil {
		return nil, "", fmt.Errorf("refused: the server's root does not verify against your trusted root %s (version %d); "+
			"the server may be compromised, tell the other root key holders: %w", path, from.Version, err)
	}
	spec, err := release.RootSpecOf(latest)
	if err != nil {
		return nil, "", err
	}
	if len(chain) > 0 {
		if err := writeTrustedRoot(path, latest); err != nil {
			return nil, "", err
		}
		fmt.Fprintf(c.stderr, "Verified root versions %d to %d from your trusted root; %s now holds version %d.\n", from.Version+1, spec.Version, path, spec.Version)
	}
	if !spec.Expires.After(time.Now()) {
		fmt.Fprintf(c.stderr, "WARNING: root version %d expired at %s: updaters refuse it; renew it with `vigilctl repo rotate-root`.\n",
			spec.Version, spec.Expires.UTC().Format(time.RFC3339))
	}
	return latest, path, nil
}

// fetchRootChain fetches /tuf/metadata/<v>.root.json for v = from, from+1, … until the
// server answers 404, each at most release.MaxRootSize bytes and at most
// release.MaxRootChain of them.
func (c *cli) fetchRootChain(ctx context.Context, from int64) ([][]byte, error) {
	hc, err := c.httpClient()
	if err != nil {
		return nil, err
	}
	base := strings.TrimRight(c.server, "/") + "/tuf/metadata/"
	var chain [][]byte
	for v := from; ; v++ {
		if len(chain) == release.MaxRootChain {
			return nil, fmt.Errorf("the server has more than %d root versions after version %d", release.MaxRootChain, from-1)
		}
		data, err := fetchRoot(ctx, hc, fmt.Sprintf("%s%d.root.json", base, v))
		if err != nil {
			return nil, err
		}
		if data == nil {
			return chain, nil
		}
		chain = append(chain, data)
	}
}

// fetchRoot GETs one root version; nil, nil when the server has none (404).
func fetchRoot(ctx context.Context, hc *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch root: %w", err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return nil, nil
	default:
		return nil, fmt.Errorf("fetch %s: server said %s", url, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, release.MaxRootSize+1))
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", url, err)
	}
	if len(data) > release.MaxRootSize {
		return nil, fmt.Errorf("fetch %s: more than %d bytes", url, release.MaxRootSize)
	}
	return data, nil
}
