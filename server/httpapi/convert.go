package httpapi

import (
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/release"
	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/alert"
	"github.com/vigilhq/vigil/server/tufrepo"
)

// Conversions at the HTTP edge between the server's domain types (server, server/alert,
// release, tufrepo) and the operator-API contract (package api). Handlers decode requests into
// api types and encode answers from them; the domain never appears on the wire. Tests check that
// each answer's JSON is byte for byte what the domain type used to encode to.

// mapSlice converts every element; nil stays nil (handlers turn it into [] where the contract
// says so).
func mapSlice[D, A any](ds []D, f func(D) A) []A {
	if ds == nil {
		return nil
	}
	out := make([]A, len(ds))
	for i, d := range ds {
		out[i] = f(d)
	}
	return out
}

func hostOut(h server.Host) api.Host {
	out := api.Host{
		ID: h.ID, Hostname: h.Hostname, MachineID: h.MachineID, OS: h.OS, Arch: h.Arch, Group: h.Group,
		EnrolledAt: h.EnrolledAt, Revoked: h.Revoked, AgentVersion: h.AgentVersion, UpdaterVersion: h.UpdaterVersion,
		IntervalSeconds: h.IntervalSeconds, LastSeen: h.LastSeen, AckedSeq: h.AckedSeq, BootTime: h.BootTime,
		Latest: h.Latest, Status: h.Status,
	}
	if h.LastUpdate != nil {
		u := updateEventOut(*h.LastUpdate)
		out.LastUpdate = &u
	}
	return out
}

func updateEventOut(e server.UpdateEvent) api.UpdateEvent {
	return api.UpdateEvent{HostID: e.HostID, UpdateEvent: e.UpdateEvent, ReceivedAt: e.ReceivedAt}
}

func groupOut(g server.Group) api.Group {
	return api.Group{Name: g.Name, Grace: api.Duration(g.Grace), AlertEmails: g.AlertEmails, Pin: pinOut(g.Pin),
		CreatedAt: g.CreatedAt, Hosts: g.Hosts, AgentSettings: agentSettingsOut(g.AgentSettings)}
}

func agentSettingsOut(s server.AgentSettings) api.AgentSettings {
	return api.AgentSettings{Interval: api.Duration(s.Interval), WatchProcesses: s.WatchProcesses, WatchUnits: s.WatchUnits}
}

func agentSettingsIn(s api.AgentSettings) server.AgentSettings {
	return server.AgentSettings{Interval: time.Duration(s.Interval), WatchProcesses: s.WatchProcesses, WatchUnits: s.WatchUnits}
}

func pinOut(p server.Pin) api.Pin { return api.Pin{Version: p.Version, Channel: p.Channel} }

func pinIn(p api.Pin) server.Pin { return server.Pin{Version: p.Version, Channel: p.Channel} }

func enrollmentTokenOut(t server.EnrollmentToken) api.EnrollmentToken {
	return api.EnrollmentToken{ID: t.ID, Group: t.Group, ExpiresAt: t.ExpiresAt, MaxUses: t.MaxUses, Uses: t.Uses,
		CreatedAt: t.CreatedAt, CreatedBy: t.CreatedBy, Revoked: t.Revoked}
}

func apiTokenOut(t server.APIToken) api.APIToken {
	return api.APIToken{ID: t.ID, Name: t.Name, Role: t.Role, CreatedAt: t.CreatedAt, Revoked: t.Revoked, OwnerID: t.Owner, Owner: t.OwnerName}
}

func auditOut(e server.AuditEntry) api.AuditEntry {
	return api.AuditEntry{ID: e.ID, Time: e.Time, Actor: e.Actor, Action: e.Action, Target: e.Target, Detail: e.Detail,
		User: e.User, TokenID: e.TokenID, Address: e.Address, Before: e.Before, After: e.After}
}

func userOut(u server.User) api.User {
	return api.User{ID: u.ID, Name: u.Name, Role: u.Role, PasswordChangedAt: u.PasswordChangedAt, CreatedAt: u.CreatedAt}
}

func ruleOut(r alert.Rule) api.Rule {
	return api.Rule{ID: r.ID, Name: r.Name, Kind: r.Kind, Threshold: r.Threshold, For: api.Duration(r.For), Group: r.Group,
		HostID: r.HostID, Match: r.Match, CreatedAt: r.CreatedAt, CreatedBy: r.CreatedBy}
}

func ruleIn(r api.Rule) alert.Rule {
	return alert.Rule{ID: r.ID, Name: r.Name, Kind: r.Kind, Threshold: r.Threshold, For: alert.Duration(r.For), Group: r.Group,
		HostID: r.HostID, Match: r.Match, CreatedAt: r.CreatedAt, CreatedBy: r.CreatedBy}
}

