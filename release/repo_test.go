package release

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/vigilhq/vigil/signing"
)

var builds100 = map[string]string{
	"vigil-agent-linux-amd64":   "agent 1.0.0 amd64",
	"vigil-agent-linux-arm64":   "agent 1.0.0 arm64",
	"vigil-updater-linux-amd64": "updater 1.0.0 amd64",
}

func TestRoundTripWithGoTUFClient(t *testing.T) {
	f := newFixture(t)
	f.release("1.0.0", builds100, StageOptions{Channels: []string{"beta"}})
	f.release("1.1.0", map[string]string{"vigil-agent-linux-amd64": "agent 1.1.0 amd64"}, StageOptions{MinVersion: "1.0.0"})
	if _, err := f.repo.Promote(f.ctx, "1.1.0", "beta"); err != nil {
		t.Fatal(err)
	}
	f.signDraft("1.1.0", f.targets[1], f.targets[2])
	if err := f.repo.Publish(f.ctx, "1.1.0"); err != nil {
		t.Fatal(err)
	}

	c := f.newClient()
	up, err := c.refresh(f.clock.Now())
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	for path, want := range map[string]string{
		"vigil-agent/1.0.0/linux-arm64":   "agent 1.0.0 arm64",
		"vigil-updater/1.0.0/linux-amd64": "updater 1.0.0 amd64",
		"vigil-agent/1.1.0/linux-amd64":   "agent 1.1.0 amd64",
	} {
		got, err := c.download(up, path)
		if err != nil {
			t.Fatalf("download %s: %v", path, err)
		}
		if string(got) != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	targets := up.GetTrustedMetadataSet().Targets[metadata.TARGETS].Signed
	for _, tt := range []struct{ binary, want string }{{BinaryAgent, "1.1.0"}, {BinaryUpdater, "1.0.0"}} {
		if v, ok := ChannelVersion(&targets, tt.binary, "beta"); !ok || v != tt.want {
			t.Errorf("ChannelVersion(%s, beta) = %q, %v; want %s", tt.binary, v, ok, tt.want)
		}
	}
	if v := Floor(&targets, BinaryAgent); v != "1.0.0" {
		t.Errorf("Floor(agent) = %q, want 1.0.0", v)
	}
	c100, _ := ParseCustom(targets.Targets["vigil-agent/1.0.0/linux-amd64"])
	if len(c100.Channels) != 0 {
		t.Errorf("1.0.0 still on channels %v after 1.1.0 was promoted", c100.Channels)
	}
	// A file the client does not know is not there.
	if _, err := up.GetTargetInfo("vigil-agent/9.9.9/linux-amd64"); err == nil {
		t.Error("GetTargetInfo of an unknown target succeeded")
	}
}

func TestTamperedBlobRejectedByClient(t *testing.T) {
	f := newFixture(t)
	f.release("1.0.0", builds100, StageOptions{})
	body := builds100["vigil-agent-linux-amd64"]
	arts := f.upload("1.0.0", map[string]string{"vigil-agent-linux-amd64": body})
	blob := filepath.Join(f.storage.TargetsPath(), filepath.FromSlash(blobPath(Target{Binary: BinaryAgent, Version: "1.0.0", Arch: "amd64"}, arts[0].SHA256)))
	if err := os.WriteFile(blob, []byte(strings.ToUpper(body)), 0o644); err != nil { // same length
		t.Fatal(err)
	}
	c := f.newClient()
	up, err := c.refresh(f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.download(up, "vigil-agent/1.0.0/linux-amd64"); err == nil {
		t.Fatal("the client accepted a tampered build")
	}
	if got, err := c.download(up, "vigil-agent/1.0.0/linux-arm64"); err != nil || string(got) != builds100["vigil-agent-linux-arm64"] {
		t.Fatalf("untampered build: %q, %v", got, err)
	}
}

func TestPublishRefusedBelowThreshold(t *testing.T) {
	f := newFixture(t)
	if _, err := f.repo.Stage(f.ctx, "1.0.0", f.upload("1.0.0", builds100), StageOptions{}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, f.repo.Publish(f.ctx, "1.0.0"), ErrThresholdNotMet)
	di := f.signDraft("1.0.0", f.targets[0])
	if di.Signatures.ThresholdMet() || len(di.Signatures.Valid) != 1 || len(di.Signatures.Missing) != 2 {
		t.Errorf("signature report %+v", di.Signatures)
	}
	// The same key again does not count twice.
	di = f.signDraft("1.0.0", f.targets[0])
	if len(di.Signatures.Valid) != 1 {
		t.Errorf("duplicate signature counted: %+v", di.Signatures)
	}
	wantErr(t, f.repo.Publish(f.ctx, "1.0.0"), ErrThresholdNotMet)
	if _, err := f.storage.GetMetadata(f.ctx, "2.targets.json"); err == nil {
		t.Fatal("targets version 2 was published")
	}
	f.signDraft("1.0.0", f.targets[2])
	if err := f.repo.Publish(f.ctx, "1.0.0"); err != nil {
		t.Fatalf("Publish with 2 of 3: %v", err)
	}
}

func TestPublishRefusedWithBadSignature(t *testing.T) {
	f := newFixture(t)
	if _, err := f.repo.Stage(f.ctx, "1.0.0", f.upload("1.0.0", builds100), StageOptions{}); err != nil {
		t.Fatal(err)
	}
	d, _ := f.repo.Draft(f.ctx, "1.0.0")
	_, sig, err := SignMetadata(f.ctx, d, f.targets[0])
	if err != nil {
		t.Fatal(err)
	}
	sig.Signature[0] ^= 0xff
	_, err = f.repo.AddSignature(f.ctx, "1.0.0", sig)
	wantErr(t, err, ErrBadSignature)

	// A signature over different content (here: a draft edited after
	// signing) is bad too, even if stored behind the Repo's back.
	f.signDraft("1.0.0", f.targets[0], f.targets[1])
	d, _ = f.repo.Draft(f.ctx, "1.0.0")
	md, err := parseTargets(d)
	if err != nil {
		t.Fatal(err)
	}
	md.Signed.Expires = md.Signed.Expires.Add(time.Hour)
	edited, _ := md.ToBytes(true)
	if err := f.storage.PutDraft(f.ctx, "1.0.0"+draftSuffix, edited); err != nil {
		t.Fatal(err)
	}
	wantErr(t, f.repo.Publish(f.ctx, "1.0.0"), ErrBadSignature)
}

func TestPublishRefusedWithRevokedKey(t *testing.T) {
	f := newFixture(t)
	if _, err := f.repo.Stage(f.ctx, "1.0.0", f.upload("1.0.0", builds100), StageOptions{}); err != nil {
		t.Fatal(err)
	}
	f.signDraft("1.0.0", f.targets[0], f.targets[1])

	// Revoke targets key 0: root version 2 without it, with a new key 4.
	newTargets := []*signing.Key{f.targets[1], f.targets[2], testKey(t, "targets4")}
	f.rotate(func(s *RootSpec) { s.Targets.Keys = tufKeys(newTargets...) }, nil, f.root[0], f.root[1])

	wantErr(t, f.repo.Publish(f.ctx, "1.0.0"), ErrUnknownKey)
	d, _ := f.repo.Draft(f.ctx, "1.0.0")
	_, sig, _ := SignMetadata(f.ctx, d, f.targets[0])
	f.repo.RemoveSignature(f.ctx, "1.0.0", sig.KeyID)
	_, err := f.repo.AddSignature(f.ctx, "1.0.0", sig)
	wantErr(t, err, ErrUnknownKey)
	wantErr(t, f.repo.Publish(f.ctx, "1.0.0"), ErrThresholdNotMet)
	f.signDraft("1.0.0", newTargets[2])
	if err := f.repo.Publish(f.ctx, "1.0.0"); err != nil {
		t.Fatalf("Publish with remaining keys: %v", err)
	}
}

// rotate builds root version N+1 from the current root edited by edit,
// signs it with keys and rotates.
func (f *fixture) rotate(edit func(*RootSpec), targetsJSON []byte, keys ...signing.Signer) []byte {
	f.t.Helper()
	cur, err := f.repo.Root(f.ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	spec, err := RootSpecOf(cur)
	if err != nil {
		f.t.Fatal(err)
	}
	spec.Version++
	spec.Expires = f.clock.Now().Add(365 * 24 * time.Hour)
	edit(&spec)
	nr, err := BuildRoot(spec)
	if err != nil {
		f.t.Fatal(err)
	}
	nr = f.sign(nr, keys...)
	if err := f.repo.RotateRoot(f.ctx, nr, targetsJSON); err != nil {
		f.t.Fatalf("RotateRoot: %v", err)
	}
	return nr
}

func TestAddSignatureFromUntrustedKey(t *testing.T) {
	f := newFixture(t)
	if _, err := f.repo.Stage(f.ctx, "1.0.0", f.upload("1.0.0", builds100), StageOptions{}); err != nil {
		t.Fatal(err)
	}
	d, _ := f.repo.Draft(f.ctx, "1.0.0")
	for _, k := range []*signing.Key{f.online, f.root[0], testKey(t, "stranger")} {
		_, sig, err := SignMetadata(f.ctx, d, k)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.repo.AddSignature(f.ctx, "1.0.0", sig)
		wantErr(t, err, ErrUnknownKey)
	}
}

func TestRootRotationFollowedByClient(t *testing.T) {
	f := newFixture(t)
	f.release("1.0.0", builds100, StageOptions{})
	c := f.newClient()
	if _, err := c.refresh(f.clock.Now()); err != nil {
		t.Fatal(err)
	}

	// Root version 2 replaces root key 3 by key 4 and raises the threshold to 3.
	r4 := testKey(t, "root4")
	f.rotate(func(s *RootSpec) {
		s.Root = RoleKeys{Keys: tufKeys(f.root[0], f.root[1], r4), Threshold: 3}
	}, nil, f.root[0], f.root[1], r4)
	// Root version 3: signed by version 2's three keys and its own (key 5 replaces key 1).
	r5 := testKey(t, "root5")
	f.rotate(func(s *RootSpec) {
		s.Root = RoleKeys{Keys: tufKeys(r5, f.root[1], r4), Threshold: 2}
	}, nil, f.root[0], f.root[1], r4, r5)

	f.clock.Add(time.Hour)
	up, err := c.refresh(f.clock.Now())
	if err != nil {
		t.Fatalf("Refresh after rotation: %v", err)
	}
	if v := up.GetTrustedMetadataSet().Root.Signed.Version; v != 3 {
		t.Fatalf("client root version %d, want 3", v)
	}
	if _, err := c.download(up, "vigil-agent/1.0.0/linux-amd64"); err != nil {
		t.Fatal(err)
	}
	// A new client that only knows root 1 walks the whole chain.
	if up, err := f.newClient().refresh(f.clock.Now()); err != nil || up.GetTrustedMetadataSet().Root.Signed.Version != 3 {
		t.Fatalf("fresh client: %v", err)
	}
	for i := 1; i <= 3; i++ {
		if _, err := f.storage.GetMetadata(f.ctx, versioned(int64(i), metadata.ROOT)); err != nil {
			t.Errorf("root version %d not kept: %v", i, err)
		}
	}
}

func TestRootRotationNeedsBothThresholds(t *testing.T) {
	f := newFixture(t)
	n1, n2 := testKey(t, "rootN1"), testKey(t, "rootN2")
	cur, _ := f.repo.Root(f.ctx)
	spec, _ := RootSpecOf(cur)
	spec.Version = 2
	spec.Root = RoleKeys{Keys: tufKeys(n1, n2), Threshold: 2}
	nr, err := BuildRoot(spec)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		keys []signing.Signer
		want error
	}{
		{"new keys only", []signing.Signer{n1, n2}, ErrThresholdNotMet},
		{"old keys only", []signing.Signer{f.root[0], f.root[1]}, ErrThresholdNotMet},
		{"one old one new", []signing.Signer{f.root[0], n1}, ErrThresholdNotMet},
		{"online key", []signing.Signer{f.online, n1, n2}, ErrThresholdNotMet},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantErr(t, f.repo.RotateRoot(f.ctx, f.sign(nr, tt.keys...), nil), tt.want)
		})
	}
	// Skipping a version is refused too.
	spec.Version = 3
	nr3, _ := BuildRoot(spec)
	wantErr(t, f.repo.RotateRoot(f.ctx, f.sign(nr3, f.root[0], f.root[1], n1, n2), nil), ErrInvalidRoot)
	if err := f.repo.RotateRoot(f.ctx, f.sign(nr, f.root[0], f.root[1], n1, n2), nil); err != nil {
		t.Fatalf("RotateRoot with both thresholds: %v", err)
	}
}

