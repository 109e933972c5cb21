package updater

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/vigilhq/vigil/atomicfile"
	"github.com/vigilhq/vigil/internal/wallclock"
	"github.com/vigilhq/vigil/wire"
)

// Journal steps. Config.Failpoint names one of them to SIGKILL the process right after it (a test
// hook; see the package doc).
const (
	StepInstalled        = "installed"         // versions/<v> complete, nothing journaled yet
	StepTrial            = "trial"             // journal says trial, link not switched yet
	StepSwitched         = "switched"          // link points to the new version, old child still runs
	StepStarted          = "started"           // new child started, health gate not passed
	StepHealthy          = "healthy"           // health gate passed, commit not journaled
	StepCommitted        = "committed"         // journal says commit, cleanup not done
	StepRollbackSwitched = "rollback-switched" // link switched back, journal still says trial
	StepRolledBack       = "rolled-back"       // journal says previous, child not restarted
	StepSelfPrepared     = "self-prepared"     // new updater binary written beside the old one
	StepSelfSwapped      = "self-swapped"      // updater binary replaced, not re-executed yet
)

// Steps lists every failpoint step.
var Steps = []string{StepInstalled, StepTrial, StepSwitched, StepStarted, StepHealthy, StepCommitted,
	StepRollbackSwitched, StepRolledBack, StepSelfPrepared, StepSelfSwapped}

// Names inside the state directory.
const (
	versionsDir    = "versions"
	currentLink    = "current"
	journalFile    = "state.json"
	quarantineFile = "quarantine.json"
	eventsFile     = "events.json" // the event queue of earlier versions, adopted into the journal
	tufDir         = "tuf"
	downloadDir    = "download"
	agentDir       = "agent"
	completeMarker = ".complete"
	// maxStateFile bounds the journal, quarantine and event files we read back.
	maxStateFile = 1 << 20
)

// Journal is state.json: what is committed and what is on trial.
type Journal struct {
	// Current is the committed agent version; Previous the backup kept for rollback.
	Current  string `json:"current,omitempty"`
	Previous string `json:"previous,omitempty"`
	// Trial is set from before the link switch until commit or rollback.
	Trial *Trial `json:"trial,omitempty"`
	// SelfTrial is set from before the updater's own binary is replaced until the new binary
	// runs.
	SelfTrial *Trial `json:"self_trial,omitempty"`
	// Outbox holds update events not yet delivered to the server, oldest first. They live in the
	// journal so that a state change and the event that tells of it are one atomic write: a
	// kill at any step neither loses an outcome nor reports one that did not happen.
	Outbox []wire.UpdateEvent `json:"outbox,omitempty"`
	// Interrupted counts, for the version last tried, trials cut short by a restart of the
	// supervisor (a kill, a reboot): such a version is rolled back and tried once more, and
	// quarantined only at the second interruption (MaxInterruptions).
	Interrupted map[string]int `json:"interrupted,omitempty"`
	// QuarantineGeneration is the server's quarantine generation of this host last applied
	// (wire.UpdateDesired.QuarantineGeneration): an operator's "clear quarantine" raises it.
	QuarantineGeneration uint64    `json:"quarantine_generation,omitempty"`
	Updated              time.Time `json:"updated"`
}

// MaxInterruptions is the number of interrupted trials after which a version is quarantined.
const MaxInterruptions = 2

// enqueue adds events to the outbox; beyond maxQueuedEvents the oldest go.
func (j *Journal) enqueue(es ...wire.UpdateEvent) {
	j.Outbox = append(j.Outbox, es...)
	if len(j.Outbox) > maxQueuedEvents {
		j.Outbox = slices.Clone(j.Outbox[len(j.Outbox)-maxQueuedEvents:])
	}
}

// Trial is an update in progress.
type Trial struct {
	Version    string    `json:"version"`
	Previous   string    `json:"previous"`
	RequireAck bool      `json:"require_ack,omitempty"`
	Started    time.Time `json:"started"`
}

// QuarantineEntry is a version that failed here.
type QuarantineEntry struct {
	Binary  string    `json:"binary"`
	Version string    `json:"version"`
	Reason  string    `json:"reason"`
	Time    time.Time `json:"time"`
}

// stateDir is the on-disk layout.
type stateDir struct{ root string }

func (s stateDir) path(elem ...string) string {
	return filepath.Join(append([]string{s.root}, elem...)...)
}

func (s stateDir) versionDir(v string) string { return s.path(versionsDir, v) }
func (s stateDir) agentBinary(v string) string {
	return s.path(versionsDir, v, BinaryAgent)
}

