package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/release"
	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/wire"
)

// Release repository endpoints (see docs/api.md, "Release repository"). Reads need the viewer
// role; staging, signing, promoting and publishing the release role; creating the repository
// and rotating root the admin role. Every change is written to the audit log once it succeeded.

// Limits of release requests.
const (
	// maxArtifactUpload bounds an uploaded build (release.MaxArtifactSize, the contract's
	// api.MaxArtifactUpload: 512 MiB).
	maxArtifactUpload = release.MaxArtifactSize
	// maxMetadataBody bounds a body carrying root and targets metadata.
	maxMetadataBody = release.MaxRootSize + release.MaxTargetsSize + 64<<10
	// maxSignatureBody bounds a body carrying signed targets metadata or one signature.
	maxSignatureBody = release.MaxTargetsSize + 64<<10
	// uploadTimeout replaces the server's read and write timeouts while an artifact is received.
	uploadTimeout = 30 * time.Minute
)

// releaseErrors maps release's sentinels to a status and code. The first matching entry wins.
var releaseErrors = []struct {
	err    error
	status int
	code   string
}{
	{release.ErrThresholdNotMet, http.StatusConflict, api.CodeThresholdNotMet},
	{release.ErrUnknownKey, http.StatusUnprocessableEntity, api.CodeUnknownKey},
	{release.ErrBadSignature, http.StatusUnprocessableEntity, api.CodeBadSignature},
	{release.ErrOnlineKeys, http.StatusUnprocessableEntity, api.CodeOnlineKeys},
	{release.ErrExpired, http.StatusUnprocessableEntity, api.CodeExpired},
	{release.ErrBlobMismatch, http.StatusUnprocessableEntity, api.CodeBlobMismatch},
	{release.ErrInvalidRoot, http.StatusBadRequest, api.CodeInvalidRoot},
	{release.ErrInvalidMetadata, http.StatusBadRequest, api.CodeInvalidMetadata},
	{release.ErrInvalidName, http.StatusBadRequest, api.CodeInvalid},
	{release.ErrNotInitialized, http.StatusConflict, api.CodeNotInitialized},
	{release.ErrAlreadyInitialized, http.StatusConflict, api.CodeAlreadyInitialized},
	{release.ErrReleaseExists, http.StatusConflict, api.CodeReleaseExists},
	{release.ErrDraftPending, http.StatusConflict, api.CodeDraftPending},
	{release.ErrStaleDraft, http.StatusConflict, api.CodeStaleDraft},
	{release.ErrBlobMissing, http.StatusConflict, api.CodeBlobMissing},
	{release.ErrNoChange, http.StatusConflict, api.CodeNoChange},
	{release.ErrConflict, http.StatusConflict, api.CodeRepoConflict},
	{release.ErrBlobTooLarge, http.StatusRequestEntityTooLarge, api.CodeTooLarge},
	{release.ErrStagingFull, http.StatusRequestEntityTooLarge, api.CodeStagingFull},
	{release.ErrUnknownRelease, http.StatusNotFound, api.CodeUnknownRelease},
	{release.ErrNoDraft, http.StatusNotFound, api.CodeNoDraft},
}

// errNoRepository: the server runs without a release repository.
var errNoRepository = fmt.Errorf("%w: this server has no release repository", server.ErrNotFound)

// errLengthRequired: an upload without Content-Length.
var errLengthRequired = errors.New("Content-Length is required")

func (a *API) releaseRoutes(v1 *mux.Router) {
	v1.HandleFunc("/repo/online-keys", a.relAuth(server.RoleViewer, a.repoOnlineKeys)).Methods(http.MethodGet)
	v1.HandleFunc("/repo/init", a.relAuth(server.RoleAdmin, a.repoInit)).Methods(http.MethodPost)
	v1.HandleFunc("/repo/status", a.relAuth(server.RoleViewer, a.repoStatus)).Methods(http.MethodGet)
	v1.HandleFunc("/repo/root", a.relAuth(server.RoleViewer, a.repoRoot)).Methods(http.MethodGet)
	v1.HandleFunc("/repo/targets", a.relAuth(server.RoleViewer, a.repoTargets)).Methods(http.MethodGet)
	v1.HandleFunc("/repo/rotate-root", a.relAuth(server.RoleAdmin, a.repoRotateRoot)).Methods(http.MethodPost)
	v1.HandleFunc("/repo/renew", a.relAuth(server.RoleRelease, a.repoRenew)).Methods(http.MethodPost)
	v1.HandleFunc("/releases", a.relAuth(server.RoleViewer, a.listReleases)).Methods(http.MethodGet)
	v1.HandleFunc("/releases/{version}/artifacts/{name}", a.relAuth(server.RoleRelease, a.uploadArtifact)).Methods(http.MethodPut)
	v1.HandleFunc("/releases/{version}/stage", a.relAuth(server.RoleRelease, a.stageRelease)).Methods(http.MethodPost)
	v1.HandleFunc("/releases/{version}/promote", a.relAuth(server.RoleRelease, a.promoteRelease)).Methods(http.MethodPost)
	v1.HandleFunc("/drafts/{name}", a.relAuth(server.RoleViewer, a.getDraft)).Methods(http.MethodGet)
	v1.HandleFunc("/drafts/{name}", a.relAuth(server.RoleRelease, a.discardDraft)).Methods(http.MethodDelete)
	v1.HandleFunc("/drafts/{name}/status", a.relAuth(server.RoleViewer, a.draftStatus)).Methods(http.MethodGet)
	v1.HandleFunc("/drafts/{name}/signatures", a.relAuth(server.RoleRelease, a.signDraft)).Methods(http.MethodPost)
	v1.HandleFunc("/drafts/{name}/signatures/{keyid}", a.relAuth(server.RoleRelease, a.unsignDraft)).Methods(http.MethodDelete)
	v1.HandleFunc("/drafts/{name}/publish", a.relAuth(server.RoleRelease, a.publishDraft)).Methods(http.MethodPost)
}

