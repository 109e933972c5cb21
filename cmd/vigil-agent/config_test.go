package main

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigilhq/vigil/agent/check"
	"github.com/vigilhq/vigil/wire"
)

func TestConfigFileYAML(t *testing.T) {
	full := &fileConfig{
		Server: "https://vigil.example.com:8443", CA: "/etc/vigil/ca.pem", StateDir: "/var/lib/vigil/agent",
		Interval: "10s", SpoolBytes: 33554432, Collectors: map[string]bool{"disks": false, "units": true},
	}
	full.Watch.Processes = []wire.ProcessWatch{{Name: "nginx"}, {Exe: "/usr/sbin/sshd"}}
	full.Watch.Units = []string{"ssh.service", "nginx.service"}
	emptyUnits := &fileConfig{}
	emptyUnits.Watch.Units = []string{} // [] is an empty list
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
  units:
    - ssh.service
    - "nginx.service"
`, full},
		{"flow style", "server: https://vigil.example.com:8443\nca: /etc/vigil/ca.pem\nstate_dir: /var/lib/vigil/agent\n" +
			"interval: 10s\nspool_bytes: 33554432\ncollectors: {disks: false, units: true}\n" +
			"watch: {processes: [{name: nginx}, {exe: /usr/sbin/sshd}], units: [ssh.service, 'nginx.service',]}\n", full},
		{"CRLF and nulls", "server: ~\r\nca:\r\nwatch:\r\n  units: []\r\n", emptyUnits},
		{"quotes and hashes", `server: "https://h/#x"` + "\nca: 'it''s # here'\n", &fileConfig{Server: "https://h/#x", CA: "it's # here"}},
		{"escapes", `server: "a\tb\u00e9\"\\"`, &fileConfig{Server: "a\tbé\"\\"}},
		{"anchor and alias", "server: &a x\nca: *a\n", &fileConfig{Server: "x", CA: "x"}},
		{"block scalar", "server: |-\n  x\n", &fileConfig{Server: "x"}},
		{"empty", "", &fileConfig{}},

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
		{"negative size", "spool_bytes: -1\n", nil},
		{"bad interval", "interval: soon\n", nil},
		{"empty process watch", "watch: {processes: [{}]}\n", nil},
		{"process watch by name and exe", "watch: {processes: [{name: sshd, exe: /usr/sbin/sshd}]}\n", nil},
		{"list at the top", "- server: a\n", nil},
		{"scalar at the top", "just text\n", nil},
		{"map for a string", "server: {a: b}\n", nil},
		{"list for a string", "interval: [1]\n", nil},
		{"unknown field", "servr: a\n", nil},
		{"unknown process field", "watch: {processes: [{nme: x}]}\n", nil},
		{"unknown collector", "collectors: {gpu: false}\n", nil},
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
		})
	}
}

// TestConfigFileErrors: each kind of mistake is told apart and says where it is.
func TestConfigFileErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		is         error  // errors.Is, if set
		typeErr    bool   // a *yaml.TypeError
		says       string // in the message
	}{
		{"unknown key", "server: https://x\n  # indented comment\nintervall: 10s\n", errUnknownKey, false, `line 3, column 1: unknown key "intervall"`},
		{"unknown nested key", "watch:\n  processes:\n    - name: x\n      nmae: y\n", errUnknownKey, false, `line 4, column 7: unknown key "nmae"`},
		{"unknown collector", "collectors:\n  cpu: true\n  gpu: false\n", errUnknownKey, false, `line 3, column 3: unknown key: unknown collector "gpu"`},
		{"type error", "server: https://x\nspool_bytes: lots\n", nil, true, "line 2: cannot unmarshal"},
		{"duplicate key", "server: a\nca: b\nserver: c\n", nil, true, `line 3: mapping key "server" already defined at line 1`},
		{"invalid value", "spool_bytes: -5\n", errInvalidValue, false, "spool_bytes is negative"},
		{"fraction for an integer", "\nspool_bytes: 1.5\n", errInvalidValue, false, `line 2, column 14: invalid value: spool_bytes: "1.5" is not an integer`},
		{"too large", "server: x\n" + strings.Repeat("# padding\n", maxConfigFile/10+1), errConfigSize, false, "too large"},
		{"unknown check key", "checks:\n  - name: site\n    kind: http\n    target: http://x/\n    timout: 5s\n", errUnknownKey, false, `line 5, column 5: unknown key "timout" in an item of checks`},
		{"number for a duration", "checks:\n  - {name: a, kind: tcp, target: 'h:1', interval: 30}\n", errInvalidValue, false, `line 2, column 51: invalid value: interval: "30" is not a duration such as 30s`},
		{"bad duration", "checks:\n  - {name: a, kind: tcp, target: 'h:1', interval: soon}\n", nil, true, "cannot unmarshal"},
		{"unknown check kind", "checks:\n  - {name: a, kind: ping, target: h}\n", errInvalidValue, false, `checks: invalid check a: kind "ping" unknown`},
		{"option of another kind", "checks:\n  - {name: a, kind: tcp, target: 'h:1', expect_status: 200}\n", errInvalidValue, false, "expect_status applies to http checks only"},
		{"anomaly threshold without enabled", "anomaly: {threshold: 4}\n", errInvalidValue, false, "anomaly.threshold 4"},
		{"anomaly threshold too low", "anomaly: {enabled: true, threshold: 1}\n", errInvalidValue, false, "anomaly.threshold 1"},
		{"unknown anomaly key", "anomaly: {enabled: true, treshold: 4}\n", errUnknownKey, false, `unknown key "treshold" in anomaly`},
		{"duplicate check names", "checks:\n  - {name: a, kind: tcp, target: 'h:1'}\n  - {name: a, kind: dns, target: h}\n", errInvalidValue, false, `two checks named "a"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseFile(strings.NewReader(tt.yaml))
			if err == nil {
				t.Fatal("accepted")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("err = %v, want %v", err, tt.is)
			}
			var te *yaml.TypeError
			if errors.As(err, &te) != tt.typeErr {
				t.Errorf("err = %v (%T), *yaml.TypeError: want %v", err, errors.Unwrap(err), tt.typeErr)
			}
			if !strings.Contains(err.Error(), tt.says) {
				t.Errorf("err = %q, want it to say %q", err, tt.says)
			}
		})
	}
}

