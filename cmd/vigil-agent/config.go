package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigilhq/vigil/agent/check"
	"github.com/vigilhq/vigil/agent/collect"
	"github.com/vigilhq/vigil/wire"
)

// maxConfigFile bounds the configuration file read.
const maxConfigFile = 1 << 20

// Errors of the configuration file, for callers and tests to branch on. Syntax and type errors
// are the parser's own (a *yaml.TypeError for a value of the wrong type or a duplicate key).
var (
	errUnknownKey   = errors.New("unknown key")
	errInvalidValue = errors.New("invalid value")
	errConfigSize   = errors.New("configuration file too large")
)

// fileConfig is the YAML configuration file, read strictly with go.yaml.in/yaml/v3: unknown keys,
// duplicate keys, values of the wrong type and several documents are errors, so a typo cannot
// silently switch something off.
//
//	interval: 10s
//	spool_bytes: 33554432
//	collectors: {disks: false, units: true}
//	watch:
//	  processes: [{name: nginx}, {exe: /usr/sbin/sshd}]
//	  units: [ssh.service]
//	checks:
//	  - {name: site, kind: http, target: "https://localhost/health", body_contains: ok}
//	  - {name: backup, kind: file, target: /var/backups/db.dump, max_age: 26h}
//
// Health checks are read only from this file (package check has every kind and option).
type fileConfig struct {
	Server        string          `yaml:"server"`
	CA            string          `yaml:"ca,omitempty"`
	CAFingerprint string          `yaml:"ca_fingerprint,omitempty"`
	StateDir      string          `yaml:"state_dir"`
	Interval      string          `yaml:"interval,omitempty"`
	Procfs        string          `yaml:"procfs"`
	Sysfs         string          `yaml:"sysfs"`
	SpoolBytes    int64           `yaml:"spool_bytes"`
	Collectors    map[string]bool `yaml:"collectors"`
	Watch         struct {
		Processes []wire.ProcessWatch `yaml:"processes"`
		Units     []string            `yaml:"units"`
	} `yaml:"watch"`
	Checks []check.Spec `yaml:"checks,omitempty"`
	// Anomaly switches anomaly hints on (package anomaly); off by default.
	Anomaly anomalyConfig `yaml:"anomaly"`
}

// anomalyConfig is the anomaly: section.
//
//	anomaly: {enabled: true, threshold: 4}
type anomalyConfig struct {
	Enabled   bool    `yaml:"enabled"`
	Threshold float64 `yaml:"threshold,omitempty"` // default anomaly.DefaultThreshold, 2..100
}

func loadFile(path string) (*fileConfig, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open config: %w", err)
	}
	defer f.Close()
	fc, err := parseFile(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return fc, nil
}

// positionError is an error at a place in the configuration file.
type positionError struct {
	line, column int
	err          error
}

func (e *positionError) Error() string {
	return fmt.Sprintf("line %d, column %d: %v", e.line, e.column, e.err)
}

func (e *positionError) Unwrap() error { return e.err }

func parseFile(r io.Reader) (*fileConfig, error) {
	src, err := io.ReadAll(io.LimitReader(r, maxConfigFile+1))
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if len(src) > maxConfigFile {
		return nil, fmt.Errorf("config: %w: more than %d bytes", errConfigSize, maxConfigFile)
	}
	var fc fileConfig
	if err := decodeStrict(src, &fc); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return &fc, nil
}

// decodeStrict decodes the one YAML document in src into fc: first as a node tree, to report
// unknown keys with their line and column, then into fc with the decoder's own KnownFields check
// (type errors and duplicate keys, reported by line), then the values are validated.
func decodeStrict(src []byte, fc *fileConfig) error {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(src))
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return nil // an empty file
	} else if err != nil {
		return err
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		if err != nil {
			return err
		}
		return &positionError{next.Line, next.Column, errors.New("a second YAML document; the configuration is one")}
	}
	if err := checkKeys(&doc, reflect.TypeFor[fileConfig](), "the configuration"); err != nil {
		return err
	}
	dec = yaml.NewDecoder(bytes.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(fc); err != nil {
		return err
	}
	return fc.validate()
}

// checkKeys reports the first mapping key in n that t has no field for (or, in collectors, that
// names no collector), or a fraction for an integer, with its line and column.
func checkKeys(n *yaml.Node, t reflect.Type, where string) error {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.DocumentNode {
		for _, c := range n.Content {
			if err := checkKeys(c, t, where); err != nil {
				return err
			}
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if t == reflect.TypeFor[time.Duration]() {
			if n.Kind == yaml.ScalarNode && n.ShortTag() != "!!str" {
				return &positionError{n.Line, n.Column, fmt.Errorf("%w: %s: %q is not a duration such as 30s", errInvalidValue, where, n.Value)}
			}
			return nil
		}
		// The decoder would truncate 1.5 to 1.
		if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!float" {
			return &positionError{n.Line, n.Column, fmt.Errorf("%w: %s: %q is not an integer", errInvalidValue, where, n.Value)}
		}
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return nil // a type error: the decoder reports it
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			ft, ok := fields[k.Value]
			if !ok {
				return &positionError{k.Line, k.Column, fmt.Errorf("%w %q in %s (known: %s)",
					errUnknownKey, k.Value, where, strings.Join(slices.Sorted(maps.Keys(fields)), ", "))}
			}
			if err := checkKeys(v, ft, k.Value); err != nil {
				return err
			}
		}
	case reflect.Slice:
		if n.Kind == yaml.SequenceNode {
			for _, c := range n.Content {
				if err := checkKeys(c, t.Elem(), "an item of "+where); err != nil {
					return err
				}
			}
		}
	case reflect.Map:
		if where == "collectors" && n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if k := n.Content[i]; !slices.Contains(collect.Names, k.Value) {
					return &positionError{k.Line, k.Column, fmt.Errorf("%w: unknown collector %q (known: %s)",
						errUnknownKey, k.Value, strings.Join(collect.Names, ", "))}
				}
			}
		}
	}
	return nil
}

// yamlFields maps the YAML keys of struct type t to the field types, as the decoder names them.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	fields := map[string]reflect.Type{}
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = f.Type
	}
	return fields
}

// validate checks the values the types alone do not.
func (fc *fileConfig) validate() error {
	if fc.SpoolBytes < 0 {
		return fmt.Errorf("%w: spool_bytes is negative", errInvalidValue)
	}
	if fc.Interval != "" {
		if _, err := time.ParseDuration(fc.Interval); err != nil {
			return fmt.Errorf("%w: interval: %w", errInvalidValue, err)
		}
	}
	cc := collect.Config{WatchProcesses: fc.Watch.Processes, WatchUnits: fc.Watch.Units}
	if err := cc.Validate(); err != nil {
		return fmt.Errorf("%w: watch: %w", errInvalidValue, err)
	}
	if err := check.Validate(fc.Checks); err != nil {
		return fmt.Errorf("%w: checks: %w", errInvalidValue, err)
	}
	if t := fc.Anomaly.Threshold; t != 0 && (t < 2 || t > 100 || !fc.Anomaly.Enabled) {
		return fmt.Errorf("%w: anomaly.threshold %g: 2..100, with enabled: true", errInvalidValue, t)
	}
	return nil
}
