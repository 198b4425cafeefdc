package search_test

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/arkiv/arkiv/infra/search"
)

// FuzzChunker splits arbitrary text (binary, invalid UTF-8, any whitespace) with arbitrary
// sizes (issue 24, "bad input"): chunks are non-empty substrings of the text, in order, of
// at most Size runes, starting and ending on a word; every word that fits in a chunk is in one; and
// valid UTF-8 comes out as valid UTF-8. Seeds: testdata/fuzz/FuzzChunker/; `make fuzz` runs
// it for a bounded time.
func FuzzChunker(f *testing.F) {
	f.Fuzz(func(t *testing.T, text string, size, overlap int8) {
		c := search.Chunker{Size: int(size), Overlap: int(overlap)}
		want := c.Size
		if want <= 0 {
			want = 1000
		}
		chunks := c.Split(text)
		if strings.TrimFunc(text, unicode.IsSpace) == "" && len(chunks) != 0 {
			t.Fatalf("blank text gave %d chunks", len(chunks))
		}
		from := 0 // chunks start in order
		for _, ch := range chunks {
			if ch == "" || utf8.RuneCountInString(ch) > want {
				t.Fatalf("chunk %q of %d runes (size %d)", ch, utf8.RuneCountInString(ch), want)
			}
			i := strings.Index(text[from:], ch)
			if i < 0 {
				t.Fatalf("chunk %q is not in the text after byte %d", ch, from)
			}
			start := from + i
			first, _ := utf8.DecodeRuneInString(ch)
			last, _ := utf8.DecodeLastRuneInString(ch)
			if unicode.IsSpace(first) || unicode.IsSpace(last) {
				t.Fatalf("chunk %q starts or ends with a space", ch)
			}
			if utf8.ValidString(text) && !utf8.ValidString(ch) {
				t.Fatalf("chunk %q of valid text is not valid UTF-8", ch)
			}
			from = start + 1
		}
		// Every word that fits in a chunk is in one.
		for _, w := range strings.FieldsFunc(text, unicode.IsSpace) {
			if utf8.RuneCountInString(w) > want {
				continue
			}
			found := false
			for _, ch := range chunks {
				if strings.Contains(ch, w) {
					found = true
					break
				}
			}
			if !found {
				t.Fatalf("the word %q is in no chunk", w)
			}
		}
	})
}
