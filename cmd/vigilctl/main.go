// Command vigilctl is the operator and release-engineer CLI for Vigil. It talks to vigil-server's
// JSON API with an API token; release signing happens locally with keys that never leave this machine.
package main

import (
	"context"
	"os"
)

// version is set at build time with -ldflags "-X main.version=1.2.3".
var version = "dev"

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
