package main

import (
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/release"
)

// Conversions from the operator-API contract to the release package's types, for offline work
// (building root, explaining signatures, rendering diffs) on what the server sent.

// tufKeys turns the server's online keys into go-tuf keys for root metadata.
func tufKeys(ks []api.Key) []*metadata.Key {
	out := make([]*metadata.Key, len(ks))
	for i, k := range ks {
		out[i] = &metadata.Key{Type: k.Type, Scheme: k.Scheme, Value: metadata.KeyVal{PublicKey: k.Value.Public}}
	}
	return out
}

// releaseReport is a draft's signature report as package release checks it.
func releaseReport(r api.SignatureReport) release.SignatureReport {
	return release.SignatureReport{Role: r.Role, Threshold: r.Threshold, Valid: r.Valid, Invalid: r.Invalid, Unknown: r.Unknown, Missing: r.Missing}
}

// releaseDiff is a draft's diff as package release renders it.
func releaseDiff(d api.TargetsDiff) release.TargetsDiff {
	out := release.TargetsDiff{FromVersion: d.FromVersion, ToVersion: d.ToVersion, Expires: d.Expires, Other: d.Other}
	for _, c := range d.Changes {
		out.Changes = append(out.Changes, release.TargetChange{Path: c.Path, Kind: release.ChangeKind(c.Kind), Details: c.Details})
	}
	return out
}
