package deploy

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// composeFile is the part of a compose file the test checks.
type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Environment map[string]string `yaml:"environment"`
		Ports       []string          `yaml:"ports"`
		Volumes     []string          `yaml:"volumes"`
		Healthcheck *struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
		DependsOn map[string]struct {
			Condition string `yaml:"condition"`
		} `yaml:"depends_on"`
		Build *struct {
			Context    string `yaml:"context"`
			Dockerfile string `yaml:"dockerfile"`
		} `yaml:"build"`
	} `yaml:"services"`
	Volumes map[string]any `yaml:"volumes"`
}

// serverFlags builds vigil-server and returns the flag names its --help lists.
func serverFlags(t *testing.T) []string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "vigil-server")
	build := exec.Command("go", "build", "-o", bin, "./cmd/vigil-server")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build vigil-server: %v\n%s", err, out)
	}
	var stderr bytes.Buffer
	help := exec.Command(bin, "--help")
	help.Env = []string{} // no VIGIL_* from the test's environment
	help.Stderr = &stderr
	if err := help.Run(); err != nil {
		t.Fatalf("vigil-server --help: %v\n%s", err, stderr.String())
	}
	var flags []string
	for _, m := range regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`).FindAllStringSubmatch(stderr.String(), -1) {
		flags = append(flags, m[1])
	}
	if !slices.Contains(flags, "data-dir") || !slices.Contains(flags, "database-url") {
		t.Fatalf("could not read the flags from --help:\n%s", stderr.String())
	}
	return flags
}

// TestCompose checks compose.yaml offline (the build machines have no `docker compose` and cannot
// pull images): the three services, every VIGIL_* variable naming a real vigil-server flag, the
// server on PostgreSQL and Mailpit, start order on healthy dependencies, ports published on
// loopback only, and the data directory on a named volume.
func TestCompose(t *testing.T) {
	raw, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	for _, name := range []string{"vigil-server", "postgres", "mailpit"} {
		if _, ok := c.Services[name]; !ok {
			t.Fatalf("compose.yaml has no service %q", name)
		}
	}

	srv := c.Services["vigil-server"]
	flags := serverFlags(t)
	for k := range srv.Environment {
		name, ok := strings.CutPrefix(k, "VIGIL_")
		if !ok {
			t.Errorf("vigil-server: environment %s is not a VIGIL_* setting", k)
			continue
		}
		flag := strings.ReplaceAll(strings.ToLower(name), "_", "-")
		if !slices.Contains(flags, flag) {
			t.Errorf("vigil-server: %s names no flag (--%s is not in vigil-server --help: %v)", k, flag, flags)
		}
	}
	env := srv.Environment
	if !strings.HasPrefix(env["VIGIL_DATABASE_URL"], "postgres://") || !strings.Contains(env["VIGIL_DATABASE_URL"], "@postgres:5432/") {
		t.Errorf("VIGIL_DATABASE_URL = %q, want the postgres service", env["VIGIL_DATABASE_URL"])
	}
	if env["VIGIL_SMTP_URL"] != "smtp://mailpit:1025" {
		t.Errorf("VIGIL_SMTP_URL = %q, want smtp://mailpit:1025", env["VIGIL_SMTP_URL"])
	}
	if env["VIGIL_DATA_DIR"] != "/var/lib/vigil-server" || !slices.Contains(srv.Volumes, "vigil-data:/var/lib/vigil-server") {
		t.Errorf("the data dir %q is not on the vigil-data volume %v", env["VIGIL_DATA_DIR"], srv.Volumes)
	}
	if srv.Build == nil || srv.Build.Dockerfile != "deploy/container/Dockerfile" {
		t.Errorf("vigil-server is not built from deploy/container/Dockerfile")
	} else if _, err := os.Stat(filepath.Join(srv.Build.Context, srv.Build.Dockerfile)); err != nil {
		t.Errorf("build context and Dockerfile do not resolve: %v", err)
	}
	for _, dep := range []string{"postgres", "mailpit"} {
		if got := srv.DependsOn[dep].Condition; got != "service_healthy" {
			t.Errorf("vigil-server depends_on %s: condition %q, want service_healthy", dep, got)
		}
		if c.Services[dep].Healthcheck == nil || len(c.Services[dep].Healthcheck.Test) == 0 {
			t.Errorf("%s has no healthcheck, so service_healthy never holds", dep)
		}
	}
	if c.Services["postgres"].Image != "postgres:15" {
		t.Errorf("postgres image %q, want postgres:15", c.Services["postgres"].Image)
	}
	if !strings.HasPrefix(c.Services["mailpit"].Image, "axllent/mailpit:") {
		t.Errorf("mailpit image %q is not Mailpit with a pinned tag", c.Services["mailpit"].Image)
	}
	for name, s := range c.Services {
		for _, p := range s.Ports {
			if !strings.HasPrefix(p, "127.0.0.1:") {
				t.Errorf("%s publishes %q beyond loopback", name, p)
			}
		}
		for _, v := range s.Volumes {
			vol, _, _ := strings.Cut(v, ":")
			if _, ok := c.Volumes[vol]; !ok {
				t.Errorf("%s mounts %q, not a declared named volume", name, v)
			}
		}
	}
}

// TestDockerfile checks what can be checked of the image definition without building it: a
// builder stage with release-artifacts.sh's reproducible flags, a final stage that runs as a
// non-root user with the data directory as a volume and the same environment names the server
// reads.
func TestDockerfile(t *testing.T) {
	raw, err := os.ReadFile("container/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var from, user []string
	var body strings.Builder
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		body.WriteString(line + "\n")
		fields := strings.Fields(line)
		if len(fields) >= 2 && fields[0] == "FROM" {
			from = append(from, fields[len(fields)-1])
		}
		if len(fields) == 2 && fields[0] == "USER" {
			user = append(user, fields[1])
		}
	}
	if len(from) != 2 {
		t.Fatalf("want a builder and a final stage, got FROM %v", from)
	}
	if len(user) != 1 || strings.HasPrefix(user[0], "0") || strings.HasPrefix(user[0], "root") {
		t.Errorf("the final stage must run as a non-root user, got USER %v", user)
	}
	b := body.String()
	for _, want := range []string{
		"CGO_ENABLED=0", "-trimpath", "-buildvcs=false", "-buildid=", "GOAMD64=v1", "GOTOOLCHAIN=local",
		"./cmd/vigil-server", `VOLUME ["/var/lib/vigil-server"]`, "VIGIL_DATA_DIR=/var/lib/vigil-server",
		"EXPOSE 8443", `ENTRYPOINT ["/usr/bin/vigil-server"]`,
	} {
		if !strings.Contains(b, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if strings.Contains(b, "HEALTHCHECK") {
		t.Errorf("a HEALTHCHECK cannot run in a distroless image (no client); probe from outside")
	}
	// The Go version of the builder is the module's.
	gomod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^toolchain go(\S+)|^go (\S+)`).FindAllStringSubmatch(string(gomod), -1)
	var goVer string
	for _, x := range m {
		if x[1] != "" {
			goVer = x[1]
		} else if goVer == "" {
			goVer = x[2]
		}
	}
	if !strings.Contains(b, "ARG GO_VERSION="+goVer) {
		t.Errorf("the builder's GO_VERSION is not go.mod's %s", goVer)
	}
}
