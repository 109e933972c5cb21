package main

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/vigilhq/vigil/wire"
)

// yamlV3 reads a configuration with yaml.v3 as the agent did before it had its own parser: the
// reference the subset parser must agree with.
func yamlV3(src string) (*fileConfig, error) {
	var fc fileConfig
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&fc); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return &fc, nil
}

func TestYAMLSubset(t *testing.T) {
	full := &fileConfig{
		Server: "https://vigil.example.com:8443", CA: "/etc/vigil/ca.pem", StateDir: "/var/lib/vigil/agent",
		Interval: "10s", SpoolBytes: 33554432, Collectors: map[string]bool{"disks": false, "units": true},
	}
	full.Watch.Processes = []wire.ProcessWatch{{Name: "nginx"}, {Exe: "/usr/sbin/sshd", Name: "sshd"}}
	full.Watch.Units = []string{"ssh.service", "nginx.service"}
	emptyUnits := &fileConfig{}
	emptyUnits.Watch.Units = []string{} // [] is an empty list, as yaml.v3 reads it
	tests := []struct {
		name string
		yaml string
		want *fileConfig // nil: refused
	}{
		{"block style", `---
# Vigil agent
server: https://vigil.example.com:8443   # the server
ca: "/etc/vigil/ca.pem"
state_dir: '/var/lib/vigil/agent'
interval: 10s
spool_bytes: 33554432
collectors:
  disks: false
  units: yes
watch:
  processes:
  - name: nginx
  - exe: /usr/sbin/sshd
    name: sshd
  units:
    - ssh.service
    - "nginx.service"
`, full},
		{"flow style", "server: https://vigil.example.com:8443\nca: /etc/vigil/ca.pem\nstate_dir: /var/lib/vigil/agent\n" +
			"interval: 10s\nspool_bytes: 33554432\ncollectors: {disks: false, units: true}\n" +
			"watch: {processes: [{name: nginx}, {exe: /usr/sbin/sshd, name: sshd}], units: [ssh.service, 'nginx.service',]}\n", full},
		{"CRLF and nulls", "server: ~\r\nca:\r\nwatch:\r\n  units: []\r\n", emptyUnits},
		{"quotes and hashes", `server: "https://h/#x"` + "\nca: 'it''s # here'\n", &fileConfig{Server: "https://h/#x", CA: "it's # here"}},
		{"escapes", `server: "a\tb\u00e9\"\\"`, &fileConfig{Server: "a\tbé\"\\"}},

		{"anchor", "server: &a x\nca: *a\n", nil},
		{"tag", "server: !!str x\n", nil},
		{"block scalar", "server: |\n  x\n", nil},
		{"multi-line plain", "server: a\n  b\n", nil},
		{"multi-line flow", "watch: {units: [a,\n  b]}\n", nil},
		{"two documents", "server: a\n---\nserver: b\n", nil},
		{"tab indentation", "watch:\n\tunits: [a]\n", nil},
		{"duplicate key", "server: a\nserver: b\n", nil},
		{"duplicate flow key", "collectors: {cpu: true, cpu: false}\n", nil},
		{"mapping on the key's line", "watch: units: [a]\n", nil},
		{"bad indentation", "watch:\n    units: [a]\n  processes: []\n", nil},
		{"unterminated quote", "server: \"abc\n", nil},
		{"unknown escape", `server: "\q"`, nil},
		{"quoted true is not a bool", "collectors: {cpu: \"true\"}\n", nil},
		{"number as bool", "collectors: {cpu: 1}\n", nil},
		{"float as size", "spool_bytes: 1.5\n", nil},
		{"list at the top", "- server: a\n", nil},
		{"scalar at the top", "just text\n", nil},
		{"map for a string", "server: {a: b}\n", nil},
		{"list for a string", "interval: [1]\n", nil},
		{"unknown field", "servr: a\n", nil},
		{"unknown process field", "watch: {processes: [{nme: x}]}\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseFile(strings.NewReader(tt.yaml))
			if tt.want == nil {
				if err == nil {
					t.Fatalf("accepted: %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
			ref, err := yamlV3(tt.yaml)
			if err != nil || !reflect.DeepEqual(got, ref) {
				t.Fatalf("yaml.v3 reads %+v (%v)", ref, err)
			}
		})
	}
}

// FuzzYAMLSubset: whatever the agent's parser accepts, yaml.v3 accepts too and reads to the same
// configuration. (The converse does not hold: the subset refuses much that yaml.v3 accepts.)
func FuzzYAMLSubset(f *testing.F) {
	for _, s := range []string{
		"server: https://x:1\ninterval: 10s\nspool_bytes: 100\n",
		"collectors: {disks: false, units: true}\nwatch: {processes: [{name: x}, {exe: /y}], units: [a.service]}\n",
		"watch:\n  processes:\n  - name: nginx\n    exe: /usr/sbin/nginx\n  units:\n    - a\n    - 'b'\n",
		"server: \"a\\u00e9\"\nca: 'x''y' # c\n---\n",
		"collectors:\n  cpu: off\n  disks: Yes\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := parseFile(bytes.NewReader(data))
		if err != nil {
			return
		}
		ref, err := yamlV3(string(data))
		if err != nil {
			t.Fatalf("accepted, but yaml.v3 refuses it: %v\ngot %+v", err, got)
		}
		if !reflect.DeepEqual(got, ref) {
			t.Fatalf("yaml.v3 reads it differently:\nours    %+v\nyaml.v3 %+v", got, ref)
		}
	})
}
