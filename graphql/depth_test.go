package graphql

import (
	"testing"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
)

func depthOf(t *testing.T, q string) int {
	t.Helper()
	doc, err := parser.ParseQuery(&ast.Source{Input: q})
	if err != nil {
		t.Fatal(err)
	}
	return selectionDepth(doc.Operations[0].SelectionSet, 0)
}

// introspectionQuery has the shape of graphql-js's getIntrospectionQuery(): TypeRef nests
// ofType many levels deep.
const introspectionQuery = `query IntrospectionQuery { __schema { queryType { name } types { ...FullType } } }
fragment FullType on __Type { kind name fields(includeDeprecated: true) { name type { ...TypeRef } } }
fragment TypeRef on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType {
  kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } } }`

func TestDepthIgnoresIntrospection(t *testing.T) {
	if d := depthOf(t, introspectionQuery); d > 12 {
		t.Fatalf("the standard introspection query counts %d levels", d)
	}
	deep := `{ a { b { c { d { e { f { g { h { i { j { k { l { m { n } } } } } } } } } } } } } }`
	if d := depthOf(t, deep); d != 14 {
		t.Fatalf("ordinary nesting counts %d, want 14", d)
	}
	// An introspection field does not shield ordinary fields beside it.
	if d := depthOf(t, `{ __typename `+deep[1:]); d != 14 {
		t.Fatalf("with __typename beside it: %d, want 14", d)
	}
}
