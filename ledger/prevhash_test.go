package ledger

import (
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/arkiv/arkiv/domain"
)

func TestPrevHashOfAgreesWithEncodingJSON(t *testing.T) {
	inputs := []string{
		`{"actor":"u","prevHash":"abc"}`,
		`{"prevHash":""}`,
		`{}`,
		`null`,
		` {"prevHash" : "a" } `,
		`{"actor":{"prevHash":"nested"}}`,
		`{"prevHash":"a","prevHash":"b"}`,
		`{"PREVHASH":"upper"}`,
		`{"prevHash":"a","PrevHash":"b"}`,
		`{"prevhaſh":"long s"}`,
		`{"prev\u0048ash":"escaped"}`,
		`{"prevHash":null}`,
		`{"prevHash":"a","prevHash":null}`,
		`{"prevHash":5}`,
		`{"prevHash":["a"]}`,
		`{"prevHash":{"a":1}}`,
		`{"prevHash":"a"} trailing`,
		`{"prevHash":"a"}{}`,
		`[1,2]`,
		`"string"`,
		`{"prevHash":"a"`,
		``,
		`{"occurredAt":"not a time","prevHash":"x"}`,
		`{"schemaVersion":"1","prevHash":"x"}`,
		`{"subjects":[1],"prevHash":"x"}`,
		`{"prevHash":"\u00e9\ud800"}`,
		`{"a":1,}`,
		"{\"prevHash\":\"a\xffb\"}",
	}
	for _, in := range inputs {
		var m domain.Metadata
		err := json.Unmarshal([]byte(in), &m)
		var p struct {
			PrevHash string `json:"prevHash"`
		}
		perr := json.Unmarshal([]byte(in), &p)
		got, ok := prevHashOf([]byte(in))
		// domain.VerifyChain decodes into domain.Metadata, whose other fields can fail on
		// their own (a time that is not one): the verifier's check, like the prevHash-only
		// struct, looks at prevHash alone. Both must agree with that struct.
		if ok != (perr == nil) || (ok && got != p.PrevHash) {
			t.Errorf("%q: prevHashOf = %q, %v; encoding/json = %q, %v (full metadata: %v)", in, got, ok, p.PrevHash, perr, err)
		}
	}
}

// TestPrevHashOfAgreesUnderMutation compares prevHashOf with encoding/json on thousands of
// mutations of real metadata: bytes flipped, inserted and deleted, with JSON's special
// characters favoured.
func TestPrevHashOfAgreesUnderMutation(t *testing.T) {
	base, _ := json.Marshal(domain.Metadata{Actor: "u-1", Organization: "o-1", CommandID: "c", SchemaVersion: 1,
		Subjects: []string{"user:1", "space:2"}, PrevHash: "3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b"})
	special := []byte(`{}[]":,\ntfeu0123456789.-+E` + "\x00\x7f\xc3\xa9\xff ")
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 50000; i++ {
		b := append([]byte(nil), base...)
		for n := rng.IntN(3) + 1; n > 0; n-- {
			pos := rng.IntN(len(b) + 1)
			c := special[rng.IntN(len(special))]
			switch rng.IntN(3) {
			case 0:
				if pos < len(b) {
					b[pos] = c
				}
			case 1:
				b = append(b[:pos], append([]byte{c}, b[pos:]...)...)
			case 2:
				if pos < len(b) {
					b = append(b[:pos], b[pos+1:]...)
				}
			}
		}
		var p struct {
			PrevHash string `json:"prevHash"`
		}
		perr := json.Unmarshal(b, &p)
		got, ok := prevHashOf(b)
		if ok != (perr == nil) || (ok && got != p.PrevHash) {
			t.Fatalf("%q: prevHashOf = %q, %v; encoding/json = %q, %v", b, got, ok, p.PrevHash, perr)
		}
	}
}
