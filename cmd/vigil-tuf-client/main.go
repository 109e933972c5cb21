// Command vigil-tuf-client is a TUF client for conformance testing
// (https://github.com/theupdateframework/tuf-conformance, CLIENT-CLI.md). It shares its client
// (updater.TUFClient) with vigil-updater.
//
//	vigil-tuf-client --metadata-dir DIR init TRUSTED_ROOT
//	vigil-tuf-client --metadata-dir DIR --metadata-url URL refresh
//	vigil-tuf-client --metadata-dir DIR --metadata-url URL --target-name NAME [--target-name NAME…]
//	                 --target-base-url URL --target-dir DIR download
//
// Exit status 0 on success, 1 on failure. Metadata is kept as root.json, timestamp.json, … in
// DIR. The conformance suite fakes the clock with libfaketime, which a Go binary does not see: in
// this test tool only, the reference time comes from the FAKETIME variable libfaketime reads
// ("@2006-01-02 15:04:05", "2006-01-02 15:04:05", "+1d", "-2h", "+30m", "+90", "+1y").
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/vigilhq/vigil/updater"
)

// version is set at build time with -ldflags "-X main.version=1.2.3".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("vigil-tuf-client", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		metadataDir, metadataURL, targetBaseURL, targetDir string
		targetNames                                        stringList
		showVersion                                        bool
	)
	fs.StringVar(&metadataDir, "metadata-dir", "", "trusted metadata `directory`")
	fs.StringVar(&metadataURL, "metadata-url", "", "repository metadata base `URL`")
	fs.Var(&targetNames, "target-name", "target `path` to download (repeatable)")
	fs.StringVar(&targetBaseURL, "target-base-url", "", "repository targets base `URL`")
	fs.StringVar(&targetDir, "target-dir", "", "`directory` for downloaded targets")
	fs.BoolVar(&showVersion, "version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 1
	}
	if showVersion {
		fmt.Fprintf(stdout, "vigil-tuf-client %s\n", version)
		return 0
	}
	level := slog.LevelInfo
	if strings.EqualFold(getenv("VIGIL_LOG_LEVEL"), "debug") {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "vigil-tuf-client: "+format+"\n", a...)
		return 1
	}
	rest := fs.Args()
	if len(rest) == 0 || metadataDir == "" {
		return fail("usage: --metadata-dir DIR (init TRUSTED_ROOT | refresh | download)")
	}
	// Without FAKETIME the client keeps go-tuf's own clock, as vigil-updater does.
	var clock func() time.Time
	if ft := getenv("FAKETIME"); strings.TrimSpace(ft) != "" {
		now, err := fakeNow(ft, time.Now())
		if err != nil {
			return fail("%v", err)
		}
		clock = func() time.Time { return now }
	}
	switch rest[0] {
	case "init":
		if len(rest) != 2 {
			return fail("usage: --metadata-dir DIR init TRUSTED_ROOT")
		}
		root, err := os.ReadFile(rest[1])
		if err != nil {
			return fail("%v", err)
		}
		if err := updater.InitRoot(metadataDir, root); err != nil {
			return fail("init: %v", err)
		}
		return 0
	case "refresh", "download":
		if len(rest) != 1 || metadataURL == "" {
			return fail("usage: --metadata-dir DIR --metadata-url URL %s", rest[0])
		}
	default:
		return fail("unknown command %q", rest[0])
	}
	c, err := updater.NewTUFClient(updater.TUFConfig{
		MetadataURL: metadataURL,
		TargetsURL:  targetBaseURL,
		MetadataDir: metadataDir,
		Now:         clock,
		Logger:      log,
	})
	if err != nil {
		return fail("%v", err)
	}
	repo, err := c.Refresh(ctx)
	if err != nil {
		return fail("refresh: %v", err)
	}
	if rest[0] == "refresh" {
		return 0
	}
	if targetDir == "" || len(targetNames) == 0 {
		return fail("download needs --target-name and --target-dir")
	}
	if err := os.MkdirAll(targetDir, 0o755); err != nil {
		return fail("%v", err)
	}
	for _, name := range targetNames {
		if err := download(ctx, repo, name, targetBaseURL, targetDir); err != nil {
			return fail("download %s: %v", name, err)
		}
	}
	return 0
}

// download fetches one target into targetDir under its URL-escaped path, unless a file with the
// signed length and hashes is there already.
func download(ctx context.Context, repo *updater.Repository, name, baseURL, targetDir string) error {
	tf, err := repo.Target(name)
	if err != nil {
		return err
	}
	dst := filepath.Join(targetDir, url.PathEscape(name))
	if cached(tf, dst) {
		return nil
	}
	return repo.Download(ctx, tf, dst, baseURL)
}

func cached(tf *metadata.TargetFiles, p string) bool {
	fi, err := os.Stat(p)
	if err != nil || fi.Size() != tf.Length {
		return false
	}
	data, err := os.ReadFile(p)
	return err == nil && tf.VerifyLengthHashes(data) == nil
}

// fakeNow interprets libfaketime's FAKETIME: "@YYYY-MM-DD hh:mm:ss" (start at), "YYYY-MM-DD
// hh:mm:ss" (frozen at) — both taken as the reference time — or a relative offset "+N"/"-N" with
// an optional unit s, m, h, d or y (seconds by default; N may be fractional). Rate suffixes such
// as " x2" or " i1.0" are ignored. Empty means now.
func fakeNow(v string, now time.Time) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return now, nil
	}
	if i := strings.IndexAny(v, " \t"); i >= 0 && (v[0] == '+' || v[0] == '-') {
		v = v[:i] // "+1d x2": drop the rate
	}
	switch v[0] {
	case '@':
		v = v[1:]
		fallthrough
	case '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		ts := v
		if f := strings.Fields(v); len(f) > 2 {
			ts = f[0] + " " + f[1]
		}
		for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02"} {
			if t, err := time.ParseInLocation(layout, ts, time.Local); err == nil {
				return t, nil
			}
		}
		return now, fmt.Errorf("FAKETIME %q: want \"@YYYY-MM-DD hh:mm:ss\" or an offset such as \"+1d\"", v)
	case '+', '-':
		num, unit := v[1:], time.Second
		if n := len(num); n > 0 {
			switch num[n-1] {
			case 's':
				num = num[:n-1]
			case 'm':
				num, unit = num[:n-1], time.Minute
			case 'h':
				num, unit = num[:n-1], time.Hour
			case 'd':
				num, unit = num[:n-1], 24*time.Hour
			case 'y':
				num, unit = num[:n-1], 365*24*time.Hour
			}
		}
		f, err := strconv.ParseFloat(num, 64)
		if err != nil {
			return now, fmt.Errorf("FAKETIME %q: %v", v, err)
		}
		d := time.Duration(f * float64(unit))
		if v[0] == '-' {
			d = -d
		}
		return now.Add(d), nil
	}
	return now, fmt.Errorf("FAKETIME %q not understood", v)
}
