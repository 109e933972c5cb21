package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/apiclient"
)

// errNoMatch and errAmbiguous are what a lookup by ID prefix or hostname can fail with.
var (
	errNoMatch   = errors.New("no match")
	errAmbiguous = errors.New("ambiguous")
)

// lookupError is a failed lookup: its message is for the operator, its kind (errNoMatch or
// errAmbiguous) for errors.Is.
type lookupError struct {
	kind error
	msg  string
}

func (e *lookupError) Error() string { return e.msg }
func (e *lookupError) Unwrap() error { return e.kind }

// fullIDLen is the length of host and token IDs (32 hex digits).
const fullIDLen = 32

// maxCandidates bounds the candidates an ambiguity error lists.
const maxCandidates = 10

// resolveHost returns the ID of the one host arg names: its ID, a prefix of its ID that no other
// host's ID starts with, or its hostname when exactly one host has that name. Anything else is
// an error that lists the candidates.
func (c *cli) resolveHost(ctx context.Context, cl *apiclient.Client, arg string) (string, error) {
	if arg == "" {
		return "", usageError{errors.New("give a host ID, a unique ID prefix or a hostname")}
	}
	if len(arg) == fullIDLen {
		if _, err := cl.GetHost(ctx, arg); err == nil || !apiclient.IsCode(err, api.CodeNotFound) {
			return arg, err
		}
	}
	hs, err := cl.ListHosts(ctx, "")
	if err != nil {
		return "", err
	}
	describe := func(h api.Host) string { return h.ID + "  " + h.Hostname + "  (group " + h.Group + ")" }
	var byPrefix, byName []api.Host
	for _, h := range hs {
		if h.ID == arg {
			return h.ID, nil
		}
		if strings.HasPrefix(h.ID, arg) {
			byPrefix = append(byPrefix, h)
		}
		if h.Hostname == arg {
			byName = append(byName, h)
		}
	}
	switch {
	case len(byPrefix) == 1:
		return byPrefix[0].ID, nil
	case len(byPrefix) > 1:
		return "", candidatesError(fmt.Sprintf("host ID prefix %q matches %d hosts; give more of the ID", arg, len(byPrefix)), byPrefix, describe)
	case len(byName) == 1:
		return byName[0].ID, nil
	case len(byName) > 1:
		return "", candidatesError(fmt.Sprintf("hostname %q is shared by %d hosts; give an ID prefix instead", arg, len(byName)), byName, describe)
	}
	return "", &lookupError{errNoMatch, fmt.Sprintf("no host has the ID, ID prefix or hostname %q (vigilctl hosts ls lists them)", arg)}
}

// resolveEnrollmentToken returns the ID of the one enrollment token whose ID is arg or starts
// with it.
func (c *cli) resolveEnrollmentToken(ctx context.Context, cl *apiclient.Client, arg string) (string, error) {
	ts, err := cl.ListEnrollmentTokens(ctx)
	if err != nil {
		return "", err
	}
	var match []api.EnrollmentToken
	for _, t := range ts {
		if t.ID == arg {
			return t.ID, nil
		}
		if arg != "" && strings.HasPrefix(t.ID, arg) {
			match = append(match, t)
		}
	}
	switch len(match) {
	case 0:
		return "", &lookupError{errNoMatch, fmt.Sprintf("no enrollment token has the ID or ID prefix %q (vigilctl enroll ls lists them)", arg)}
	case 1:
		return match[0].ID, nil
	}
	return "", candidatesError(fmt.Sprintf("token ID prefix %q matches %d enrollment tokens; give more of the ID", arg, len(match)), match,
		func(t api.EnrollmentToken) string {
			return t.ID + "  group " + t.Group + ", created " + fmtTime(t.CreatedAt)
		})
}

// candidatesError is an errAmbiguous error whose message lists the candidates, one a line.
func candidatesError[T any](msg string, cands []T, describe func(T) string) error {
	var b strings.Builder
	for i, cand := range cands {
		if i == maxCandidates {
			fmt.Fprintf(&b, "\n  … and %d more", len(cands)-maxCandidates)
			break
		}
		b.WriteString("\n  " + describe(cand))
	}
	return &lookupError{errAmbiguous, msg + ":" + b.String()}
}
