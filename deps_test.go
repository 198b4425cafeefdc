// Package arkiv_test holds the dependency test of the whole module: it keeps every arrow
// pointing inwards (domain ← commands ← projections, readmodels ← graphql ← app ← cmd) in the
// style of Tailscale's tstest/deptest, over `go list -json ./...` of every package.
package arkiv_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/arkiv/arkiv"

// pkg is what `go list -json` tells of a package.
type pkg struct {
	ImportPath   string
	Imports      []string
	Deps         []string
	TestImports  []string
	XTestImports []string
}

// rule forbids packages matching from to depend on packages matching any of deny.
type rule struct {
	name string
	// from selects the packages the rule applies to.
	from func(path string) bool
	// deny lists forbidden import path prefixes ("m/" stands for the module).
	deny []string
	// tests applies the rule to the package's tests and their dependencies too.
	tests bool
	// only, when set, lists the module's packages allowed besides the package itself; any
	// other package of the module is forbidden.
	only []string
}

// support reports whether path is a test-support package (pgtest, eventstoretest,
// readmodeltest…): test code by another name, held to the rules of tests, and imported
// only by tests and other test-support packages (a rule below checks that).
func support(path string) bool {
	return strings.HasSuffix(path[strings.LastIndex(path, "/")+1:], "test")
}

// under matches a package and everything below it.
func under(p string) func(string) bool {
	return func(path string) bool { return path == module+"/"+p || strings.HasPrefix(path, module+"/"+p+"/") }
}

func exactly(p string) func(string) bool {
	return func(path string) bool { return path == module+"/"+p }
}

var rules = []rule{
	{name: "domain imports nothing of Arkiv", from: under("domain"), only: []string{}},
	{name: "commands imports domain only, and no database, GraphQL, Weaviate, EventStoreDB or Watermill package",
		from: exactly("commands"), only: []string{"domain"},
		deny: []string{"github.com/jackc/pgx", "github.com/99designs/gqlgen", "github.com/weaviate/", "github.com/EventStore/",
			"github.com/ThreeDotsLabs/watermill"}},
	{name: "history imports domain only", from: under("history"), only: []string{"domain"}},
	{name: "evidence imports domain and ledger only: the bundle's logic is free of I/O adapters", from: exactly("evidence"),
		only: []string{"domain", "ledger"}},
	{name: "portability imports domain and ledger only: the exports' logic is free of I/O adapters", from: exactly("portability"),
		only: []string{"domain", "ledger"}},
	{name: "projections imports no infra, graphql or app", from: under("projections"),
		deny: []string{"m/infra", "m/graphql", "m/app"}},
	{name: "readmodels imports no infra, graphql or app", from: under("readmodels"),
		deny: []string{"m/infra", "m/graphql", "m/app"}},
	{name: "infra imports no graphql, projections, readmodels or app (tests included)", from: under("infra"), tests: true,
		deny: []string{"m/graphql", "m/projections", "m/readmodels", "m/app"}},
	{name: "graphql imports no app or projections", from: under("graphql"),
		deny: []string{"m/app", "m/projections"}},
	{name: "scim imports no app, projections or infra", from: under("scim"),
		deny: []string{"m/app", "m/projections", "m/infra"}},
	{name: "test-support packages are imported only by tests",
		from: func(path string) bool { return !support(path) }, deny: []string{"<test-support>"}},
	{name: "only cmd, bench and tests import app",
		from: func(path string) bool {
			return !under("cmd")(path) && !under("bench")(path) && !under("app")(path)
		},
		deny: []string{"m/app"}},
}

func TestDependencies(t *testing.T) {
	pkgs := list(t)
	if len(pkgs) < 20 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	for _, r := range rules {
		t.Run(r.name, func(t *testing.T) {
			matched := 0
			for _, p := range pkgs {
				// A test-support package is test code: only rules that cover tests apply.
				if !r.from(p.ImportPath) || support(p.ImportPath) && !r.tests {
					continue
				}
				matched++
				for _, v := range violations(r, p, pkgs) {
					t.Errorf("%s", v)
				}
			}
			if matched == 0 {
				t.Fatal("the rule matches no package")
			}
		})
	}
}

// list returns every package of the module by import path.
func list(t *testing.T) map[string]*pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", "./...").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string]*pkg{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs[p.ImportPath] = &p
	}
	return pkgs
}

// violations lists p's forbidden dependencies under r, each with the import chain that
// brings it in.
func violations(r rule, p *pkg, pkgs map[string]*pkg) []string {
	type start struct {
		via  string
		deps []string
	}
	starts := []start{{via: "", deps: append([]string{}, p.Deps...)}}
	if r.tests {
		for _, imp := range append(slices.Clone(p.TestImports), p.XTestImports...) {
			deps := []string{imp}
			if q := pkgs[imp]; q != nil {
				deps = append(deps, q.Deps...)
			}
			starts = append(starts, start{via: "(test) ", deps: deps})
		}
	}
	seen := map[string]bool{}
	var out []string
	for _, s := range starts {
		for _, d := range s.deps {
			if seen[d] || d == p.ImportPath || !forbidden(r, d) {
				continue
			}
			seen[d] = true
			out = append(out, fmt.Sprintf("%s%s depends on %s: %s", s.via, short(p.ImportPath), short(d), chain(p, d, pkgs, r.tests)))
		}
	}
	sort.Strings(out)
	return out
}

func forbidden(r rule, dep string) bool {
	for _, d := range r.deny {
		if d == "<test-support>" {
			if support(dep) && strings.HasPrefix(dep, module+"/") {
				return true
			}
			continue
		}
		prefix := strings.Replace(d, "m/", module+"/", 1)
		if dep == prefix || strings.HasPrefix(dep, prefix+"/") || (!strings.HasPrefix(d, "m/") && strings.HasPrefix(dep, d)) {
			return true
		}
	}
	if r.only != nil && strings.HasPrefix(dep, module+"/") && !r.from(dep) {
		for _, o := range r.only {
			if under(o)(dep) {
				return false
			}
		}
		return true
	}
	return false
}

// chain returns a shortest import chain from p to dep, as "p → a → dep".
func chain(p *pkg, dep string, pkgs map[string]*pkg, tests bool) string {
	first := p.Imports
	if tests {
		first = append(append(slices.Clone(p.Imports), p.TestImports...), p.XTestImports...)
	}
	prev := map[string]string{}
	queue := []string{}
	for _, i := range first {
		if _, ok := prev[i]; !ok {
			prev[i] = p.ImportPath
			queue = append(queue, i)
		}
	}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		if cur == dep {
			path := []string{short(cur)}
			for at := prev[cur]; at != p.ImportPath; at = prev[at] {
				path = append(path, short(at))
			}
			path = append(path, short(p.ImportPath))
			slices.Reverse(path)
			return strings.Join(path, " → ")
		}
		if q := pkgs[cur]; q != nil {
			for _, i := range q.Imports {
				if _, ok := prev[i]; !ok {
					prev[i] = cur
					queue = append(queue, i)
				}
			}
		}
	}
	return "(chain not found)"
}

func short(path string) string {
	if s, ok := strings.CutPrefix(path, module+"/"); ok {
		return s
	}
	return path
}
