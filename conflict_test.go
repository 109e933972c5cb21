package vigil_test

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoConflictMarkers fails when a merge left conflict markers in a source or documentation
// file: Go would catch them in code, but not in docs, SQL, shell or YAML.
func TestNoConflictMarkers(t *testing.T) {
	exts := map[string]bool{".go": true, ".md": true, ".sql": true, ".sh": true, ".yaml": true, ".yml": true,
		".html": true, ".tmpl": true, ".css": true, ".js": true, ".service": true, ".txtar": true}
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "bin" || d.Name() == "dist" || strings.HasSuffix(d.Name(), "-data")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !exts[filepath.Ext(path)] && d.Name() != "Makefile" {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for n := 1; sc.Scan(); n++ {
			line := sc.Text()
			if strings.HasPrefix(line, "<<<<<<< ") || strings.HasPrefix(line, ">>>>>>> ") || strings.HasPrefix(line, "||||||| ") {
				t.Errorf("%s:%d: merge conflict marker %q", path, n, line)
			}
		}
		return sc.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
}