type relHandler func(w http.ResponseWriter, r *http.Request, p server.Principal, repo *release.Repo)

// relAuth authenticates, checks the role and that the server has a release repository.
func (a *API) relAuth(role string, next relHandler) http.HandlerFunc {
	return a.opAuthRole(role, func(w http.ResponseWriter, r *http.Request, p server.Principal) {
		if a.releases == nil {
			a.writeError(w, r, errNoRepository)
			return
		}
		repo, err := a.releases.Repo()
		if err != nil {
			a.writeError(w, r, fmt.Errorf("release repository: %w", err))
			return
		}
		next(w, r, p, repo)
	})
}

// writeReleaseError maps release's sentinels, then everything else as writeError does.
func (a *API) writeReleaseError(w http.ResponseWriter, r *http.Request, err error) {
	for _, e := range releaseErrors {
		if errors.Is(err, e.err) {
			writeJSON(w, e.status, wire.ErrorResponse{Error: wire.ErrorBody{Code: e.code, Message: err.Error()}})
			return
		}
	}
	if errors.Is(err, errLengthRequired) {
		writeJSON(w, http.StatusLengthRequired, wire.ErrorResponse{Error: wire.ErrorBody{Code: api.CodeLengthRequired, Message: err.Error()}})
		return
	}
	a.writeError(w, r, err)
}

// audit records a change that succeeded. A failure to record is logged, not returned: the change
// is already made, and reporting it as failed would make the caller retry it.
func (a *API) audit(r *http.Request, p server.Principal, action, target, detail string) {
	if err := a.svc.RecordAudit(r.Context(), p, action, target, detail); err != nil {
		a.log.ErrorContext(r.Context(), "Release repository change made but not audited.", "action", action, "target", target, "err", err)
	}
}

// releaseOps are the online release changes the dashboard shares (releaseops.go).
func (a *API) releaseOps() ReleaseOps { return ReleaseOps{Service: a.svc, Logger: a.log} }

func writeRaw(w http.ResponseWriter, data []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set(wire.ProtocolHeader, strconv.Itoa(wire.ProtocolVersion))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data)
}

func (a *API) repoOnlineKeys(w http.ResponseWriter, r *http.Request, p server.Principal, _ *release.Repo) {
	keys, err := a.releases.OnlineKeys()
	if err != nil {
		a.writeError(w, r, fmt.Errorf("release repository: %w", err))
		return
	}
	writeJSON(w, http.StatusOK, onlineKeysOut(keys))
}

func decodeMetadataRequest(r *http.Request) (root, targets []byte, err error) {
	var req api.RepoMetadataRequest
	if err := wire.Decode(r.Body, maxMetadataBody, true, &req); err != nil {
		return nil, nil, err
	}
	if len(req.Root) == 0 {
		return nil, nil, fmt.Errorf("%w: root is required", server.ErrInvalid)
	}
	if len(req.Targets) > 0 && !bytes.Equal(req.Targets, []byte("null")) {
		targets = req.Targets
	}
	return req.Root, targets, nil
}

