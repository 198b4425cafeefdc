package scim

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestParseFilter: only `attribute eq "value"` of the allowed attributes is accepted.
func TestParseFilter(t *testing.T) {
	for in, want := range map[string]string{
		`userName eq "ada@example.org"`:      "userName=ada@example.org",
		`USERNAME EQ "a \"quoted\" name"`:    `userName=a "quoted" name`,
		`externalId eq "7f3a"`:               "externalId=7f3a",
		``:                                   "",
		`userName co "ada"`:                  "error",
		`userName eq ada`:                    "error",
		`title eq "x"`:                       "error",
		`userName eq "a" or userName eq "b"`: "error",
	} {
		f, err := parseFilter(in, "userName", "externalId")
		got := ""
		switch {
		case err != nil:
			got = "error"
		case f != nil:
			got = f.attr + "=" + f.value
		}
		if got != want {
			t.Errorf("parseFilter(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestIfMatch: weak and strong ETags of ours parse; anything else matches nothing.
func TestIfMatch(t *testing.T) {
	for h, want := range map[string]int{``: 0, `*`: 0, `W/"3"`: 3, `"12"`: 12, `W/"x"`: -1, `W/"0"`: -1} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if h != "" {
			r.Header.Set("If-Match", h)
		}
		if got := ifMatch(r); got != want {
			t.Errorf("If-Match %q = %d, want %d", h, got, want)
		}
	}
}

// TestPatchOpValidation: a PatchOp needs its schema, operations, and known ops with values.
func TestPatchOpValidation(t *testing.T) {
	for body, scimType := range map[string]string{
		`{"Operations":[{"op":"replace","path":"active","value":false}]}`:                                       "invalidSyntax",
		`{"schemas":["` + SchemaPatchOp + `"],"Operations":[]}`:                                                 "invalidSyntax",
		`{"schemas":["` + SchemaPatchOp + `"],"Operations":[{"op":"move","path":"active","value":false}]}`:      "invalidSyntax",
		`{"schemas":["` + SchemaPatchOp + `"],"Operations":[{"op":"replace","path":"active"}]}`:                 "invalidSyntax",
		`{"schemas":["` + SchemaPatchOp + `"],"Operations":[{"op":"remove"}]}`:                                  "noTarget",
		`{"schemas":["` + SchemaPatchOp + `"],"Operations":[{"op":"Replace","path":"active","value":false}]}`:   "",
		`{"schemas":["` + SchemaPatchOp + `"],"Operations":[{"op":"remove","path":"members[value eq \"x\"]"}]}`: "",
		`{"schemas":["` + SchemaPatchOp + `"],"Operations":[{"op":"add","value":{"displayName":"x"}}]}`:         "",
	} {
		w := httptest.NewRecorder()
		var p patchOp
		ok := decode(w, httptest.NewRequest(http.MethodPatch, "/", strings.NewReader(body)), &p) && p.valid(w)
		if ok != (scimType == "") || (!ok && !strings.Contains(w.Body.String(), `"scimType":"`+scimType+`"`)) {
			t.Errorf("%s: ok %v, body %s; want scimType %q", body, ok, w.Body.String(), scimType)
		}
	}
}

// TestUnknownEndpoints: an unknown path is a SCIM 404, a known one with another method 405,
// both in the SCIM error format and before any authentication.
func TestUnknownEndpoints(t *testing.T) {
	h := &Handler{mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /scim/v2/Users", func(http.ResponseWriter, *http.Request) {})
	for req, want := range map[[2]string]int{{"GET", "/scim/v2/Nope"}: 404, {"PATCH", "/scim/v2/Users"}: 405} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(req[0], req[1], nil))
		if w.Code != want || !strings.Contains(w.Body.String(), SchemaError) {
			t.Errorf("%v: %d %s, want %d", req, w.Code, w.Body.String(), want)
		}
	}
}
