package ledger

import (
	"bytes"
	"io"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// prevHashDecoder reads metadata JSON at the token level.
type prevHashDecoder struct {
	r   bytes.Reader
	dec *jsontext.Decoder
}

var prevHashDecoders = sync.Pool{New: func() any {
	d := &prevHashDecoder{}
	d.dec = jsontext.NewDecoder(&d.r)
	return d
}}

// prevHashOf returns the prevHash of an event's metadata exactly as decoding it into
// domain.Metadata with encoding/json does (what domain.VerifyChain does): a top-level member
// whose name matches "prevHash" case-insensitively, the last one winning, null leaving it
// empty; ok is false where that decoding fails (not JSON, not an object, trailing data, a
// prevHash that is not a string). It walks tokens instead of decoding into a struct, which
// makes verification several times cheaper on this step; TestPrevHashOfAgreesWithEncodingJSON
// holds it to encoding/json's answers.
func prevHashOf(md []byte) (prev string, ok bool) {
	prev, ok, sure := scanPrevHash(md)
	if sure {
		return prev, ok
	}
	return prevHashTokens(md)
}

// prevHashTokens is prevHashOf by jsontext tokens, for what scanPrevHash leaves open.
func prevHashTokens(md []byte) (prev string, ok bool) {
	d := prevHashDecoders.Get().(*prevHashDecoder)
	defer prevHashDecoders.Put(d)
	d.r.Reset(md)
	d.dec.Reset(&d.r, jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	tok, err := d.dec.ReadToken()
	if err != nil {
		return "", false
	}
	switch tok.Kind() {
	case 'n':
		return "", atEOF(d.dec)
	case '{':
	default:
		return "", false
	}
	for d.dec.PeekKind() != '}' {
		name, err := d.dec.ReadToken()
		if err != nil || name.Kind() != '"' {
			return "", false
		}
		if !strings.EqualFold(name.String(), "prevHash") {
			if d.dec.SkipValue() != nil {
				return "", false
			}
			continue
		}
		v, err := d.dec.ReadToken()
		if err != nil {
			return "", false
		}
		switch v.Kind() {
		case '"':
			prev = v.String()
		case 'n':
		case '{', '[':
			return "", false
		default:
			return "", false
		}
	}
	if _, err := d.dec.ReadToken(); err != nil {
		return "", false
	}
	return prev, atEOF(d.dec)
}

func atEOF(dec *jsontext.Decoder) bool {
	_, err := dec.ReadToken()
	return err == io.EOF
}

// scanPrevHash is prevHashOf's fast path: one pass over the bytes that validates the JSON
// as encoding/json does and picks the top-level prevHash. It is not sure (sure false) of
// anything with an escaped or non-ASCII member name, an escaped or non-UTF-8 prevHash, or
// nesting deeper than 1,000; prevHashTokens decides those.
func scanPrevHash(b []byte) (prev string, ok, sure bool) {
	s := scanner{b: b}
	s.ws()
	if s.lit("null") {
		s.ws()
		return "", s.i == len(b), true
	}
	if !s.byte('{') {
		return "", false, true // not an object: encoding/json fails on it
	}
	s.ws()
	if s.byte('}') {
		s.ws()
		return "", s.i == len(b), true
	}
	for {
		s.ws()
		name, escaped, good := s.str()
		if !good {
			return "", false, true
		}
		if escaped || !ascii(name) {
			return "", false, false
		}
		s.ws()
		if !s.byte(':') {
			return "", false, true
		}
		s.ws()
		if bytes.EqualFold(name, []byte("prevHash")) {
			switch {
			case s.i < len(b) && b[s.i] == '"':
				v, esc, good := s.str()
				if !good {
					return "", false, true
				}
				if esc || !utf8.Valid(v) {
					return "", false, false
				}
				prev = string(v)
			case s.lit("null"):
			default:
				// Not a string: encoding/json fails (type mismatch or syntax).
				return "", false, true
			}
		} else if !s.value(0) {
			return "", false, !s.deep
		}
		s.ws()
		if s.byte(',') {
			continue
		}
		if !s.byte('}') {
			return "", false, true
		}
		s.ws()
		return prev, s.i == len(b), true
	}
}

func ascii(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// scanner validates JSON (RFC 8259, as encoding/json accepts it) byte by byte.
type scanner struct {
	b    []byte
	i    int
	deep bool // nesting went beyond the fast path's limit
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) byte(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

func (s *scanner) lit(l string) bool {
	if len(s.b)-s.i >= len(l) && string(s.b[s.i:s.i+len(l)]) == l {
		s.i += len(l)
		return true
	}
	return false
}

// str reads a string and returns its raw contents (escapes not decoded).
func (s *scanner) str() (raw []byte, escaped, ok bool) {
	if !s.byte('"') {
		return nil, false, false
	}
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			raw = s.b[start:s.i]
			s.i++
			return raw, escaped, true
		case c < 0x20:
			return nil, false, false
		case c == '\\':
			escaped = true
			s.i++
			if s.i >= len(s.b) {
				return nil, false, false
			}
			switch s.b[s.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i++
			case 'u':
				if len(s.b)-s.i < 5 {
					return nil, false, false
				}
				for _, h := range s.b[s.i+1 : s.i+5] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return nil, false, false
					}
				}
				s.i += 5
			default:
				return nil, false, false
			}
		default:
			s.i++
		}
	}
	return nil, false, false
}

func (s *scanner) number() bool {
	start := s.i
	s.byte('-')
	switch {
	case s.byte('0'):
	case s.i < len(s.b) && '1' <= s.b[s.i] && s.b[s.i] <= '9':
		for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
			s.i++
		}
	default:
		return false
	}
	if s.byte('.') {
		if !s.digits() {
			return false
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if !s.byte('+') {
			s.byte('-')
		}
		if !s.digits() {
			return false
		}
	}
	return s.i > start
}

func (s *scanner) digits() bool {
	start := s.i
	for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i > start
}

// value validates one value; depth counts the enclosing containers.
func (s *scanner) value(depth int) bool {
	if depth > 1000 {
		s.deep = true
		return false
	}
	if s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '"':
		_, _, ok := s.str()
		return ok
	case c == '{':
		s.i++
		s.ws()
		if s.byte('}') {
			return true
		}
		for {
			s.ws()
			if _, _, ok := s.str(); !ok {
				return false
			}
			s.ws()
			if !s.byte(':') {
				return false
			}
			s.ws()
			if !s.value(depth + 1) {
				return false
			}
			s.ws()
			if s.byte('}') {
				return true
			}
			if !s.byte(',') {
				return false
			}
		}
	case c == '[':
		s.i++
		s.ws()
		if s.byte(']') {
			return true
		}
		for {
			s.ws()
			if !s.value(depth + 1) {
				return false
			}
			s.ws()
			if s.byte(']') {
				return true
			}
			if !s.byte(',') {
				return false
			}
		}
	case c == 't':
		return s.lit("true")
	case c == 'f':
		return s.lit("false")
	case c == 'n':
		return s.lit("null")
	default:
		return s.number()
	}
}
