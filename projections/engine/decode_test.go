package engine_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/arkiv/arkiv/projections/engine"
)

type decodeInner struct {
	Kind string `json:"kind"`
}

type decodeSample struct {
	decodeInner
	Name     string            `json:"name"`
	Count    int64             `json:"count,string"`
	Ratio    float64           `json:"ratio"`
	Tags     []string          `json:"tags"`
	Labels   map[string]string `json:"labels"`
	Any      any               `json:"any"`
	Raw      json.RawMessage   `json:"raw"`
	At       time.Time         `json:"at"`
	Optional *int              `json:"optional"`
	Bytes    []byte            `json:"bytes"`
}

// TestDecodeJSONKeepsEncodingJSONRules: DecodeJSON decodes as encoding/json does, including
// the corners where Go's JSON v2 differs by default (case-insensitive names, duplicate names,
// invalid UTF-8, nulls), so that swapping the decoder changed no read model.
func TestDecodeJSONKeepsEncodingJSONRules(t *testing.T) {
	inputs := []string{
		`{"kind":"k","name":"n","count":"42","ratio":0.5,"tags":["a","b"],"labels":{"x":"y"},"any":{"n":1,"l":[true,null]},"raw":{"keep":[1, 2]},"at":"2026-03-03T12:00:00.123+01:00","optional":7,"bytes":"aGVsbG8="}`,
		`{"NAME":"upper","Kind":"mixed"}`,
		`{"name":"first","name":"second"}`,
		`{"name":"bad \xff utf-8"}`,
		`{"tags":null,"labels":null,"optional":null,"any":null}`,
		`{"unknown":{"deep":[1,2,3]},"name":"x"}`,
		`{"any":12345678901234567890}`,
		`{"name":"\u00e9\ud83d\ude00"}`,
	}
	for _, in := range inputs {
		var want, got decodeSample
		errWant := json.Unmarshal([]byte(in), &want)
		errGot := engine.DecodeJSON([]byte(in), &got)
		if (errWant == nil) != (errGot == nil) {
			t.Errorf("%s: error %v, encoding/json's %v", in, errGot, errWant)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\ndecoded       %#v\nencoding/json %#v", in, got, want)
		}
	}
	// Malformed input fails in both.
	for _, in := range []string{`{"name":`, `{"count":42}`, `[1,2]`, `{"ratio":"x"}`} {
		var want, got decodeSample
		if errWant, errGot := json.Unmarshal([]byte(in), &want), engine.DecodeJSON([]byte(in), &got); (errWant == nil) != (errGot == nil) {
			t.Errorf("%s: error %v, encoding/json's %v", in, errGot, errWant)
		}
	}
}
