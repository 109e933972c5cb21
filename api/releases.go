package api

import (
	"encoding/json"
	"time"
)

// HeaderSHA256 carries the hex SHA-256 of an artifact uploaded with
// PUT /api/v1/releases/{version}/artifacts/{name}.
const HeaderSHA256 = "X-Vigil-SHA256"

// MaxArtifactUpload bounds an uploaded build: 512 MiB (413 beyond).
const MaxArtifactUpload = 512 << 20

// OnlineKeys are the server's online snapshot and timestamp public keys in TUF form, what release
// engineers put into root metadata for those roles: GET /api/v1/repo/online-keys.
type OnlineKeys struct {
	Snapshot  []Key `json:"snapshot"`
	Timestamp []Key `json:"timestamp"`
}

// Key is a public key as TUF metadata spells it. Its fields are in the order TUF's canonical
// JSON gives them, so a key re-encoded from this type keeps its key ID.
type Key struct {
	Type   string `json:"keytype"`
	Value  KeyVal `json:"keyval"`
	Scheme string `json:"scheme"`
}

// KeyVal holds a TUF key's public part.
type KeyVal struct {
	Public string `json:"public"`
}

// RepoMetadataRequest is the body of POST /api/v1/repo/init and /api/v1/repo/rotate-root:
// root metadata signed offline and, optionally, targets metadata signed to the targets threshold.
type RepoMetadataRequest struct {
	Root    json.RawMessage `json:"root"`
	Targets json.RawMessage `json:"targets,omitempty"`
}

// RepoStatus is the state of the release repository: GET /api/v1/repo/status, and the answer of
// init, rotate-root and publish.
type RepoStatus struct {
	Initialized bool         `json:"initialized"`
	Roles       []RoleStatus `json:"roles"`  // root, targets, snapshot, timestamp
	Drafts      []string     `json:"drafts"` // pending draft names
}

// RoleStatus is the state of one TUF role.
type RoleStatus struct {
	Role      string    `json:"role"`
	Version   int64     `json:"version"` // 0: not published yet
	Expires   time.Time `json:"expires"`
	Threshold int       `json:"threshold"`
	KeyIDs    []string  `json:"keyids"`
	Online    bool      `json:"online"` // signed by the server
}

// ArtifactInfo describes an uploaded build by the name release tooling gives it
// ("vigil-agent-linux-amd64"): the answer of an upload and an entry of StageRequest.
type ArtifactInfo struct {
	Name   string `json:"name"`
	Length int64  `json:"length"`
	SHA256 string `json:"sha256"` // lower-case hex
}

// StageRequest is the body of POST /api/v1/releases/{version}/stage.
type StageRequest struct {
	Artifacts      []ArtifactInfo `json:"artifacts"`
	Channels       []string       `json:"channels,omitempty"`
	MinVersion     string         `json:"min_version,omitempty"`
	AllowDowngrade bool           `json:"allow_downgrade,omitempty"`
}

// PromoteRequest is the body of POST /api/v1/releases/{version}/promote.
type PromoteRequest struct {
	Channel string `json:"channel"`
}

// Release is one version: GET /api/v1/releases.
type Release struct {
	Version        string     `json:"version"`
	Published      bool       `json:"published"`
	Artifacts      []Artifact `json:"artifacts"` // published builds, or the draft's if not published
	Channels       []string   `json:"channels"`  // published channels
	MinVersion     string     `json:"min_version"`
	AllowDowngrade bool       `json:"allow_downgrade"`
	Draft          *DraftInfo `json:"draft,omitempty"` // pending draft named by this version
}

// Artifact is one build of a release. Binary, Version and Arch are capitalised on the wire (as
// they always were).
type Artifact struct {
	Binary  string `json:"Binary"`  // vigil-agent or vigil-updater
	Version string `json:"Version"` // the release version
	Arch    string `json:"Arch"`    // GOARCH
	Path    string `json:"path"`    // TUF target path
	Length  int64  `json:"length"`
	SHA256  string `json:"sha256"`
}

// DraftInfo describes a pending targets draft: GET /api/v1/drafts/{name}/status, and the answer
// of stage, promote, renew and signing.
type DraftInfo struct {
	Name           string          `json:"name"` // a release version, or "renew"
	TargetsVersion int64           `json:"targets_version"`
	Expires        time.Time       `json:"expires"`
	Stale          bool            `json:"stale"` // another targets change was published since
	Signatures     SignatureReport `json:"signatures"`
	Diff           TargetsDiff     `json:"diff"`
}

// SignatureReport describes the signatures on a draft, checked against the keys and threshold
// the current root gives the targets role.
type SignatureReport struct {
	Role      string   `json:"role"`
	Threshold int      `json:"threshold"`
	Valid     []string `json:"valid"`   // trusted key IDs whose signature verifies
	Invalid   []string `json:"invalid"` // trusted key IDs whose signature does not verify
	Unknown   []string `json:"unknown"` // key IDs the role does not trust
	Missing   []string `json:"missing"` // trusted key IDs that have not signed
}

// TargetsDiff is what a targets draft changes compared to the published targets.
type TargetsDiff struct {
	FromVersion int64          `json:"from_version"` // 0 if nothing was published
	ToVersion   int64          `json:"to_version"`
	Expires     time.Time      `json:"expires"`
	Changes     []TargetChange `json:"changes"`
	// Other lists changes outside the targets map (delegations, unknown fields).
	Other []string `json:"other"`
}

// TargetChange is one target that differs; Kind is added, removed or modified.
type TargetChange struct {
	Path    string   `json:"path"`
	Kind    string   `json:"kind"`
	Details []string `json:"details"` // human-readable, e.g. "channels: [beta] -> [beta stable]"
}

// Signature is one signature over a draft: the body of POST /api/v1/drafts/{name}/signatures
// when a single signature is sent. Sig is hex.
type Signature struct {
	KeyID string `json:"keyid"`
	Sig   string `json:"sig"`
}
