package backup

import (
	"bufio"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// fileMagic starts every encrypted backup file.
const fileMagic = "ARKIVBK1"

// chunkSize is the plaintext size of one sealed chunk.
const chunkSize = 1 << 20

// ErrCorrupt is wrapped by errors about a backup file that does not decrypt: changed,
// truncated, renamed or encrypted under another key.
var ErrCorrupt = errors.New("backup file does not authenticate")

// fileAEAD returns the AES-256-GCM of one file: its key is derived from the backup key and
// the file's name, so a file renamed or moved into another backup does not open.
func fileAEAD(backupKey []byte, name string) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, backupKey, nil, "arkiv backup file "+name, 32)
	if err != nil {
		return nil, err
	}
	defer clear(key)
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// sealWriter encrypts a stream in chunks: magic, then per chunk a flag byte (1 on the last
// chunk), the ciphertext length (uint32, big endian) and the ciphertext; the nonce is the
// chunk's counter and the flag and counter are authenticated, so reordering, dropping or
// truncating chunks fails to open.
type sealWriter struct {
	w       io.Writer
	aead    cipher.AEAD
	buf     []byte
	out     []byte
	counter uint64
	closed  bool
}

func newSealWriter(w io.Writer, backupKey []byte, name string) (*sealWriter, error) {
	aead, err := fileAEAD(backupKey, name)
	if err != nil {
		return nil, err
	}
	if _, err := io.WriteString(w, fileMagic); err != nil {
		return nil, err
	}
	return &sealWriter{w: w, aead: aead, buf: make([]byte, 0, chunkSize)}, nil
}

func (s *sealWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := min(len(p), chunkSize-len(s.buf))
		s.buf = append(s.buf, p[:k]...)
		p, n = p[k:], n+k
		if len(s.buf) == chunkSize {
			if err := s.flush(false); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

func (s *sealWriter) flush(final bool) error {
	var nonce [12]byte
	binary.BigEndian.PutUint64(nonce[4:], s.counter)
	flag := byte(0)
	if final {
		flag = 1
	}
	var ad [9]byte
	ad[0] = flag
	binary.BigEndian.PutUint64(ad[1:], s.counter)
	s.out = append(s.out[:0], flag, 0, 0, 0, 0)
	s.out = s.aead.Seal(s.out, nonce[:], s.buf, ad[:])
	binary.BigEndian.PutUint32(s.out[1:5], uint32(len(s.out)-5))
	s.counter++
	s.buf = s.buf[:0]
	_, err := s.w.Write(s.out)
	return err
}

// Close writes the final chunk. It does not close the underlying writer.
func (s *sealWriter) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	return s.flush(true)
}

// openReader decrypts what sealWriter wrote, failing with ErrCorrupt on any change.
type openReader struct {
	r       *bufio.Reader
	aead    cipher.AEAD
	plain   []byte
	ct      []byte
	counter uint64
	done    bool
}

func newOpenReader(r io.Reader, backupKey []byte, name string) (*openReader, error) {
	aead, err := fileAEAD(backupKey, name)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(r, 256<<10)
	magic := make([]byte, len(fileMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != fileMagic {
		return nil, fmt.Errorf("%s: %w (not an Arkiv backup file)", name, ErrCorrupt)
	}
	return &openReader{r: br, aead: aead}, nil
}

func (o *openReader) Read(p []byte) (int, error) {
	for len(o.plain) == 0 {
		if o.done {
			return 0, io.EOF
		}
		if err := o.next(); err != nil {
			return 0, err
		}
	}
	n := copy(p, o.plain)
	o.plain = o.plain[n:]
	return n, nil
}

func (o *openReader) next() error {
	var hdr [5]byte
	if _, err := io.ReadFull(o.r, hdr[:]); err != nil {
		return fmt.Errorf("%w: truncated", ErrCorrupt)
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if hdr[0] > 1 || n > chunkSize+uint32(o.aead.Overhead()) {
		return fmt.Errorf("%w: bad chunk header", ErrCorrupt)
	}
	if cap(o.ct) < int(n) {
		o.ct = make([]byte, n)
	}
	o.ct = o.ct[:n]
	if _, err := io.ReadFull(o.r, o.ct); err != nil {
		return fmt.Errorf("%w: truncated", ErrCorrupt)
	}
	var nonce [12]byte
	binary.BigEndian.PutUint64(nonce[4:], o.counter)
	var ad [9]byte
	ad[0] = hdr[0]
	binary.BigEndian.PutUint64(ad[1:], o.counter)
	plain, err := o.aead.Open(o.ct[:0], nonce[:], o.ct, ad[:])
	if err != nil {
		return ErrCorrupt
	}
	o.counter++
	o.plain = plain
	if hdr[0] == 1 {
		o.done = true
		if _, err := o.r.ReadByte(); err != io.EOF {
			return fmt.Errorf("%w: data after the last chunk", ErrCorrupt)
		}
	}
	return nil
}