func alertOut(a alert.Alert) api.Alert {
	return api.Alert{
		ID: a.ID, Key: a.Key, RuleID: a.RuleID, RuleName: a.RuleName, Kind: a.Kind, HostID: a.HostID, Hostname: a.Hostname,
		Group: a.Group, Subject: a.Subject, State: a.State, Summary: a.Summary, Value: a.Value,
		StartedAt: a.StartedAt, FiredAt: a.FiredAt, ResolvedAt: a.ResolvedAt, NotifiedAt: a.NotifiedAt, Reminders: a.Reminders,
		RecoveringSince: a.RecoveringSince, Suppressed: a.Suppressed, AckedAt: a.AckedAt, AckedBy: a.AckedBy, LastSeen: a.LastSeen, BootTime: a.BootTime, BackAt: a.BackAt,
		Reason: a.Reason, CoveredBy: a.CoveredBy, Hosts: a.Hosts, Details: a.Details, Version: a.Version, UpdatedAt: a.UpdatedAt,
		History: mapSlice(a.History, alertEventOut),
	}
}

func alertEventOut(e alert.AlertEvent) api.AlertEvent {
	return api.AlertEvent{AlertID: e.AlertID, Time: e.Time, State: e.State, Message: e.Message}
}

func silenceOut(s alert.Silence) api.Silence {
	return api.Silence{ID: s.ID, HostID: s.HostID, Group: s.Group, RuleID: s.RuleID, StartsAt: s.StartsAt, EndsAt: s.EndsAt,
		Comment: s.Comment, CreatedAt: s.CreatedAt, CreatedBy: s.CreatedBy}
}

func notificationOut(n alert.Notification) api.Notification {
	return api.Notification{ID: n.ID, Key: n.Key, AlertKey: n.AlertKey, HostID: n.HostID, Group: n.Group, Event: n.Event,
		To: n.To, Subject: n.Subject, Text: n.Text, HTML: n.HTML, MessageID: n.MessageID, CreatedAt: n.CreatedAt,
		NextAttempt: n.NextAttempt, Attempts: n.Attempts, SentAt: n.SentAt, Status: n.Status, LastError: n.LastError}
}

func onlineKeysOut(k tufrepo.OnlineKeys) api.OnlineKeys {
	return api.OnlineKeys{Snapshot: mapSlice(k.Snapshot, keyOut), Timestamp: mapSlice(k.Timestamp, keyOut)}
}

func keyOut(k *metadata.Key) api.Key {
	return api.Key{Type: k.Type, Scheme: k.Scheme, Value: api.KeyVal{Public: k.Value.PublicKey}}
}

func repoStatusOut(s release.Status) api.RepoStatus {
	return api.RepoStatus{Initialized: s.Initialized, Roles: mapSlice(s.Roles, roleStatusOut), Drafts: s.Drafts}
}

func roleStatusOut(r release.RoleStatus) api.RoleStatus {
	return api.RoleStatus{Role: r.Role, Version: r.Version, Expires: r.Expires, Threshold: r.Threshold, KeyIDs: r.KeyIDs, Online: r.Online}
}

func artifactInfoOut(a release.ArtifactInfo) api.ArtifactInfo {
	return api.ArtifactInfo{Name: a.Name, Length: a.Length, SHA256: a.SHA256}
}

func artifactInfoIn(a api.ArtifactInfo) release.ArtifactInfo {
	return release.ArtifactInfo{Name: a.Name, Length: a.Length, SHA256: a.SHA256}
}

func releaseOut(r release.Release) api.Release {
	out := api.Release{Version: r.Version, Published: r.Published, Artifacts: mapSlice(r.Artifacts, artifactOut),
		Channels: r.Channels, MinVersion: r.MinVersion, AllowDowngrade: r.AllowDowngrade}
	if r.Draft != nil {
		d := draftOut(*r.Draft)
		out.Draft = &d
	}
	return out
}

func artifactOut(a release.Artifact) api.Artifact {
	return api.Artifact{Binary: a.Binary, Version: a.Version, Arch: a.Arch, Path: a.Path, Length: a.Length, SHA256: a.SHA256}
}

func draftOut(d release.DraftInfo) api.DraftInfo {
	return api.DraftInfo{Name: d.Name, TargetsVersion: d.TargetsVersion, Expires: d.Expires, Stale: d.Stale,
		Signatures: signatureReportOut(d.Signatures), Diff: targetsDiffOut(d.Diff)}
}

func signatureReportOut(r release.SignatureReport) api.SignatureReport {
	return api.SignatureReport{Role: r.Role, Threshold: r.Threshold, Valid: r.Valid, Invalid: r.Invalid, Unknown: r.Unknown, Missing: r.Missing}
}

func targetsDiffOut(d release.TargetsDiff) api.TargetsDiff {
	return api.TargetsDiff{FromVersion: d.FromVersion, ToVersion: d.ToVersion, Expires: d.Expires,
		Changes: mapSlice(d.Changes, targetChangeOut), Other: d.Other}
}

func targetChangeOut(c release.TargetChange) api.TargetChange {
	return api.TargetChange{Path: c.Path, Kind: string(c.Kind), Details: c.Details}
}
