package ledger

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImportsStayPure keeps the evidence logic free of I/O layers: of Arkiv's packages it
// may import only domain.
func TestImportsStayPure(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		ast, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range ast.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(path, "github.com/arkiv/arkiv/") && path != "github.com/arkiv/arkiv/domain" {
				t.Errorf("%s imports %s", f, path)
			}
			if strings.Contains(path, "pgx") || strings.Contains(path, "EventStore-Client-Go") {
				t.Errorf("%s imports %s", f, path)
			}
		}
	}
}
