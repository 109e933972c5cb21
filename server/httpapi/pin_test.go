package httpapi

import (
	"context"
	"strings"
	"testing"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/apiclient"
	"github.com/vigilhq/vigil/release"
	"github.com/vigilhq/vigil/signing"
)

// publish signs the draft of version with alice and bob and publishes it.
func (e *releaseEnv) publish(t *testing.T, version string) {
	t.Helper()
	ctx := context.Background()
	draft, err := e.viewer.Draft(ctx, version)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []*signing.Key{e.alice, e.bob} {
		signed, _, err := release.SignMetadata(ctx, draft, k)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.rel.AddSignatures(ctx, version, signed); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.rel.Publish(ctx, version); err != nil {
		t.Fatalf("publish %s: %v", version, err)
	}
}

// TestPinChecksTheRepository: a pin to a channel no published release is on, or to a version
// that is not published, is refused with a message that says what exists and what to do; a
// version not published yet is pinned with force; what is published is pinned.
func TestPinChecksTheRepository(t *testing.T) {
	e := newReleaseEnv(t, true)
	ctx := context.Background()
	// Before the repository exists, nothing is published.
	if _, err := e.admin.SetPin(ctx, "default", api.Pin{Version: "1.0.0"}); !apiclient.IsCode(err, api.CodeInvalid) ||
		!strings.Contains(err.Error(), "published: none") {
		t.Fatalf("pin before any release: %v", err)
	}
	e.initRepo(t)
	e.stage(t, "1.0.0", []byte("agent 1.0.0"))
	e.publish(t, "1.0.0")
	e.stage(t, "1.1.0", []byte("agent 1.1.0")) // a draft, not published

	for _, tt := range []struct {
		name string
		pin  api.Pin
		want string // in the error; empty: accepted
	}{
		{"published version", api.Pin{Version: "1.0.0"}, ""},
		{"published channel", api.Pin{Channel: "beta"}, ""},
		{"typo in a version", api.Pin{Version: "1.0.00"}, "no published version 1.0.00 (published: 1.0.0); to pin a version before it is published, use force"},
		{"typo in a channel", api.Pin{Channel: "bta"}, `no published release is on channel "bta" (channels: beta)`},
		{"channel with force is still refused", api.Pin{Channel: "stable", Force: true}, `channel "stable"`},
		{"staged, not published", api.Pin{Version: "1.1.0"}, "1.1.0 is staged but not published yet"},
		{"staged, with force", api.Pin{Version: "1.1.0", Force: true}, ""},
		{"unknown, with force", api.Pin{Version: "2.0.0", Force: true}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.admin.SetPin(ctx, "default", tt.pin)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("SetPin(%+v): %v", tt.pin, err)
			case tt.want == "" && (got.Version != tt.pin.Version || got.Channel != tt.pin.Channel || got.Force):
				t.Fatalf("SetPin(%+v) = %+v", tt.pin, got)
			case tt.want != "" && (!apiclient.IsCode(err, api.CodeInvalid) || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("SetPin(%+v): %v; want invalid saying %q", tt.pin, err, tt.want)
			}
		})
	}
	// A refused pin leaves the group's pin as it was.
	if _, err := e.admin.SetPin(ctx, "default", api.Pin{Version: "1.0.0"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.admin.SetPin(ctx, "default", api.Pin{Version: "1.0.1"}); err == nil {
		t.Fatal("pin to an unpublished version accepted")
	}
	if p, err := e.viewer.GetPin(ctx, "default"); err != nil || p.Version != "1.0.0" {
		t.Fatalf("pin after a refused change = %+v, %v", p, err)
	}
}
