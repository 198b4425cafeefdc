package graphql

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/arkiv/arkiv/graphql/generated"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/complexity"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// Fuzz target and regression test for the GraphQL limits (issue 24, "bad input"): deeply
// nested documents, many aliases, fragments spread exponentially often. Seeds:
// testdata/fuzz/FuzzQueryLimits/; `make fuzz` runs it for a bounded time.

// naiveShape measures set the obvious way, expanding every fragment spread where it occurs:
// the reference for measure, exponential on fragment bombs.
func naiveShape(set ast.SelectionSet, budget *int) shape {
	var out shape
	for _, sel := range set {
		*budget--
		if *budget < 0 {
			return out
		}
		var s shape
		switch x := sel.(type) {
		case *ast.Field:
			if strings.HasPrefix(x.Name, "__") {
				s = shape{depth: 1}
				break
			}
			s = naiveShape(x.SelectionSet, budget)
			s.depth++
			s.fields++
		case *ast.InlineFragment:
			s = naiveShape(x.SelectionSet, budget)
		case *ast.FragmentSpread:
			if x.Definition != nil {
				s = naiveShape(x.Definition.SelectionSet, budget)
			}
		}
		out.depth = max(out.depth, s.depth)
		out.fields += s.fields
	}
	return out
}

// FuzzQueryLimits parses and validates arbitrary documents against Arkiv's schema and
// measures each operation as the depth limit does: invalid documents are gqlparser errors
// (never a panic); measure agrees with the naive expansion wherever that is small, and the
// field count it refuses by is never above gqlgen's complexity score, so the early refusal
// only refuses what the complexity limit would.
func FuzzQueryLimits(f *testing.F) {
	es := generated.NewExecutableSchema(generated.Config{})
	schema := es.Schema()
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, q string) {
		doc, errs := gqlparser.LoadQuery(schema, q)
		if errs != nil {
			for _, e := range errs {
				if e == nil || e.Message == "" {
					t.Fatalf("an empty validation error for %q", q)
				}
			}
			return
		}
		for _, op := range doc.Operations {
			sh := measure(op.SelectionSet, map[*ast.FragmentDefinition]*shape{})
			if sh.depth < 0 || sh.fields < 0 || sh.depth != selectionDepth(op.SelectionSet, 0) {
				t.Fatalf("shape %+v", sh)
			}
			budget := 20000
			ref := naiveShape(op.SelectionSet, &budget)
			if budget < 0 {
				continue // too large to expand here: exactly the documents measure is for
			}
			if ref != sh {
				t.Fatalf("measure %+v, naive expansion %+v, of %q", sh, ref, q)
			}
			if c := complexity.Calculate(ctx, es, op, nil); c < sh.fields {
				t.Fatalf("complexity %d below the %d fields the depth limit counts, of %q", c, sh.fields, q)
			}
		}
	})
}

// TestFragmentBombRefusedQuickly: a 2 KB document whose fragments expand to 2⁴⁰ fields is
// refused by the depth limit before gqlgen's complexity walker (exponential in the number of
// fragments) sees it.
func TestFragmentBombRefusedQuickly(t *testing.T) {
	var b strings.Builder
	b.WriteString("query { me { ...F0 } }\n")
	const n = 40
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "fragment F%d on User { id ...F%d ...F%d }\n", i, i+1, i+1)
	}
	fmt.Fprintf(&b, "fragment F%d on User { id }\n", n)
	body, _ := json.Marshal(map[string]any{"query": b.String()})
	h := NewHandler(&Resolver{}, HandlerOptions{})
	start := time.Now()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	h.ServeHTTP(rec, req)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("the fragment bomb took %v", d)
	}
	var resp struct {
		Data   any `json:"data"`
		Errors []struct {
			Message    string         `json:"message"`
			Extensions map[string]any `json:"extensions"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if len(resp.Errors) != 1 || resp.Errors[0].Extensions["code"] != "INVALID" || !strings.Contains(resp.Errors[0].Message, "expands to more than 500 fields") {
		t.Fatalf("the fragment bomb was answered %s", rec.Body)
	}
}
