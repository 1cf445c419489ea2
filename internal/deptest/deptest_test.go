// Package deptest enforces amigo's dependency rule (docs/architecture.md):
// codecs and the domain are pure, adapters depend inward and never on each
// other, and only cmd/ wires everything together.
package deptest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/amigo-metering/amigo"

// pkg is one directory's non-test Go files, parsed.
type pkg struct {
	dir     string // relative to the repo root, "." for the domain
	imports map[string]bool
	files   []*ast.File
}

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		t.Fatalf("repo root not found from %s: %v", dir, err)
	}
	return dir
}

func load(t *testing.T, root, rel string) *pkg {
	t.Helper()
	dir := filepath.Join(root, rel)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	p := &pkg{dir: rel, imports: map[string]bool{}}
	fset := token.NewFileSet()
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.ImportsOnly|parser.SkipObjectResolution)
		if err != nil {
			t.Fatalf("parse %s/%s: %v", rel, name, err)
		}
		full, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatalf("parse %s/%s: %v", rel, name, err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			p.imports[path] = true
		}
		p.files = append(p.files, full)
	}
	if len(p.files) == 0 {
		return nil
	}
	return p
}

// allPackages lists every directory with Go files below root.
func allPackages(t *testing.T, root string) []*pkg {
	t.Helper()
	var out []*pkg
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			rel, _ := filepath.Rel(root, path)
			if p := load(t, root, rel); p != nil {
				out = append(out, p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// callsTimeNow reports the positions of time.Now() calls in the files.
func callsTimeNow(p *pkg) bool {
	found := false
	for _, f := range p.files {
		timeName := ""
		for _, imp := range f.Imports {
			if imp.Path.Value == `"time"` {
				timeName = "time"
				if imp.Name != nil {
					timeName = imp.Name.Name
				}
			}
		}
		if timeName == "" {
			continue
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if id, ok := sel.X.(*ast.Ident); ok && id.Name == timeName && sel.Sel.Name == "Now" {
				found = true
			}
			return true
		})
	}
	return found
}

var codecForbidden = []string{"net", "os", "os/exec", "database/sql", "log", "log/slog", "net/http", "syscall"}

func TestCodecsArePure(t *testing.T) {
	root := repoRoot(t)
	for _, rel := range []string{"dlt645", "q1376", "internal/ipp"} {
		p := load(t, root, rel)
		if p == nil {
			t.Errorf("codec package %s has no Go files", rel)
			continue
		}
		for _, bad := range codecForbidden {
			if p.imports[bad] {
				t.Errorf("%s imports %q: codecs take bytes and return values, no I/O", rel, bad)
			}
		}
		for imp := range p.imports {
			if strings.HasPrefix(imp, module+"/") && imp != module+"/dlt645" {
				t.Errorf("%s imports %q: a codec may import only another codec", rel, imp)
			}
		}
		if callsTimeNow(p) {
			t.Errorf("%s calls time.Now: codecs take time as input", rel)
		}
	}
}

// Pure packages hold rules (prices, quotes) that take every input as an
// argument: no I/O, no clock, and of ours only the domain.
var purePackages = []string{"tariff"}

func TestPurePackagesArePure(t *testing.T) {
	root := repoRoot(t)
	for _, rel := range purePackages {
		p := load(t, root, rel)
		if p == nil {
			t.Errorf("pure package %s has no Go files", rel)
			continue
		}
		for _, bad := range codecForbidden {
			if p.imports[bad] {
				t.Errorf("%s imports %q: a pure package does no I/O", rel, bad)
			}
		}
		for imp := range p.imports {
			switch {
			case imp == module:
			case strings.HasPrefix(imp, module+"/"):
				t.Errorf("%s imports %q: a pure package imports only the domain", rel, imp)
			case strings.Contains(strings.SplitN(imp, "/", 2)[0], "."):
				t.Errorf("%s imports third-party %q: a pure package uses the standard library", rel, imp)
			}
		}
		if callsTimeNow(p) {
			t.Errorf("%s calls time.Now: a pure package takes time as input", rel)
		}
	}
}

func TestDomainImportsNothingOfOurs(t *testing.T) {
	root := repoRoot(t)
	p := load(t, root, ".")
	if p == nil {
		t.Skip("no domain package yet")
	}
	for imp := range p.imports {
		if strings.HasPrefix(imp, module) {
			t.Errorf("the domain imports %q: it must import only the standard library", imp)
		}
		if !strings.Contains(strings.SplitN(imp, "/", 2)[0], ".") {
			continue // standard library
		}
		t.Errorf("the domain imports third-party %q: standard library only", imp)
	}
}

// adapters are packages that talk to the outside world; they depend inward
// (on the domain, codecs and engines' interfaces) and never on each other.
var adapters = []string{"internal/sqlite", "internal/postgres", "internal/api", "internal/web", "internal/fep", "internal/serialline",
	"internal/collector/colsqlite", "internal/collector/uplink", "internal/busmaster"}

func TestAdaptersDoNotImportEachOther(t *testing.T) {
	root := repoRoot(t)
	for _, a := range adapters {
		p := load(t, root, a)
		if p == nil {
			continue
		}
		for _, b := range adapters {
			if a != b && p.imports[module+"/"+b] {
				t.Errorf("adapter %s imports adapter %s: only cmd/ wires adapters together", a, b)
			}
		}
	}
}

func TestStoresImportNoWebPackage(t *testing.T) {
	root := repoRoot(t)
	for _, rel := range []string{"internal/sqlite", "internal/postgres", "internal/collector/colsqlite"} {
		p := load(t, root, rel)
		if p == nil {
			continue
		}
		for imp := range p.imports {
			if imp == "net/http" || strings.HasPrefix(imp, "html/") || strings.HasPrefix(imp, module+"/internal/api") {
				t.Errorf("store %s imports %q", rel, imp)
			}
		}
	}
}

func TestOnlyCmdImportsCmd(t *testing.T) {
	root := repoRoot(t)
	for _, p := range allPackages(t, root) {
		for imp := range p.imports {
			if strings.HasPrefix(imp, module+"/cmd/") {
				t.Errorf("%s imports %s: nothing imports a command", p.dir, imp)
			}
		}
	}
}

// The collector engine declares the store it needs (collector.Store) and
// the bus master takes a byte stream with a deadline: neither knows SQL or
// serial libraries; colsqlite and serialline do, and the engine's callers
// wire them in.
func TestCollectorEngineKnowsNoTechnology(t *testing.T) {
	root := repoRoot(t)
	for rel, banned := range map[string][]string{
		"internal/collector":        {"database/sql", "modernc.org/sqlite", "internal/collector/colsqlite", "net/http"},
		"internal/busmaster":        {"go.bug.st/serial", "internal/serialline", "net", "database/sql"},
		"internal/collector/uplink": {"internal/collector", "database/sql"},
	} {
		p := load(t, root, rel)
		if p == nil {
			t.Errorf("package %s has no Go files", rel)
			continue
		}
		for _, b := range banned {
			full := b
			if strings.HasPrefix(b, "internal/") {
				full = module + "/" + b
			}
			if p.imports[full] {
				t.Errorf("%s imports %q", rel, full)
			}
		}
	}
}
