// Package release authors Vigil's release repository: a TUF repository
// (https://theupdateframework.github.io/specification/latest/) built with
// go-tuf/v2's metadata package and read by any stock TUF client, including
// go-tuf's own updater.
//
// # Trust model
//
//	root keys (offline, threshold e.g. 2 of 3)
//	  -(sign)-> root.json: the keys and thresholds of root, targets, snapshot, timestamp
//	targets keys (offline, release engineers, threshold e.g. 2 of 3)
//	  -(sign)-> targets.json: every build (path, length, sha256) and, as custom
//	            metadata, its version, its channels and the minimum version (floor)
//	snapshot key (online, vigil-server) -(sign)-> snapshot.json: the current targets.json version
//	timestamp key (online, vigil-server) -(sign)-> timestamp.json: the current snapshot, freshness
//
// Everything a client acts on (which builds exist, what a channel points to,
// the version floor, whether a downgrade is allowed) is in targets.json and
// therefore needs the targets threshold: the server, which holds only the
// online keys, cannot add a build, move a channel or lower a floor. Repo
// enforces this too (Publish verifies the threshold), but the guarantee comes
// from the clients, which verify targets.json against root.json themselves.
// What a compromised server can do is withhold updates or serve stale
// metadata until the timestamp expires (1 day by default).
//
// Root keys sign only root.json. A new root (version N+1) must carry a
// threshold of signatures from the keys of root N and a threshold from its own
// keys; clients walk the chain one version at a time, so every root version
// is kept. Revoking a key is a root rotation without it; if it was a targets
// key, targets.json is re-signed by the remaining keys in the same publish.
//
// # Repository layout
//
// Consistent snapshots are on: metadata is published as "<version>.root.json",
// "<version>.targets.json", "<version>.snapshot.json" and "timestamp.json"
// (plus "root.json", a copy of the newest root for bootstrapping), and a
// target "vigil-agent/1.2.3/linux-amd64" is stored as
// "vigil-agent/1.2.3/<sha256>.linux-amd64". Targets carry sha256 hashes only.
// Custom metadata of a target is TargetCustom:
//
//	{"version": "1.2.3", "channels": ["stable"], "min_version": "1.1.0", "allow_downgrade": false}
//
// A channel points to one version per binary: promoting version V to channel
// C adds C to every target of V and removes it from the other versions of the
// same binaries. Clients find a channel's version with ChannelVersion.
//
// What these names and fields mean (version syntax and order, target paths,
// custom metadata, channel resolution, the floor, allow_downgrade) is defined
// once in package releasespec, which vigil-updater imports too: the rules this
// package writes under and the rules updaters install under are the same code.
//
// # Release flow
//
// Server side (Repo): UploadArtifact stores each build content-addressed after
// checking its length and sha256; Stage (or Promote, or Renew) writes a draft
// of the next targets.json, unsigned; release engineers fetch it with Draft,
// review it with DiffTargets, sign it offline with SignMetadata and hand the
// signature back with AddSignature; Publish refuses until the draft carries a
// threshold of valid signatures from the current targets keys, then signs a
// new snapshot and timestamp with the online keys and publishes the set.
// RefreshOnline re-signs timestamp and snapshot before they expire.
//
// Offline side (vigilctl, pure functions over bytes): BuildRoot, SignMetadata,
// VerifyMetadata, EmptyTargets, DiffTargets.
//
// Repo is safe for concurrent use within one process. Across processes
// sharing one Storage, the caller must serialize changes (for example under
// the leader lock); DirStorage refuses to replace a published versioned file
// with different content (ErrConflict), so a lost race fails instead of
// forking the repository.
package release
