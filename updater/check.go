package updater

import (
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// maxCheckOutput bounds what `<new> --version` may print.
const maxCheckOutput = 4096

// elfMachines maps GOARCH to the ELF machine, class and byte order of its binaries.
var elfMachines = map[string]struct {
	machine elf.Machine
	class   elf.Class
	data    elf.Data
}{
	"amd64":   {elf.EM_X86_64, elf.ELFCLASS64, elf.ELFDATA2LSB},
	"arm64":   {elf.EM_AARCH64, elf.ELFCLASS64, elf.ELFDATA2LSB},
	"386":     {elf.EM_386, elf.ELFCLASS32, elf.ELFDATA2LSB},
	"arm":     {elf.EM_ARM, elf.ELFCLASS32, elf.ELFDATA2LSB},
	"riscv64": {elf.EM_RISCV, elf.ELFCLASS64, elf.ELFDATA2LSB},
	"ppc64le": {elf.EM_PPC64, elf.ELFCLASS64, elf.ELFDATA2LSB},
	"s390x":   {elf.EM_S390, elf.ELFCLASS64, elf.ELFDATA2MSB},
	"loong64": {elf.EM_LOONGARCH, elf.ELFCLASS64, elf.ELFDATA2LSB},
}

// CheckELF verifies that the file is a Linux ELF executable for arch (a GOARCH name).
func CheckELF(path, arch string) error {
	want, ok := elfMachines[arch]
	if !ok {
		return fmt.Errorf("architecture %q unknown: %w", arch, ErrNotExecutable)
	}
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s is not an ELF file: %v: %w", path, err, ErrNotExecutable)
	}
	defer f.Close()
	switch {
	case f.Machine != want.machine || f.Class != want.class || f.Data != want.data:
		return fmt.Errorf("%s is built for %v %v, not %s: %w", path, f.Machine, f.Class, arch, ErrNotExecutable)
	case f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN:
		return fmt.Errorf("%s is an ELF %v, not an executable: %w", path, f.Type, ErrNotExecutable)
	case f.OSABI != elf.ELFOSABI_NONE && f.OSABI != elf.ELFOSABI_LINUX:
		return fmt.Errorf("%s is built for %v: %w", path, f.OSABI, ErrNotExecutable)
	}
	return nil
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	buf bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.buf.Len(); room > 0 {
		l.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// runCheck runs `path args…` with a timeout, as cred when set, and returns its output.
func runCheck(ctx context.Context, path string, timeout time.Duration, cred *syscall.Credential, env []string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	out := &limitedBuffer{max: maxCheckOutput}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = env
	cmd.WaitDelay = time.Second
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	err := cmd.Run()
	if ctx.Err() != nil {
		return out.buf.String(), fmt.Errorf("%s %s did not finish within %v: %w", path, strings.Join(args, " "), timeout, ErrNotExecutable)
	}
	if err != nil {
		return out.buf.String(), fmt.Errorf("%s %s: %v: %w", path, strings.Join(args, " "), err, ErrNotExecutable)
	}
	return out.buf.String(), nil
}

// checkVersionOutput accepts output whose first line has the version as a word
// ("vigil-agent 1.2.3").
func checkVersionOutput(out, want string) error {
	line, _, _ := strings.Cut(out, "\n")
	for _, f := range strings.Fields(line) {
		if f == want {
			return nil
		}
	}
	return fmt.Errorf("--version printed %q, want version %s: %w", strings.TrimSpace(line), want, ErrNotExecutable)
}

// checkBinary runs the local checks on a verified download: ELF for this host, and
// `<new> --version` printing the expected version within the timeout.
func (u *Updater) checkBinary(ctx context.Context, path, want string) error {
	if err := CheckELF(path, u.cfg.Arch); err != nil {
		return err
	}
	if u.cfg.Arch != runtime.GOARCH {
		return nil // cannot run it here (tests of other architectures)
	}
	if err := os.Chmod(path, 0o755); err != nil {
		return err
	}
	out, err := runCheck(ctx, path, u.cfg.VersionTimeout, u.cred, childEnv(os.Environ()), "--version")
	if err != nil {
		return err
	}
	return checkVersionOutput(out, want)
}