func TestConfigChecks(t *testing.T) {
	src := `server: https://x
checks:
  - name: site
    kind: http
    target: https://localhost:8443/health
    expect_status: 204
    body_regexp: '"status":\s*"ok"'
    ca: /etc/vigil/site-ca.pem
    interval: 1m
    timeout: 2s
  - {name: cert, kind: tls, target: /etc/ssl/site.pem, min_days: 21.5}
  - {name: backup, kind: file, target: /var/backups/db.dump, max_age: 26h, min_size: 1048576}
  - {name: db, kind: tcp, target: "127.0.0.1:5432"}
  - {name: docker, kind: unix, target: /run/docker.sock}
  - {name: resolve, kind: dns, target: example.com, server: "127.0.0.53:53"}
`
	fc, err := parseFile(strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	want := []check.Spec{
		{Name: "site", Kind: "http", Target: "https://localhost:8443/health", ExpectStatus: 204, BodyRegexp: `"status":\s*"ok"`,
			CA: "/etc/vigil/site-ca.pem", Interval: time.Minute, Timeout: 2 * time.Second},
		{Name: "cert", Kind: "tls", Target: "/etc/ssl/site.pem", MinDays: 21.5},
		{Name: "backup", Kind: "file", Target: "/var/backups/db.dump", MaxAge: 26 * time.Hour, MinSize: 1 << 20},
		{Name: "db", Kind: "tcp", Target: "127.0.0.1:5432"},
		{Name: "docker", Kind: "unix", Target: "/run/docker.sock"},
		{Name: "resolve", Kind: "dns", Target: "example.com", Server: "127.0.0.53:53"},
	}
	if !reflect.DeepEqual(fc.Checks, want) {
		t.Fatalf("checks:\ngot  %+v\nwant %+v", fc.Checks, want)
	}
}