func TestRevokeTargetsKeyResignsTargets(t *testing.T) {
	f := newFixture(t)
	f.release("1.0.0", builds100, StageOptions{}) // signed by targets keys 0 and 1
	c := f.newClient()
	if _, err := c.refresh(f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	cur, _ := f.repo.Root(f.ctx)
	spec, _ := RootSpecOf(cur)
	spec.Version = 2
	spec.Targets.Keys = tufKeys(f.targets[1], f.targets[2]) // revoke key 0
	nr, err := BuildRoot(spec)
	if err != nil {
		t.Fatal(err)
	}
	nr = f.sign(nr, f.root[0], f.root[1])
	// Without re-signed targets the rotation would strand clients.
	wantErr(t, f.repo.RotateRoot(f.ctx, nr, nil), ErrThresholdNotMet)

	// Re-sign the current targets as the next version with the remaining keys, offline.
	published, _ := f.repo.Targets(f.ctx)
	md, _ := parseTargets(published)
	md.Signed.Version++
	md.Signed.Expires = expiry(f.clock.Now(), 90*24*time.Hour)
	md.ClearSignatures()
	resigned, _ := md.ToBytes(true)
	// Signed by the revoked key: refused.
	wantErr(t, f.repo.RotateRoot(f.ctx, nr, f.sign(resigned, f.targets[0], f.targets[1])), ErrUnknownKey)
	if err := f.repo.RotateRoot(f.ctx, nr, f.sign(resigned, f.targets[1], f.targets[2])); err != nil {
		t.Fatal(err)
	}
	up, err := c.refresh(f.clock.Now())
	if err != nil {
		t.Fatalf("client after revocation: %v", err)
	}
	if v := up.GetTrustedMetadataSet().Targets[metadata.TARGETS].Signed.Version; v != md.Signed.Version {
		t.Errorf("client targets version %d, want %d", v, md.Signed.Version)
	}
}

func TestExpiryRefreshKeepsClientWorking(t *testing.T) {
	f := newFixture(t)
	f.release("1.0.0", builds100, StageOptions{})
	c := f.newClient()
	idle := f.newClient()
	if _, err := idle.refresh(f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	start := f.clock.Now()
	var resigned, snapshots int
	// 20 days, the server's ticker every 30 minutes, the client polling every 6 hours.
	for step := 1; f.clock.Now().Sub(start) < 20*24*time.Hour; step++ {
		now := f.clock.Add(30 * time.Minute)
		res, err := f.repo.RefreshOnline(f.ctx, now)
		if err != nil {
			t.Fatalf("RefreshOnline at %s: %v", now, err)
		}
		if res.Timestamp {
			resigned++
		}
		if res.Snapshot {
			snapshots++
		}
		if res.TimestampExpires.Sub(now) < 12*time.Hour {
			t.Fatalf("at %s the timestamp expires in %s", now, res.TimestampExpires.Sub(now))
		}
		if step%12 == 0 {
			up, err := c.refresh(now)
			if err != nil {
				t.Fatalf("client refresh at %s: %v", now, err)
			}
			if _, err := c.download(up, "vigil-agent/1.0.0/linux-amd64"); err != nil {
				t.Fatalf("download at %s: %v", now, err)
			}
		}
	}
	// Half-life re-signing: about two timestamps a day, a snapshot every 3.5 days.
	if resigned < 35 || resigned > 45 || snapshots < 4 || snapshots > 7 {
		t.Errorf("re-signed %d timestamps and %d snapshots in 20 days", resigned, snapshots)
	}
	// Without RefreshOnline the metadata would have expired: a client at
	// the same time with a copy of the first timestamp's repository fails.
	if _, err := idle.refresh(start.Add(25 * time.Hour)); err != nil {
		t.Fatalf("idle client, fresh metadata: %v", err)
	}
	f2 := newFixture(t)
	f2.release("1.0.0", builds100, StageOptions{})
	if _, err := f2.newClient().refresh(f2.clock.Now().Add(25 * time.Hour)); err == nil {
		t.Fatal("a client accepted a timestamp past its expiry")
	}
}

func TestChannelCannotMoveWithoutTargetsKeys(t *testing.T) {
	f := newFixture(t)
	f.release("1.0.0", builds100, StageOptions{Channels: []string{"stable"}})
	f.release("1.1.0", builds100Like("1.1.0"), StageOptions{})

	// The server drafts the promotion, but its own keys cannot sign it.
	if _, err := f.repo.Promote(f.ctx, "1.1.0", "stable"); err != nil {
		t.Fatal(err)
	}
	d, _ := f.repo.Draft(f.ctx, "1.1.0")
	_, sig, _ := SignMetadata(f.ctx, d, f.online)
	_, err := f.repo.AddSignature(f.ctx, "1.1.0", sig)
	wantErr(t, err, ErrUnknownKey)
	wantErr(t, f.repo.Publish(f.ctx, "1.1.0"), ErrThresholdNotMet)

	// A compromised server that bypasses Repo and publishes targets signed
	// with its online key (and a matching snapshot and timestamp) is
	// rejected by the stock client, which keeps the channel where it was.
	c := f.newClient()
	if _, err := c.refresh(f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	forged, _ := parseTargets(d)
	forged.ClearSignatures()
	if _, err := forged.Sign(f.online); err != nil {
		t.Fatal(err)
	}
	forgedJSON, _ := forged.ToBytes(false)
	st, err := f.repo.load(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	online, err := f.repo.onlineFiles(f.ctx, &st.root.Signed, st, forgedJSON, forged.Signed.Version, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	files := append([]MetadataFile{{versioned(forged.Signed.Version, metadata.TARGETS), forgedJSON}}, online...)
	if err := f.storage.PublishMetadata(f.ctx, files); err != nil {
		t.Fatal(err)
	}
	if _, err := c.refresh(f.clock.Now()); err == nil {
		t.Fatal("the client accepted targets signed by the online key")
	}
	if _, err := f.newClient().refresh(f.clock.Now()); err == nil {
		t.Fatal("a fresh client accepted targets signed by the online key")
	}
}

func builds100Like(v string) map[string]string {
	m := map[string]string{}
	for k, body := range builds100 {
		m[k] = strings.Replace(body, "1.0.0", v, 1)
	}
	return m
}

func TestPromote(t *testing.T) {
	f := newFixture(t)
	f.release("1.0.0", builds100, StageOptions{Channels: []string{"stable", "beta"}})
	f.release("1.1.0", map[string]string{"vigil-agent-linux-amd64": "a", "vigil-agent-linux-arm64": "b"}, StageOptions{})
	_, err := f.repo.Promote(f.ctx, "1.0.0", "stable")
	wantErr(t, err, ErrNoChange)
	_, err = f.repo.Promote(f.ctx, "2.0.0", "stable")
	wantErr(t, err, ErrUnknownRelease)
	_, err = f.repo.Promote(f.ctx, "1.1.0", "Stable!")
	wantErr(t, err, ErrInvalidName)

	di, err := f.repo.Promote(f.ctx, "1.1.0", "stable")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range di.Diff.Changes {
		if c.Kind != Modified {
			t.Errorf("unexpected change %+v", c)
		}
		got = append(got, c.Path+" "+strings.Join(c.Details, "; "))
	}
	want := []string{
		"vigil-agent/1.0.0/linux-amd64 channels: [beta stable] -> [beta]",
		"vigil-agent/1.0.0/linux-arm64 channels: [beta stable] -> [beta]",
		"vigil-agent/1.1.0/linux-amd64 channels: [] -> [stable]",
		"vigil-agent/1.1.0/linux-arm64 channels: [] -> [stable]",
	}
	if !slices.Equal(got, want) {
		t.Errorf("diff:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(di.Diff.String(), "channels: [] -> [stable]") {
		t.Errorf("String():\n%s", di.Diff.String())
	}
	_, err = f.repo.Promote(f.ctx, "1.1.0", "beta")
	wantErr(t, err, ErrDraftPending)
	f.signDraft("1.1.0", f.targets[0], f.targets[2])
	if err := f.repo.Publish(f.ctx, "1.1.0"); err != nil {
		t.Fatal(err)
	}
	rels, err := f.repo.Releases(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rels) != 2 || rels[0].Version != "1.1.0" || !slices.Equal(rels[0].Channels, []string{"stable"}) ||
		!slices.Equal(rels[1].Channels, []string{"beta", "stable"}) {
		// the updater of 1.0.0 stays on stable: 1.1.0 has no updater build
		t.Errorf("releases: %+v", rels)
	}
}

func TestStaleDraftRefused(t *testing.T) {
	f := newFixture(t)
	f.repo.Stage(f.ctx, "1.0.0", f.upload("1.0.0", builds100), StageOptions{})
	f.repo.Stage(f.ctx, "1.1.0", f.upload("1.1.0", builds100Like("1.1.0")), StageOptions{})
	f.signDraft("1.0.0", f.targets[0], f.targets[1])
	f.signDraft("1.1.0", f.targets[0], f.targets[1])
	if err := f.repo.Publish(f.ctx, "1.1.0"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, f.repo.Publish(f.ctx, "1.0.0"), ErrStaleDraft)
	di, err := f.repo.DraftStatus(f.ctx, "1.0.0")
	if err != nil || !di.Stale {
		t.Fatalf("DraftStatus = %+v, %v; want stale", di, err)
	}
	if err := f.repo.Discard(f.ctx, "1.0.0"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.repo.Stage(f.ctx, "1.0.0", f.upload("1.0.0", builds100), StageOptions{}); err != nil {
		t.Fatal(err)
	}
	f.signDraft("1.0.0", f.targets[1], f.targets[2])
	if err := f.repo.Publish(f.ctx, "1.0.0"); err != nil {
		t.Fatal(err)
	}
	_, err = f.repo.Stage(f.ctx, "1.0.0", f.upload("1.0.0", builds100), StageOptions{})
	wantErr(t, err, ErrReleaseExists)
}

func TestStageAndUploadValidation(t *testing.T) {
	f := newFixture(t)
	good := f.upload("1.0.0", map[string]string{"vigil-agent-linux-amd64": "x"})[0]
	tests := []struct {
		name      string
		version   string
		artifacts []ArtifactInfo
		want      error
	}{
		{"bad version", "1.0", []ArtifactInfo{good}, ErrInvalidName},
		{"bad binary", "1.0.0", []ArtifactInfo{{Name: "vigil-server-linux-amd64", Length: 1, SHA256: good.SHA256}}, ErrInvalidName},
		{"bad arch", "1.0.0", []ArtifactInfo{{Name: "vigil-agent-linux-sparc", Length: 1, SHA256: good.SHA256}}, ErrInvalidName},
		{"darwin", "1.0.0", []ArtifactInfo{{Name: "vigil-agent-darwin-amd64", Length: 1, SHA256: good.SHA256}}, ErrInvalidName},
		{"not uploaded", "1.0.0", []ArtifactInfo{{Name: "vigil-agent-linux-arm64", Length: 1, SHA256: good.SHA256}}, ErrBlobMissing},
		{"wrong length", "1.0.0", []ArtifactInfo{{Name: good.Name, Length: 2, SHA256: good.SHA256}}, ErrBlobMismatch},
		{"twice", "1.0.0", []ArtifactInfo{good, good}, ErrInvalidName},
		{"none", "1.0.0", nil, ErrInvalidName},
		{"upper-case hash", "1.0.0", []ArtifactInfo{{Name: good.Name, Length: 1, SHA256: strings.ToUpper(good.SHA256)}}, ErrInvalidName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.repo.Stage(f.ctx, tt.version, tt.artifacts, StageOptions{})
			wantErr(t, err, tt.want)
		})
	}

	uploads := []struct {
		name string
		a    ArtifactInfo
		body string
	}{
		{"short", ArtifactInfo{Name: "vigil-agent-linux-amd64", Length: 5, SHA256: good.SHA256}, "x"},
		{"long", ArtifactInfo{Name: "vigil-agent-linux-amd64", Length: 1, SHA256: good.SHA256}, "xx"},
		{"hash", ArtifactInfo{Name: "vigil-agent-linux-amd64", Length: 1, SHA256: good.SHA256}, "y"},
	}
	for _, tt := range uploads {
		t.Run("upload "+tt.name, func(t *testing.T) {
			err := f.repo.UploadArtifact(f.ctx, "2.0.0", tt.a, strings.NewReader(tt.body))
			wantErr(t, err, ErrBlobMismatch)
			p := filepath.Join(f.storage.StagingPath(), "vigil-agent", "2.0.0")
			ents, _ := os.ReadDir(p)
			if len(ents) != 0 {
				t.Errorf("a failed upload left %v", ents)
			}
		})
	}
}

func TestInitRefusals(t *testing.T) {
	f := newFixture(t)
	wantErr(t, f.repo.Init(f.ctx, f.root1, nil), ErrAlreadyInitialized)

	fresh := func(online ...signing.Signer) *Repo {
		s, _ := NewDirStorage(t.TempDir())
		r, _ := New(Config{Storage: s, OnlineKeys: online, Now: f.clock.Now})
		return r
	}
	spec := RootSpec{
		Expires:   f.clock.Now().Add(time.Hour),
		Root:      RoleKeys{Keys: tufKeys(f.root...), Threshold: 2},
		Targets:   RoleKeys{Keys: tufKeys(f.targets...), Threshold: 2},
		Snapshot:  RoleKeys{Keys: tufKeys(f.online)},
		Timestamp: RoleKeys{Keys: tufKeys(f.online)},
	}
	root, err := BuildRoot(spec)
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, fresh(f.online).Init(f.ctx, f.sign(root, f.root[0]), nil), ErrThresholdNotMet)
	wantErr(t, fresh(testKey(t, "other-online")).Init(f.ctx, f.sign(root, f.root[0], f.root[1]), nil), ErrOnlineKeys)
	wantErr(t, fresh(f.online, f.targets[0]).Init(f.ctx, f.sign(root, f.root[0], f.root[1]), nil), ErrOnlineKeys)

	// A root that makes an online key a targets key is refused when built.
	bad := spec
	bad.Targets = RoleKeys{Keys: tufKeys(f.targets[0], f.online), Threshold: 1}
	_, err = BuildRoot(bad)
	wantErr(t, err, ErrOnlineKeys)

	// Init without targets: the first publish creates targets version 1.
	r := fresh(f.online)
	if err := r.Init(f.ctx, f.sign(root, f.root[0], f.root[1]), nil); err != nil {
		t.Fatal(err)
	}
	st, _ := r.Status(f.ctx)
	if !st.Initialized || st.Roles[1].Version != 0 {
		t.Errorf("status after Init without targets: %+v", st)
	}
	a := ArtifactInfo{Name: "vigil-agent-linux-amd64", Length: 1, SHA256: "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"} // "x"
	if err := r.UploadArtifact(f.ctx, "1.0.0", a, strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Stage(f.ctx, "1.0.0", []ArtifactInfo{a}, StageOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, k := range f.targets[:2] {
		d, _ := r.Draft(f.ctx, "1.0.0")
		_, sig, _ := SignMetadata(f.ctx, d, k)
		if _, err := r.AddSignature(f.ctx, "1.0.0", sig); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Publish(f.ctx, "1.0.0"); err != nil {
		t.Fatal(err)
	}
	st, _ = r.Status(f.ctx)
	if st.Roles[1].Version != 1 || st.Roles[2].Version != 1 || st.Roles[3].Version != 1 {
		t.Errorf("status after the first publish: %+v", st.Roles)
	}
}

func TestStatus(t *testing.T) {
	f := newFixture(t)
	f.release("1.0.0", builds100, StageOptions{})
	f.repo.Stage(f.ctx, "1.1.0", f.upload("1.1.0", builds100Like("1.1.0")), StageOptions{})
	st, err := f.repo.Status(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	now := f.clock.Now()
	want := []struct {
		role    string
		version int64
		life    time.Duration
		online  bool
	}{
		{"root", 1, 365 * 24 * time.Hour, false},
		{"targets", 2, 90 * 24 * time.Hour, false},
		{"snapshot", 2, 7 * 24 * time.Hour, true},
		{"timestamp", 2, 24 * time.Hour, true},
	}
	for i, w := range want {
		g := st.Roles[i]
		if g.Role != w.role || g.Version != w.version || !g.Expires.Equal(now.Add(w.life)) || g.Online != w.online {
			t.Errorf("role %d = %+v, want %+v", i, g, w)
		}
	}
	if !slices.Equal(st.Drafts, []string{"1.1.0"}) {
		t.Errorf("drafts %v", st.Drafts)
	}
	rels, _ := f.repo.Releases(f.ctx)
	if len(rels) != 2 || rels[0].Published || rels[0].Draft == nil || rels[0].Draft.Signatures.Threshold != 2 ||
		len(rels[0].Artifacts) != 3 || !rels[1].Published || len(rels[1].Artifacts) != 3 {
		t.Errorf("releases %+v", rels)
	}
}

func TestAddSignaturesFromSignedUpload(t *testing.T) {
	f := newFixture(t)
	f.repo.Stage(f.ctx, "1.0.0", f.upload("1.0.0", builds100), StageOptions{})
	d, _ := f.repo.Draft(f.ctx, "1.0.0")
	signed := f.sign(d, f.targets[0], f.targets[2])
	di, err := f.repo.AddSignatures(f.ctx, "1.0.0", signed)
	if err != nil || !di.Signatures.ThresholdMet() {
		t.Fatalf("AddSignatures = %+v, %v", di.Signatures, err)
	}
	md, _ := parseTargets(signed)
	md.Signed.Version = 99
	changed, _ := md.ToBytes(true)
	_, err = f.repo.AddSignatures(f.ctx, "1.0.0", changed)
	wantErr(t, err, ErrBadSignature)
	if err := f.repo.Publish(f.ctx, "1.0.0"); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyMetadataReport(t *testing.T) {
	f := newFixture(t)
	root, _ := f.repo.Root(f.ctx)
	targets, _ := f.repo.Targets(f.ctx)
	rep, err := VerifyMetadata(root, targets)
	if err != nil || len(rep.Valid) != 2 || len(rep.Missing) != 1 || rep.Missing[0] != f.targets[0].KeyID() {
		t.Fatalf("VerifyMetadata = %+v, %v", rep, err)
	}
	rep, err = VerifyMetadata(root, root)
	if err != nil || len(rep.Valid) != 2 {
		t.Fatalf("VerifyMetadata(root) = %+v, %v", rep, err)
	}
	withStranger := f.sign(targets, testKey(t, "stranger"))
	_, err = VerifyMetadata(root, withStranger)
	wantErr(t, err, ErrUnknownKey)
}