// init creates the directories.
func (s stateDir) init() error {
	for _, d := range []string{s.root, s.path(versionsDir), s.path(downloadDir), s.path(agentDir)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(s.path(tufDir), 0o700); err != nil {
		return err
	}
	// 0711: the agent user may execute a download it is told the name of (the --version check
	// runs with dropped privileges) but cannot list or read partial files (0600).
	return os.Chmod(s.path(downloadDir), 0o711)
}

func readJSON(p string, v any) error {
	data, err := readFileLimit(p, maxStateFile)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

func writeJSON(p string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(p, append(data, '\n'), 0o644)
}

// loadJournal reads state.json; a missing file is an empty journal.
func (s stateDir) loadJournal() (Journal, error) {
	var j Journal
	err := readJSON(s.path(journalFile), &j)
	if errors.Is(err, fs.ErrNotExist) {
		return Journal{}, nil
	}
	if err != nil {
		return j, fmt.Errorf("read journal: %w", err)
	}
	return j, nil
}

func (s stateDir) saveJournal(j Journal) error {
	j.Updated = wallclock.Now().UTC()
	if err := writeJSON(s.path(journalFile), j); err != nil {
		return fmt.Errorf("write journal: %w", err)
	}
	return nil
}

// updateJournal loads the journal, applies f and writes it back in one atomic step, returning
// what was written. Every change goes through a fresh load, so events queued since the caller
// last read the journal are never written over.
func (s stateDir) updateJournal(f func(*Journal)) (Journal, error) {
	j, err := s.loadJournal()
	if err != nil {
		return j, err
	}
	f(&j)
	return j, s.saveJournal(j)
}

func quarantineKey(binary, v string) string { return binary + "@" + v }

func (s stateDir) loadQuarantine() (map[string]QuarantineEntry, error) {
	q := map[string]QuarantineEntry{}
	err := readJSON(s.path(quarantineFile), &q)
	if errors.Is(err, fs.ErrNotExist) {
		return q, nil
	}
	if err != nil {
		return q, fmt.Errorf("read quarantine: %w", err)
	}
	return q, nil
}

func (s stateDir) quarantined(binary, v string) (QuarantineEntry, bool) {
	q, err := s.loadQuarantine()
	if err != nil {
		return QuarantineEntry{}, false
	}
	e, ok := q[quarantineKey(binary, v)]
	return e, ok
}

// clearQuarantine empties the quarantine list.
func (s stateDir) clearQuarantine() error {
	return writeJSON(s.path(quarantineFile), map[string]QuarantineEntry{})
}

// maxQuarantine bounds the quarantine list; the oldest entries go first.
const maxQuarantine = 100

func (s stateDir) quarantine(binary, v, reason string) error {
	q, err := s.loadQuarantine()
	if err != nil {
		q = map[string]QuarantineEntry{}
	}
	q[quarantineKey(binary, v)] = QuarantineEntry{Binary: binary, Version: v, Reason: reason, Time: wallclock.Now().UTC()}
	for len(q) > maxQuarantine {
		oldest := ""
		for k, e := range q {
			if oldest == "" || e.Time.Before(q[oldest].Time) {
				oldest = k
			}
		}
		delete(q, oldest)
	}
	return writeJSON(s.path(quarantineFile), q)
}

// complete reports whether versions/<v> holds a binary and its completion marker.
func (s stateDir) complete(v string) bool {
	if v == "" || strings.ContainsAny(v, "/\\") || v == "." || v == ".." {
		return false
	}
	if _, err := os.Stat(s.path(versionsDir, v, completeMarker)); err != nil {
		return false
	}
	fi, err := os.Stat(s.agentBinary(v))
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o100 != 0
}

// linked returns the version the current link points to ("" if none).
func (s stateDir) linked() string {
	t, err := os.Readlink(s.path(currentLink))
	if err != nil {
		return ""
	}
	dir, v := filepath.Split(filepath.Clean(t))
	if filepath.Clean(dir) != versionsDir {
		return ""
	}
	return v
}

// switchTo points current at versions/<v> atomically: a symlink under a temporary name renamed
// over current, then the directory fsynced.
func (s stateDir) switchTo(v string) error {
	if !s.complete(v) {
		return fmt.Errorf("switch to %s: not completely installed", v)
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	tmp := s.path(currentLink + ".tmp-" + hex.EncodeToString(rnd[:]))
	if err := os.Symlink(filepath.Join(versionsDir, v), tmp); err != nil {
		return fmt.Errorf("switch to %s: %w", v, err)
	}
	if err := os.Rename(tmp, s.path(currentLink)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("switch to %s: %w", v, err)
	}
	return atomicfile.SyncDir(s.root)
}

// install moves a verified binary into versions/<v>/ with fsyncs, then writes the completion
// marker last.
func (s stateDir) install(v, src, sha256hex string) error {
	dir := s.versionDir(v)
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.Chmod(src, 0o755); err != nil {
		return err
	}
	if err := syncFile(src); err != nil {
		return err
	}
	if err := os.Rename(src, s.agentBinary(v)); err != nil {
		return err
	}
	if err := atomicfile.SyncDir(dir); err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dir, completeMarker), []byte(sha256hex+"\n"), 0o644); err != nil {
		return err
	}
	return atomicfile.SyncDir(s.path(versionsDir))
}

// tempPatterns name, per directory of the state directory, the temporary files a crash between
// create and rename can leave: atomicfile's ".<name>.tmp*" beside each file we write that way,
// switchTo's "current.tmp-*", and go-tuf's "tuf_tmp*" in the metadata cache. Only names of these
// forms are ever removed, so a file someone else put there is left alone.
var tempPatterns = map[string][]string{
	"": {
		"." + journalFile + ".tmp*", "." + quarantineFile + ".tmp*", "." + eventsFile + ".tmp*",
		currentLink + ".tmp-*",
	},
	tufDir: {".root.json.tmp*", "tuf_tmp*"},
}

// versionTempPattern is the completion marker's temporary file inside versions/<v>/
// ("..complete.tmp*": atomicfile prefixes the marker's name with a dot).
const versionTempPattern = "." + completeMarker + ".tmp*"

// removeTemps removes every leftover temporary file of ours (tempPatterns), in the state
// directory, tuf/ and each versions/<v>/. It must run only while nothing else writes the state
// directory (at startup, or from the update cycle itself): a temporary file being written now
// would be removed under its writer. Directories and symlinks to directories are never followed.
func (s stateDir) removeTemps() error {
	var errs []error
	remove := func(dir string, patterns []string) {
		entries, err := os.ReadDir(dir)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
			return
		}
		for _, e := range entries {
			if e.IsDir() {
				continue
			}
			for _, p := range patterns {
				if ok, _ := filepath.Match(p, e.Name()); ok {
					if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
						errs = append(errs, err)
					}
					break
				}
			}
		}
	}
	for dir, patterns := range tempPatterns {
		remove(s.path(dir), patterns)
	}
	versions, _ := os.ReadDir(s.path(versionsDir))
	for _, v := range versions {
		if v.IsDir() {
			remove(s.path(versionsDir, v.Name()), []string{versionTempPattern})
		}
	}
	return errors.Join(errs...)
}

