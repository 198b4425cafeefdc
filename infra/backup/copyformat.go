package backup

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
)

// copySignature starts Postgres's binary COPY format.
const copySignature = "PGCOPY\n\xff\r\n\x00"

// copyReader reads the tuples of a binary COPY stream (Postgres's documented format: header,
// tuples of length-prefixed fields, trailer -1).
type copyReader struct {
	r      *bufio.Reader
	fields [][]byte
	buf    []byte
}

func newCopyReader(r io.Reader) (*copyReader, error) {
	br := bufio.NewReaderSize(r, 256<<10)
	hdr := make([]byte, len(copySignature)+8)
	if _, err := io.ReadFull(br, hdr); err != nil || string(hdr[:len(copySignature)]) != copySignature {
		return nil, errors.New("not a binary COPY stream")
	}
	ext := binary.BigEndian.Uint32(hdr[len(copySignature)+4:])
	if _, err := br.Discard(int(ext)); err != nil {
		return nil, errors.New("binary COPY header truncated")
	}
	return &copyReader{r: br}, nil
}

// next returns the next tuple's fields (nil for NULL), valid until the next call, or io.EOF
// after the trailer.
func (c *copyReader) next() ([][]byte, error) {
	var n [2]byte
	if _, err := io.ReadFull(c.r, n[:]); err != nil {
		return nil, fmt.Errorf("binary COPY truncated: %w", err)
	}
	count := int16(binary.BigEndian.Uint16(n[:]))
	if count == -1 {
		return nil, io.EOF
	}
	if count < 0 {
		return nil, errors.New("binary COPY: bad field count")
	}
	c.fields = c.fields[:0]
	c.buf = c.buf[:0]
	type span struct{ off, n int }
	spans := make([]span, 0, count)
	for i := 0; i < int(count); i++ {
		var l [4]byte
		if _, err := io.ReadFull(c.r, l[:]); err != nil {
			return nil, errors.New("binary COPY truncated")
		}
		size := int32(binary.BigEndian.Uint32(l[:]))
		if size == -1 {
			spans = append(spans, span{-1, 0})
			continue
		}
		if size < 0 {
			return nil, errors.New("binary COPY: bad field length")
		}
		off := len(c.buf)
		c.buf = slices.Grow(c.buf, int(size))[:off+int(size)]
		if _, err := io.ReadFull(c.r, c.buf[off:]); err != nil {
			return nil, errors.New("binary COPY truncated")
		}
		spans = append(spans, span{off, int(size)})
	}
	for _, s := range spans {
		if s.off < 0 {
			c.fields = append(c.fields, nil)
		} else {
			c.fields = append(c.fields, c.buf[s.off:s.off+s.n])
		}
	}
	return c.fields, nil
}
