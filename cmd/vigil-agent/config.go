package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/vigilhq/vigil/agent/collect"
	"github.com/vigilhq/vigil/wire"
)

// maxConfigFile bounds the configuration file read.
const maxConfigFile = 1 << 20

// fileConfig is the YAML configuration file (read by parseYAML, see yaml.go; the yaml tags say
// how yaml.v3 would read it, which the tests compare against). Unknown fields are an error, so a
// typo cannot silently switch something off.
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
	src, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var fc fileConfig
	root, err := parseYAML(src)
	if err == nil {
		err = fc.decode(root)
	}
	if err != nil {
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

// decode fills fc from a parsed document, refusing unknown fields and wrong types as yaml.v3
// with KnownFields would.
func (fc *fileConfig) decode(root *ynode) error {
	strs := map[string]*string{
		"server": &fc.Server, "ca": &fc.CA, "ca_fingerprint": &fc.CAFingerprint, "state_dir": &fc.StateDir,
		"interval": &fc.Interval, "procfs": &fc.Procfs, "sysfs": &fc.Sysfs,
	}
	return yMapping(root, "the configuration", func(key string, v *ynode) (err error) {
		if p, ok := strs[key]; ok {
			*p, err = yString(v, key)
			return err
		}
		switch key {
		case "spool_bytes":
			fc.SpoolBytes, err = yInt(v, key)
			return err
		case "collectors":
			if v.kind == yMap {
				fc.Collectors = map[string]bool{} // as yaml.v3: {} is an empty map, null is nil
			}
			return yMapping(v, key, func(name string, v *ynode) error {
				on, err := yBool(v, "collectors."+name)
				if err != nil {
					return err
				}
				fc.Collectors[name] = on
				return nil
			})
		case "watch":
			return yMapping(v, key, func(key string, v *ynode) error {
				switch key {
				case "processes":
					if v.kind == ySeq {
						fc.Watch.Processes = []wire.ProcessWatch{}
					}
					return ySequence(v, "watch.processes", func(v *ynode) error {
						var pw wire.ProcessWatch
						err := yMapping(v, "a watched process", func(key string, v *ynode) (err error) {
							switch key {
							case "name":
								pw.Name, err = yString(v, "name")
							case "exe":
								pw.Exe, err = yString(v, "exe")
							default:
								err = unknownField(v, key, "a watched process")
							}
							return err
						})
						fc.Watch.Processes = append(fc.Watch.Processes, pw)
						return err
					})
				case "units":
					if v.kind == ySeq {
						fc.Watch.Units = []string{}
					}
					return ySequence(v, "watch.units", func(v *ynode) error {
						u, err := yString(v, "a unit")
						fc.Watch.Units = append(fc.Watch.Units, u)
						return err
					})
				}
				return unknownField(v, key, "watch")
			})
		}
		return unknownField(v, key, "the configuration")
	})
}
