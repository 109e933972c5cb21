// Package releasespec is what a Vigil release is, written once for both sides of the trust
// boundary: package release (which authors and signs the repository) and package updater (which
// verifies it and installs from it) both import it, so the rules they must agree on cannot drift.
//
// It defines
//   - versions: MAJOR.MINOR.PATCH[-PRE], one spelling per version, semver precedence (Version);
//   - target paths: "<binary>/<version>/linux-<arch>" (Target);
//   - the custom metadata every target carries in signed targets.json (Custom);
//   - which builds an updater may install: the version a channel points to (ChannelVersion), the
//     version floor of a binary (Floor) and the floor and downgrade rules (CheckInstall).
//
// Custom metadata looks like this:
//
//	{"version": "1.2.3", "channels": ["stable"], "min_version": "1.1.0", "allow_downgrade": false}
//
// # Trust model
//
// Nothing here verifies a signature. A channel, a floor or allow_downgrade mean something only
// because they are read from targets metadata that carries the offline targets keys' threshold:
// callers pass only verified metadata (the updater after go-tuf's refresh, release after checking
// the threshold), and the server, which holds only online keys, cannot change it. The rules are
// still written for hostile bytes, as defence in depth: every read is bounded by a named limit
// (MaxVersionLen, MaxTargetPathLen, MaxCustomSize, MaxChannels, MaxChannelLen), entries that are
// not well-formed Vigil builds are ignored when resolving channels and floors, and a build whose
// own entry is malformed is refused (ParseBuild).
//
// Standard library only (TestStandardLibraryOnly): both sides link it, and it must add no
// dependency to vigil-updater, which never links signing code.
package releasespec
