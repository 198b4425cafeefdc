package embedding

import (
	"context"
	"hash/fnv"
	"math"
	"strings"
	"unicode"
)

// Hashing is the offline provider: it hashes each lower-cased word and each character trigram
// of the word (with boundary marks) into a fixed number of signed buckets and L2-normalises
// the result. It is deterministic, needs no network and no model files, and captures lexical
// and sub-word overlap (inflections, compounds, typos), not meaning.
type Hashing struct {
	dims int
}

// NewHashing returns a Hashing provider with dims dimensions (384 when dims <= 0).
func NewHashing(dims int) *Hashing {
	if dims <= 0 {
		dims = 384
	}
	return &Hashing{dims: dims}
}

// Dimensions returns the vector size.
func (h *Hashing) Dimensions() int { return h.dims }

// Embed returns one vector per text. It never fails unless ctx is done.
func (h *Hashing) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	for i, t := range texts {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		out[i] = h.vector(t)
	}
	return out, nil
}

const (
	wordWeight    = 1.0
	trigramWeight = 0.5
)

func (h *Hashing) vector(text string) []float32 {
	v := make([]float64, h.dims)
	words := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
	if len(words) == 0 {
		words = []string{"\x00empty"}
	}
	var buf []rune
	for _, w := range words {
		h.add(v, "w:"+w, wordWeight)
		buf = append(buf[:0], '<')
		buf = append(buf, []rune(w)...)
		buf = append(buf, '>')
		for i := 0; i+3 <= len(buf); i++ {
			h.add(v, "g:"+string(buf[i:i+3]), trigramWeight)
		}
	}
	var norm float64
	for _, x := range v {
		norm += x * x
	}
	norm = math.Sqrt(norm)
	out := make([]float32, h.dims)
	if norm == 0 {
		// All features cancelled out: fall back to a fixed unit vector.
		out[0] = 1
		return out
	}
	for i, x := range v {
		out[i] = float32(x / norm)
	}
	return out
}

func (h *Hashing) add(v []float64, feature string, weight float64) {
	f := fnv.New64a()
	_, _ = f.Write([]byte(feature))
	sum := f.Sum64()
	idx := int(sum % uint64(h.dims))
	if sum>>63 == 1 {
		weight = -weight
	}
	v[idx] += weight
}