// cleanup removes every version but keep, every leftover temporary file (removeTemps) and
// completed downloads.
func (s stateDir) cleanup(keep ...string) error {
	var errs []error
	entries, _ := os.ReadDir(s.path(versionsDir))
	for _, e := range entries {
		if !slices.Contains(keep, e.Name()) {
			errs = append(errs, os.RemoveAll(s.path(versionsDir, e.Name())))
		}
	}
	errs = append(errs, s.removeTemps())
	entries, _ = os.ReadDir(s.path(downloadDir))
	for _, e := range entries {
		// Partial downloads stay for Range resume; anything else is a leftover.
		if !strings.HasSuffix(e.Name(), ".part") {
			errs = append(errs, os.RemoveAll(s.path(downloadDir, e.Name())))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return atomicfile.SyncDir(s.path(versionsDir))
}

// installedVersions lists complete versions.
func (s stateDir) installedVersions() []string {
	var out []string
	entries, _ := os.ReadDir(s.path(versionsDir))
	for _, e := range entries {
		if s.complete(e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out
}

// Status is what `vigil-updater status` shows.
type Status struct {
	StateDir   string            `json:"state_dir"`
	Linked     string            `json:"linked"`
	Journal    Journal           `json:"journal"`
	Installed  []string          `json:"installed"`
	Quarantine []QuarantineEntry `json:"quarantine"`
	Pending    int               `json:"pending_events"`
}

// ReadStatus reads the state directory without changing it.
func ReadStatus(root string) (Status, error) {
	s := stateDir{root}
	st := Status{StateDir: root, Linked: s.linked(), Installed: s.installedVersions()}
	var err error
	if st.Journal, err = s.loadJournal(); err != nil {
		return st, err
	}
	q, err := s.loadQuarantine()
	if err != nil {
		return st, err
	}
	for _, e := range q {
		st.Quarantine = append(st.Quarantine, e)
	}
	slices.SortFunc(st.Quarantine, func(a, b QuarantineEntry) int { return a.Time.Compare(b.Time) })
	st.Pending = len(st.Journal.Outbox)
	var ev []json.RawMessage
	if readJSON(s.path(eventsFile), &ev) == nil { // not adopted into the journal yet
		st.Pending += len(ev)
	}
	return st, nil
}