func (a *API) repoInit(w http.ResponseWriter, r *http.Request, p server.Principal, repo *release.Repo) {
	root, targets, err := decodeMetadataRequest(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := repo.Init(r.Context(), root, targets); err != nil {
		a.writeReleaseError(w, r, err)
		return
	}
	a.audit(r, p, "repo.init", "repo", fmt.Sprintf("root version 1, targets published: %v", targets != nil))
	a.writeStatus(w, r, repo, http.StatusCreated)
}

func (a *API) repoRotateRoot(w http.ResponseWriter, r *http.Request, p server.Principal, repo *release.Repo) {
	root, targets, err := decodeMetadataRequest(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := repo.RotateRoot(r.Context(), root, targets); err != nil {
		a.writeReleaseError(w, r, err)
		return
	}
	detail := "new root"
	if spec, err := release.RootSpecOf(root); err == nil {
		detail = fmt.Sprintf("root version %d, root threshold %d of %d, targets threshold %d of %d, targets re-signed: %v",
			spec.Version, spec.Root.Threshold, len(spec.Root.Keys), spec.Targets.Threshold, len(spec.Targets.Keys), targets != nil)
	}
	a.audit(r, p, "repo.rotate_root", "repo", detail)
	a.writeStatus(w, r, repo, http.StatusOK)
}

func (a *API) writeStatus(w http.ResponseWriter, r *http.Request, repo *release.Repo, status int) {
	st, err := repo.Status(r.Context())
	if err != nil {
		a.writeReleaseError(w, r, err)
		return
	}
	writeJSON(w, status, repoStatusOut(st))
}

func (a *API) repoStatus(w http.ResponseWriter, r *http.Request, p server.Principal, repo *release.Repo) {
	a.writeStatus(w, r, repo, http.StatusOK)
}

func (a *API) repoRoot(w http.ResponseWriter, r *http.Request, p server.Principal, repo *release.Repo) {
	b, err := repo.Root(r.Context())
	if err != nil {
		a.writeReleaseError(w, r, err)
		return
	}
	writeRaw(w, b)
}

func (a *API) repoTargets(w http.ResponseWriter, r *http.Request, p server.Principal, repo *release.Repo) {
	b, err := repo.Targets(r.Context())
	if err != nil {
		a.writeReleaseError(w, r, err)
		return
	}
	if b == nil {
		writeJSON(w, http.StatusNotFound, wire.ErrorResponse{Error: wire.ErrorBody{Code: api.CodeNoTargets, Message: "no targets metadata published yet"}})
		return
	}
	writeRaw(w, b)
}

func (a *API) repoRenew(w http.ResponseWriter, r *http.Request, p server.Principal, repo *release.Repo) {
	di, err := a.releaseOps().Renew(r.Context(), p, repo)
	if err != nil {
		a.writeReleaseError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, draftOut(di))
}

func (a *API) listReleases(w http.ResponseWriter, r *http.Request, p server.Principal, repo *release.Repo) {
	rs, err := repo.Releases(r.Context())
	if errors.Is(err, release.ErrNotInitialized) {
		rs, err = []release.Release{}, nil
	}
	if err != nil {
		a.writeReleaseError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, mapSlice(rs, releaseOut))
}

func (a *API) uploadArtifact(w http.ResponseWriter, r *http.Request, p server.Principal, repo *release.Repo) {
	vars := mux.Vars(r)
	info := release.ArtifactInfo{Name: vars["name"], Length: r.ContentLength, SHA256: strings.TrimSpace(r.Header.Get(api.HeaderSHA256))}
	switch {
	case r.ContentLength < 0:
		a.writeReleaseError(w, r, errLengthRequired)
		return
	case r.ContentLength > maxArtifactUpload:
		a.writeError(w, r, fmt.Errorf("%w: artifact of %d bytes exceeds %d", wire.ErrTooLarge, r.ContentLength, maxArtifactUpload))
		return
	case info.SHA256 == "":
		a.writeError(w, r, fmt.Errorf("%w: header %s is required", server.ErrInvalid, api.HeaderSHA256))
		return
	}
	// Both deadlines: the server's write timeout runs from the request's start, so a build that
	// takes longer than it to arrive would be stored and audited but its answer cut off (HTTP/1.1)
	// or the whole stream reset mid-upload (HTTP/2).
	rc := http.NewResponseController(w)
	deadline := time.Now().Add(uploadTimeout)
	_ = rc.SetReadDeadline(deadline)
	_ = rc.SetWriteDeadline(deadline.Add(time.Minute))
	body := http.MaxBytesReader(w, r.Body, maxArtifactUpload)
	if err := repo.UploadArtifact(r.Context(), vars["version"], info, body); err != nil {
		a.writeReleaseError(w, r, err)
		return
	}
	a.audit(r, p, "release.upload", "release/"+vars["version"], fmt.Sprintf("artifact %s length %d sha256 %s", info.Name, info.Length, info.SHA256))
	writeJSON(w, http.StatusCreated, artifactInfoOut(info))
}

func (a *API) stageRelease(w http.ResponseWriter, r *http.Request, p server.Principal, repo *release.Repo) {
	var req api.StageRequest
	if err := decodeSmall(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	version := mux.Vars(r)["version"]
	di, err := repo.Stage(r.Context(), version, mapSlice(req.Artifacts, artifactInfoIn), release.StageOptions{
		Channels: req.Channels, MinVersion: req.MinVersion, AllowDowngrade: req.AllowDowngrade,
	})
	if err != nil {
		a.writeReleaseError(w, r, err)
		return
	}
	names := make([]string, 0, len(req.Artifacts))
	for _, art := range req.Artifacts {
		names = append(names, art.Name)
	}
	a.audit(r, p, "release.stage", "release/"+version, fmt.Sprintf("artifacts %s channels %v min_version %q allow_downgrade %v targets version %d",
		strings.Join(names, ","), req.Channels, req.MinVersion, req.AllowDowngrade, di.TargetsVersion))
	writeJSON(w, http.StatusCreated, draftOut(di))
}

func (a *API) promoteRelease(w http.ResponseWriter, r *http.Request, p server.Principal, repo *release.Repo) {
	var req api.PromoteRequest
	if err := decodeSmall(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	version := mux.Vars(r)["version"]
	di, err := a.releaseOps().Promote(r.Context(), p, repo, version, req.Channel)
	if err != nil {
		a.writeReleaseError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, draftOut(di))
}

func (a *API) getDraft(w http.ResponseWriter, r *http.Request, p server.Principal, repo *release.Repo) {
	b, err := repo.Draft(r.Context(), mux.Vars(r)["name"])
	if err != nil {
		a.writeReleaseError(w, r, err)
		return
	}
	writeRaw(w, b)
}

func (a *API) draftStatus(w http.ResponseWriter, r *http.Request, p server.Principal, repo *release.Repo) {
	di, err := repo.DraftStatus(r.Context(), mux.Vars(r)["name"])
	if err != nil {
		a.writeReleaseError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, draftOut(di))
}

// signDraft takes either the draft as signed offline ({"signed": …, "signatures": […]}) or one
// signature ({"keyid": …, "sig": …}).
func (a *API) signDraft(w http.ResponseWriter, r *http.Request, p server.Principal, repo *release.Repo) {
	name := mux.Vars(r)["name"]
	if r.ContentLength > maxSignatureBody {
		a.writeError(w, r, fmt.Errorf("%w: body of %d bytes exceeds %d", wire.ErrTooLarge, r.ContentLength, maxSignatureBody))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxSignatureBody+1))
	if err != nil {
		a.writeError(w, r, fmt.Errorf("read body: %w", err))
		return
	}
	if len(body) > maxSignatureBody {
		a.writeError(w, r, fmt.Errorf("%w: body exceeds %d bytes", wire.ErrTooLarge, maxSignatureBody))
		return
	}
	var probe struct {
		Signed     json.RawMessage      `json:"signed"`
		Signatures []metadata.Signature `json:"signatures"`
		KeyID      string               `json:"keyid"`
	}
	if err := json.Unmarshal(body, &probe); err != nil {
		a.writeError(w, r, fmt.Errorf("%w: malformed JSON: %v", server.ErrInvalid, err))
		return
	}
	var (
		di   release.DraftInfo
		keys []string
	)
	switch {
	case len(probe.Signed) > 0:
		for _, s := range probe.Signatures {
			keys = append(keys, s.KeyID)
		}
		di, err = repo.AddSignatures(r.Context(), name, body)
	case probe.KeyID != "":
		var sig metadata.Signature
		if err := wire.Unmarshal(body, true, &sig); err != nil {
			a.writeError(w, r, err)
			return
		}
		keys = []string{sig.KeyID}
		di, err = repo.AddSignature(r.Context(), name, sig)
	default:
		err = fmt.Errorf("%w: body is neither signed metadata nor a signature", server.ErrInvalid)
	}
	if err != nil {
		a.writeReleaseError(w, r, err)
		return
	}
	a.audit(r, p, "draft.sign", "draft/"+name, "keys "+strings.Join(keys, ","))
	writeJSON(w, http.StatusOK, draftOut(di))
}

func (a *API) unsignDraft(w http.ResponseWriter, r *http.Request, p server.Principal, repo *release.Repo) {
	vars := mux.Vars(r)
	if err := repo.RemoveSignature(r.Context(), vars["name"], vars["keyid"]); err != nil {
		a.writeReleaseError(w, r, err)
		return
	}
	a.audit(r, p, "draft.unsign", "draft/"+vars["name"], "key "+vars["keyid"])
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) publishDraft(w http.ResponseWriter, r *http.Request, p server.Principal, repo *release.Repo) {
	name := mux.Vars(r)["name"]
	st, err := a.releaseOps().Publish(r.Context(), p, repo, name)
	if err != nil {
		a.writeReleaseError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, repoStatusOut(st))
}

func (a *API) discardDraft(w http.ResponseWriter, r *http.Request, p server.Principal, repo *release.Repo) {
	name := mux.Vars(r)["name"]
	if err := a.releaseOps().Discard(r.Context(), p, repo, name); err != nil {
		a.writeReleaseError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
