package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/vigilhq/vigil/atomicfile"
)

// stateFile caches enrolled hosts so a rerun reuses them instead of enrolling again (enrolling
// 100,000 hosts takes minutes). It holds host credentials: written 0600, never logged.
type stateFile struct {
	Server string      `json:"server"`
	Hosts  []hostState `json:"hosts"`
}

type hostState struct {
	Hostname   string `json:"hostname"`
	MachineID  string `json:"machine_id"`
	HostID     string `json:"host_id"`
	Credential string `json:"credential"`
	// Seq is the last sequence number the host used; the next run continues after it.
	Seq uint64 `json:"seq"`
}

// loadState reads path; a missing file is an empty state. A state made for another server is an
// error: its credentials mean nothing there.
func loadState(path, server string) (*stateFile, error) {
	st := &stateFile{Server: server}
	if path == "" {
		return st, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("read state %s: %w", path, err)
	}
	if st.Server != server {
		return nil, fmt.Errorf("state %s is for server %s, not %s: use another --state file", path, st.Server, server)
	}
	// Drop entries of enrollments that failed or were cut short.
	st.Hosts = slices.DeleteFunc(st.Hosts, func(h hostState) bool { return h.Credential == "" })
	return st, nil
}

// save writes the state atomically (temp file, fsync, rename), mode 0600.
func (st *stateFile) save(path string) error {
	if path == "" {
		return nil
	}
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(path, b, 0o600); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	return nil
}
