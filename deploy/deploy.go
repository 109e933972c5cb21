// Package deploy holds the systemd units, the demo script, the one-line host install script
// (install.sh, which vigil-server serves at GET /install.sh), the package definitions
// (packages/) and the tests that check them. PID 1 on the build machines is not systemd, so the
// units are checked with `systemd-analyze verify` (which needs no running systemd) and by parsing,
// never by starting them; packages_test.go installs the packages into a throwaway root and starts
// the installed binaries by hand.
package deploy

import _ "embed"

// InstallScript is install.sh: the one-line host install (docs/install.md). vigil-server serves
// it, unauthenticated, at GET /install.sh.
//
//go:embed install.sh
var InstallScript []byte

// UpdaterUnit is systemd/vigil-updater.service, which install.sh fetches from
// GET /install/vigil-updater.service.
//
//go:embed systemd/vigil-updater.service
var UpdaterUnit []byte
