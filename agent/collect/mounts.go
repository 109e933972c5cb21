package collect

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigilhq/vigil/wire"
)

// skipFSTypes are filesystems that are not worth a disk-usage series: kernel pseudo filesystems,
// memory-backed ones (covered by the memory figures), read-only images (always 100 % full), and
// network filesystems, whose statfs can hang for minutes on a dead server and would stall the
// agent's single loop. Every fuse.* type is skipped for the same reason.
var skipFSTypes = map[string]bool{
	"autofs": true, "binfmt_misc": true, "bpf": true, "cgroup": true, "cgroup2": true,
	"configfs": true, "debugfs": true, "devpts": true, "devtmpfs": true, "efivarfs": true,
	"fusectl": true, "hugetlbfs": true, "mqueue": true, "nsfs": true, "proc": true,
	"pstore": true, "ramfs": true, "rpc_pipefs": true, "securityfs": true, "selinuxfs": true,
	"sysfs": true, "tracefs": true, "tmpfs": true, "squashfs": true, "erofs": true, "iso9660": true,
	"nfs": true, "nfs4": true, "cifs": true, "smb3": true, "smbfs": true, "ceph": true,
	"glusterfs": true, "9p": true, "afs": true, "sshfs": true,
}

// skipMountPrefixes are mount-point trees that hold pseudo or per-container mounts.
var skipMountPrefixes = []string{"/proc/", "/sys/", "/dev/", "/run/credentials/",
	"/var/lib/docker/", "/var/lib/containers/", "/var/lib/kubelet/pods/", "/snap/"}

// keepMount decides whether a mount gets a usage entry. overlay is kept only as the root
// filesystem (a container's own view); elsewhere it is a container's layer on a disk already listed.
func keepMount(fstype, path string) bool {
	if skipFSTypes[fstype] || strings.HasPrefix(fstype, "fuse.") {
		return false
	}
	if fstype == "overlay" && path != "/" {
		return false
	}
	switch path {
	case "/proc", "/sys", "/dev",
		"/etc/resolv.conf", "/etc/hostname", "/etc/hosts": // files a container runtime bind-mounts
		return false
	}
	for _, p := range skipMountPrefixes {
		if strings.HasPrefix(path, p) {
			return false
		}
	}
	return true
}

// maxMountinfoBytes bounds the read of /proc/self/mountinfo (about 100 bytes a mount).
const maxMountinfoBytes = 16 << 20

// mountCand is a mount that gets a usage entry if statfs works.
type mountCand struct {
	path, dev, fstype, majmin string
	root                      bool
}

// mountCache keeps the mounts chosen from /proc/self/mountinfo while the file reads the same, so
// a cycle reads it but parses it only when the mount table changed.
type mountCache struct {
	buf, raw []byte // the latest read, and the content cands were chosen from
	cands    []mountCand
	parsed   bool
}

// collectMounts reports usage and inodes of real filesystems, once per device: bind mounts of a
// device already listed are dropped, and a mount of the device's root is preferred over a bind
// mount of a subdirectory.
func (c *Collector) collectMounts(_ time.Time, r *wire.Report) error {
	if c.procErr != nil {
		return c.procErr
	}
	mc := &c.mounts
	var err error
	mc.buf, err = readFileInto(mc.buf, c.mountinfoPath, maxMountinfoBytes)
	if err != nil {
		return err
	}
	if !mc.parsed || !bytes.Equal(mc.buf, mc.raw) {
		cands, err := chooseMounts(mc.buf)
		if err != nil {
			return err
		}
		mc.raw, mc.cands, mc.parsed = append(mc.raw[:0], mc.buf...), cands, true
	}
	cands := mc.cands
	var st unix.Statfs_t
	var firstErr error
	for _, cd := range cands {
		if len(r.Mounts) >= wire.MaxMounts {
			break
		}
		if len(cd.path) > wire.MaxNameLen || len(cd.dev) > wire.MaxNameLen {
			continue
		}
		st = unix.Statfs_t{}
		if err := c.cfg.Statfs(cd.path, &st); err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("statfs %s: %w", cd.path, err)
			}
			continue
		}
		if st.Blocks == 0 {
			continue
		}
		bsize := uint64(st.Bsize)
		used := st.Blocks - min(st.Bfree, st.Blocks)
		avail := min(st.Bavail, st.Blocks)
		m := wire.Mount{
			Path:        cd.path,
			Device:      cd.dev,
			FSType:      cd.fstype,
			TotalBytes:  st.Blocks * bsize,
			FreeBytes:   avail * bsize,
			UsedPct:     pct(float64(used), float64(used+avail)), // as df(1) computes Use%
			InodesTotal: st.Files,
			InodesFree:  min(st.Ffree, st.Files),
		}
		m.InodesPct = pct(float64(m.InodesTotal-m.InodesFree), float64(m.InodesTotal))
		r.Mounts = append(r.Mounts, m)
	}
	return firstErr
}

// chooseMounts parses mountinfo (proc(5)) and returns the mounts worth a usage entry, one per
// device (major:minor), preferring a mount of the device's root.
func chooseMounts(mountinfo []byte) ([]mountCand, error) {
	var cands []mountCand
	index := make(map[string]int, 16) // major:minor → index in cands
	for line := range bytes.Lines(mountinfo) {
		f := strings.Fields(string(line))
		if len(f) == 0 {
			continue
		}
		sep := slices.Index(f, "-")
		// id parent major:minor root mount-point options [optional fields...] - fstype source super-options
		if sep < 6 || len(f) < sep+3 {
			return nil, fmt.Errorf("parse mountinfo line %q", bytes.TrimSpace(line))
		}
		path := unescapeMount(f[4])
		if !keepMount(f[sep+1], path) {
			continue
		}
		cd := mountCand{path: path, dev: unescapeMount(f[sep+2]), fstype: f[sep+1], majmin: f[2], root: f[3] == "/"}
		if i, ok := index[cd.majmin]; ok {
			if cd.root && !cands[i].root {
				cands[i] = cd
			}
			continue
		}
		index[cd.majmin] = len(cands)
		cands = append(cands, cd)
	}
	return cands, nil
}

// unescapeMount undoes the octal escapes (\040 for space and so on) of /proc/*/mountinfo.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(b byte) bool { return b >= '0' && b <= '7' }
