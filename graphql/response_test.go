package graphql

import (
	"encoding/json"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// writeResponse writes what encoding/json would, without re-scanning the data.
func TestWriteResponseMatchesEncodingJSON(t *testing.T) {
	for name, resp := range map[string]*graphql.Response{
		"data":        {Data: json.RawMessage(`{"space":{"id":"a","name":"<b> & \u00e9","members":[{"id":"x"}]}}`)},
		"null data":   {Errors: gqlerror.List{{Message: "no", Extensions: map[string]any{"code": "INVALID"}}}},
		"both":        {Data: json.RawMessage(`{"a":null}`), Errors: gqlerror.List{{Message: "partial", Path: ast.Path{ast.PathName("a")}}}},
		"extensions":  {Data: json.RawMessage(`{"a":1}`), Extensions: map[string]any{"cost": 3}},
		"incremental": {Data: json.RawMessage(`{"a":1}`), Label: "l", HasNext: new(bool)},
	} {
		t.Run(name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			writeResponse(rec, 200, resp)
			want, err := json.Marshal(resp)
			if err != nil {
				t.Fatal(err)
			}
			var got, exp any
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatalf("%s: %v", rec.Body.String(), err)
			}
			if err := json.Unmarshal(want, &exp); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, exp) {
				t.Fatalf("wrote %s, want %s", rec.Body.String(), want)
			}
			if rec.Code != 200 {
				t.Fatalf("status %d", rec.Code)
			}
		})
	}
}
