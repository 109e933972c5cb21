// Package envflag lets every flag of a Vigil binary also be set by an environment variable:
// --ca-fingerprint reads VIGIL_CA_FINGERPRINT. A flag given on the command line wins; an empty
// variable counts as unset. --version and --help are never read from the environment, so a stray
// VIGIL_VERSION cannot turn a daemon into a one-shot command. It imports only the standard library.
package envflag

import (
	"flag"
	"fmt"
	"strings"
)

// Prefix starts every variable name.
const Prefix = "VIGIL_"

// Name returns the environment variable for a flag name.
func Name(flagName string) string {
	return Prefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Apply sets each flag of fs that was not given on the command line from its variable, when that
// is non-empty. Call it after fs.Parse. An unparsable value is an error naming the variable.
func Apply(fs *flag.FlagSet, getenv func(string) string) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || given[f.Name] || f.Name == "version" || f.Name == "help" {
			return
		}
		if v := getenv(Name(f.Name)); v != "" {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s: %w", Name(f.Name), e)
			}
		}
	})
	return err
}
