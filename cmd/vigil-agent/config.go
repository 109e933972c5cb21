package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"gopkg.in/yaml.v3"

	"github.com/vigilhq/vigil/agent/collect"
	"github.com/vigilhq/vigil/wire"
)

// maxConfigFile bounds the configuration file read.
const maxConfigFile = 1 << 20

// fileConfig is the YAML configuration file. Unknown fields are an error, so a typo cannot
// silently switch something off.
//
//	interval: 10s
//	spool_bytes: 33554432
//	collectors: {disks: false, units: true}
//	watch:
//	  processes: [{name: nginx}, {exe: /usr/sbin/sshd}]
//	  units: [ssh.service]
type fileConfig struct {
	Server        string          `yaml:"server"`
	CA            string          `yaml:"ca"`
	CAFingerprint string          `yaml:"ca_fingerprint"`
	StateDir      string          `yaml:"state_dir"`
	Interval      string          `yaml:"interval"`
	Procfs        string          `yaml:"procfs"`
	Sysfs         string          `yaml:"sysfs"`
	SpoolBytes    int64           `yaml:"spool_bytes"`
	Collectors    map[string]bool `yaml:"collectors"`
	Watch         struct {
		Processes []wire.ProcessWatch `yaml:"processes"`
		Units     []string            `yaml:"units"`
	} `yaml:"watch"`
}

func loadFile(path string) (*fileConfig, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open config: %w", err)
	}
	defer f.Close()
	return parseFile(io.LimitReader(f, maxConfigFile))
}

func parseFile(r io.Reader) (*fileConfig, error) {
	var fc fileConfig
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	if err := dec.Decode(&fc); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("config: %w", err)
	}
	for name := range fc.Collectors {
		if !slices.Contains(collect.Names, name) {
			return nil, fmt.Errorf("config: unknown collector %q (known: %v)", name, collect.Names)
		}
	}
	if fc.SpoolBytes < 0 {
		return nil, errors.New("config: spool_bytes is negative")
	}
	return &fc, nil
}
