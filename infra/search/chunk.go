package search

import (
	"unicode"
	"unicode/utf8"
)

// Chunker splits documents into overlapping chunks for embedding. Sizes count runes
// (characters), never bytes, so no chunk ends inside a UTF-8 sequence; chunks break between
// words where possible, and a word longer than Size is cut at rune boundaries.
type Chunker struct {
	// Size is the most runes in a chunk (default 1000).
	Size int
	// Overlap is the most runes a chunk repeats from the end of the previous one (default
	// Size/5; at most Size/2).
	Overlap int
}

type span struct{ start, end int } // byte offsets into the text

// Split returns the chunks of text in order; none for blank text. Each chunk is a substring of
// text that starts and ends on a word.
func (c Chunker) Split(text string) []string {
	size := c.Size
	if size <= 0 {
		size = 1000
	}
	overlap := c.Overlap
	if overlap <= 0 {
		overlap = size / 5
	}
	overlap = min(overlap, size/2)

	words := splitWords(text, size)
	var chunks []string
	runes := func(a, b int) int { return utf8.RuneCountInString(text[words[a].start:words[b].end]) }
	for i := 0; i < len(words); {
		j := i + 1
		for j < len(words) && runes(i, j) <= size {
			j++
		}
		chunks = append(chunks, text[words[i].start:words[j-1].end])
		if j == len(words) {
			break
		}
		k := j
		for k-1 > i && runes(k-1, j-1) <= overlap {
			k--
		}
		i = k
	}
	return chunks
}

// splitWords returns the spans of whitespace-separated words, cutting words longer than size
// runes into pieces of size runes.
func splitWords(text string, size int) []span {
	var out []span
	start := -1
	flush := func(end int) {
		for start < end {
			n, cut := 0, start
			for cut < end && n < size {
				_, w := utf8.DecodeRuneInString(text[cut:])
				cut += w
				n++
			}
			out = append(out, span{start, cut})
			start = cut
		}
		start = -1
	}
	for i, r := range text {
		if unicode.IsSpace(r) {
			if start >= 0 {
				flush(i)
			}
		} else if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		flush(len(text))
	}
	return out
}
