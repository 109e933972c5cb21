package api

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestLeaf: the contract links only the standard library and wire, so any client can import it
// without the server's dependencies.
func TestLeaf(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if p != "github.com/vigilhq/vigil/api" && p != "github.com/vigilhq/vigil/wire" {
			t.Errorf("api links %s; it may import only the standard library and wire", p)
		}
	}
}

// jsonFields returns, for every exported struct type declared in this package's non-test files,
// the JSON names of its fields (embedded structs of the package contribute theirs to the type
// that embeds them, and are listed on their own too).
func jsonFields(t *testing.T) map[string][]string {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok || !ts.Name.IsExported() {
				return true
			}
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				return true
			}
			for _, fld := range st.Fields.List {
				if fld.Tag == nil {
					continue
				}
				tag := reflect.StructTag(strings.Trim(fld.Tag.Value, "`")).Get("json")
				if name, _, _ := strings.Cut(tag, ","); name != "" && name != "-" {
					out[ts.Name.Name] = append(out[ts.Name.Name], name)
				}
			}
			return true
		})
	}
	return out
}

// TestDocumented fails when a type or a JSON field of the contract is missing from docs/api.md:
// each exported type with JSON fields has a table row there starting with its name (`api.Host`) and
// every one of its field names as a word on that row (the "Shapes" table).
func TestDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "api.md"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(doc), "\n")
	fields := jsonFields(t)
	if len(fields) < 30 {
		t.Fatalf("found JSON fields in only %d types; the parser missed the contract", len(fields))
	}
	for typ, names := range fields {
		var row string
		for _, l := range lines {
			if strings.HasPrefix(l, "| `api."+typ+"` |") {
				row = l
				break
			}
		}
		if row == "" {
			t.Errorf("docs/api.md has no line naming `api.%s` (fields %v)", typ, names)
			continue
		}
		for _, name := range names {
			word := regexp.MustCompile(`(^|[^A-Za-z0-9_])` + regexp.QuoteMeta(name) + `([^A-Za-z0-9_]|$)`)
			if !word.MatchString(strings.Replace(row, "`api."+typ+"`", "", 1)) {
				t.Errorf("docs/api.md: the line of `api.%s` does not mention its field %q", typ, name)
			}
		}
	}
}

// TestCodesDocumented fails when an error code of the contract is missing from docs/api.md.
func TestCodesDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "api.md"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := parser.ParseFile(token.NewFileSet(), "errors.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	ast.Inspect(f, func(node ast.Node) bool {
		vs, ok := node.(*ast.ValueSpec)
		if !ok || !strings.HasPrefix(vs.Names[0].Name, "Code") {
			return true
		}
		lit, ok := vs.Values[0].(*ast.BasicLit)
		if !ok {
			return true
		}
		n++
		if code := strings.Trim(lit.Value, `"`); !strings.Contains(string(doc), "`"+code+"`") {
			t.Errorf("docs/api.md does not name error code `%s` (api.%s)", code, vs.Names[0].Name)
		}
		return true
	})
	if n < 30 {
		t.Fatalf("found only %d error codes in errors.go", n)
	}
}

func TestDuration(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Duration
		err  bool
	}{
		{`"5m"`, Duration(5 * time.Minute), false},
		{`"1h30m0s"`, Duration(90 * time.Minute), false},
		{`""`, 0, false},
		{`1000000000`, Duration(time.Second), false},
		{`"five minutes"`, 0, true},
		{`true`, 0, true},
	} {
		var d Duration
		err := json.Unmarshal([]byte(tt.in), &d)
		if (err != nil) != tt.err || d != tt.want {
			t.Errorf("Unmarshal(%s) = %v, %v; want %v, error %v", tt.in, d, err, tt.want, tt.err)
		}
	}
	b, err := json.Marshal(Rule{Kind: KindCPU, For: Duration(5 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"id":"","name":"","kind":"cpu","for":"5m0s"}`; string(b) != want {
		t.Errorf("rule = %s, want %s", b, want)
	}
	if b, _ := json.Marshal(Group{Name: "g"}); strings.Contains(string(b), "grace") {
		t.Errorf("a group without grace encodes it: %s", b)
	}
}

// TestKeyOrder: a key encodes with its fields in TUF's canonical (sorted) order, so its key ID
// is the same whether computed from the server's bytes or from this type re-encoded.
func TestKeyOrder(t *testing.T) {
	b, err := json.Marshal(Key{Type: "ed25519", Scheme: "ed25519", Value: KeyVal{Public: "ab"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"keytype":"ed25519","keyval":{"public":"ab"},"scheme":"ed25519"}`; string(b) != want {
		t.Errorf("key = %s, want %s", b, want)
	}
}
