// Package tufrepo is vigil-server's release repository: the online snapshot and timestamp keys,
// the repository storage (release.DirStorage), the read-only /tuf/ endpoints clients update
// from, and the leader-only job that re-signs timestamp and snapshot before they expire.
//
// # Trust model
//
// The server holds only the online keys (snapshot and timestamp); root and targets keys stay
// with release engineers (see packages signing and release). Whoever holds the online keys can
// at worst freeze clients on old metadata until the timestamp expires, or withhold updates:
// clients verify targets.json (builds, channels, floors) against the offline targets keys.
//
// The online keys (ed25519) are generated the first time they are needed (when `vigilctl repo
// init` fetches them), loaded at every start after that (so a wrong passphrase fails the start),
// and stored encrypted at rest in <data-dir>/tuf-keys/ (directory 0700, files 0600), never in
// plaintext on disk. The passphrase
// comes from a file the operator provides (Config.PassphraseFile, for example on a separate
// secrets mount), or else is generated once into <data-dir>/tuf-keys/passphrase. The trade-off
// of the default: a copy of the database alone, or of the key files alone, does not reveal the
// keys, but an attacker who reads the whole data directory gets them. That is acceptable only
// because they are the online roles, which the server must be able to use unattended anyway.
//
// # Serving
//
// Handler serves <repo>/metadata and <repo>/targets read-only through os.Root, so no request
// path can leave those directories; drafts (<repo>/drafts) and uploaded builds not yet
// published (<repo>/staging) are never served. Under /tuf/targets/ it serves only the targets
// that the current signed targets metadata names, by their consistent-snapshot name
// ("<sha256>.linux-amd64", immutable: cached for a year); anything else in the directory,
// the plain target path included, is a 404. timestamp.json is
// served with "Cache-Control: no-store", root.json with "no-cache", versioned metadata
// ("3.root.json") as immutable; a missing file, such as the next root a client probes for,
// is a 404.
//
// # Uploads
//
// A release-role token can upload builds (release.Repo.UploadArtifact) only once the
// repository exists; they are staged in <repo>/staging, bounded per build (MaxBlobBytes) and in
// total (MaxStagedBytes), and moved into <repo>/targets when a targets version signed by the
// release engineers' offline keys names them. Uploads no pending draft names are removed after
// StagedTTL by the leader.
//
// Repository is safe for concurrent use.
package tufrepo
