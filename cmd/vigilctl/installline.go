package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/vigilhq/vigil/apiclient"
	"github.com/vigilhq/vigil/release"
	"github.com/vigilhq/vigil/releasespec"
	"github.com/vigilhq/vigil/tlspin"
)

// The one-line host install (docs/install.md). Every value in the line pins something, and each
// comes from what this workstation verified, not from what the server says about itself:
//   - --pubkey: the SHA-256 of the server certificate's public key, seen on a connection verified
//     with --ca; curl --pinnedpubkey authenticates every download of install.sh with it.
//   - --ca-sha256: the CA that connection chained to; the updater pins it from then on.
//   - --root-version/--root-sha256: the root verified from the trusted root file
//     (verifiedRoot), which the updater starts TUF from.
//   - --updater-version/--updater-sha256-<arch>: the signed vigil-updater targets of the version
//     the group follows, from targets metadata verified against that root.

// installArches are the architectures install.sh knows.
var installArches = []string{"amd64", "arm64"}

// errNoUpdaterRelease: the repository has no signed vigil-updater build to install.
var errNoUpdaterRelease = errors.New("no signed vigil-updater build")

// installLine returns the command an operator pastes on a host to install it into group with token.
func (c *cli) installLine(ctx context.Context, cl *apiclient.Client, group, token string) (string, error) {
	pubkey, ca, err := c.serverPins(ctx)
	if err != nil {
		return "", err
	}
	root, _, err := c.verifiedRoot(ctx, cl)
	if err != nil {
		return "", err
	}
	rootSpec, err := release.RootSpecOf(root)
	if err != nil {
		return "", err
	}
	targetsJSON, err := cl.Targets(ctx)
	if err != nil {
		return "", err
	}
	if targetsJSON == nil {
		return "", fmt.Errorf("%w: nothing is published yet", errNoUpdaterRelease)
	}
	if _, err := release.VerifyMetadata(root, targetsJSON); err != nil {
		return "", fmt.Errorf("refused: the server's targets metadata does not verify against the trusted root: %w", err)
	}
	targets, err := metadata.Targets().FromBytes(targetsJSON)
	if err != nil {
		return "", fmt.Errorf("targets metadata: %w", err)
	}
	g, err := cl.GetGroup(ctx, group)
	if err != nil {
		return "", err
	}
	version, err := updaterVersion(targets.Signed, g.Pin.Version, g.Pin.Channel)
	if err != nil {
		return "", err
	}
	// The line pins the bytes the server serves at /tuf/metadata/<v>.root.json, checked here to
	// hold exactly the verified root's signed content.
	served, err := c.servedRoot(ctx, rootSpec.Version, root)
	if err != nil {
		return "", err
	}
	rootSum := sha256.Sum256(served)
	server := strings.TrimRight(c.server, "/")
	var b strings.Builder
	fmt.Fprintf(&b, "curl -fsS -k --pinnedpubkey 'sha256//%s' %s/install.sh | sudo sh -s --", pubkey, server)
	fmt.Fprintf(&b, " --server %s --token %s --ca-sha256 %s --pubkey '%s'", server, token, ca, pubkey)
	fmt.Fprintf(&b, " --root-version %d --root-sha256 %s --updater-version %s", rootSpec.Version, hex.EncodeToString(rootSum[:]), version)
	for _, arch := range installArches {
		if tf, ok := targets.Signed.Targets[releasespec.Target{Binary: releasespec.BinaryUpdater, Version: version, Arch: arch}.Path()]; ok {
			fmt.Fprintf(&b, " --updater-sha256-%s %s", arch, hex.EncodeToString(tf.Hashes["sha256"]))
		}
	}
	return b.String(), nil
}

// updaterVersion is the vigil-updater version a new host of a group installs: the group's
// pinned version, else the version its channel (default "stable") points to, when the signed
// targets hold an updater build of it.
func updaterVersion(targets metadata.TargetsType, pin, channel string) (string, error) {
	if pin != "" {
		for _, arch := range installArches {
			if _, ok := targets.Targets[releasespec.Target{Binary: releasespec.BinaryUpdater, Version: pin, Arch: arch}.Path()]; ok {
				return pin, nil
			}
		}
		return "", fmt.Errorf("%w of version %s, which the group is pinned to: release one (vigil-updater-linux-<arch>)", errNoUpdaterRelease, pin)
	}
	if channel == "" {
		channel = "stable"
	}
	if v, ok := release.ChannelVersion(&targets, releasespec.BinaryUpdater, channel); ok {
		return v, nil
	}
	return "", fmt.Errorf("%w on channel %s: release one (vigil-updater-linux-<arch>)", errNoUpdaterRelease, channel)
}

// serverPins connects to the server as the API client does (verified with --ca or the system
// roots) and returns the base64 SHA-256 of the server certificate's public key and the SHA-256
// fingerprint of the CA certificate the verified chain ends in.
func (c *cli) serverPins(ctx context.Context) (pubkey, ca string, err error) {
	hc, err := c.httpClient()
	if err != nil {
		return "", "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(c.server, "/")+"/healthz", nil)
	if err != nil {
		return "", "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", "", fmt.Errorf("connect to the server for its TLS pins: %w", err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1024))
	resp.Body.Close()
	if resp.TLS == nil || len(resp.TLS.VerifiedChains) == 0 || len(resp.TLS.VerifiedChains[0]) < 2 {
		return "", "", errors.New("the install line needs an https:// server whose certificate chains to a CA (pass --ca)")
	}
	chain := resp.TLS.VerifiedChains[0]
	spki := sha256.Sum256(chain[0].RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(spki[:]), tlspin.Fingerprint(chain[len(chain)-1].Raw), nil
}

// servedRoot fetches root version v as the server serves it and returns its bytes if their
// signed content is exactly that of the verified root (the encodings may differ).
func (c *cli) servedRoot(ctx context.Context, v int64, verified []byte) ([]byte, error) {
	hc, err := c.httpClient()
	if err != nil {
		return nil, err
	}
	data, err := fetchRoot(ctx, hc, fmt.Sprintf("%s/tuf/metadata/%d.root.json", strings.TrimRight(c.server, "/"), v))
	if err != nil {
		return nil, err
	}
	if data == nil {
		return nil, fmt.Errorf("the server does not serve root version %d", v)
	}
	signed := func(b []byte) ([]byte, error) {
		md, err := metadata.Root().FromBytes(b)
		if err != nil {
			return nil, err
		}
		return json.Marshal(md.Signed)
	}
	a, err := signed(data)
	if err != nil {
		return nil, fmt.Errorf("root version %d as served: %w", v, err)
	}
	b, err := signed(verified)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(a, b) {
		return nil, fmt.Errorf("refused: the server serves a root version %d that is not the one verified from your trusted root", v)
	}
	if _, err := release.VerifyMetadata(verified, data); err != nil {
		return nil, fmt.Errorf("refused: root version %d as served: %w", v, err)
	}
	return data, nil
}
