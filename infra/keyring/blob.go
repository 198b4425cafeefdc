package keyring

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"sync"

	"github.com/arkiv/arkiv/domain"
)

// Blob format, version 1 (all integers unsigned varints):
//
//	0x01                         format version
//	n                            number of subjects, 1..MaxSubjects, sorted and distinct
//	n × (len, "kind:id", dekver) each subject's canonical form and DEK version
//	nonce                        12 random bytes
//	ciphertext || tag            AES-256-GCM
//
// The bytes from the version through the last subject are the header. The field key is
// HKDF-SHA256(secret = DEK₁‖…‖DEKₙ in header order, salt = "arkiv/field-key/v1", info =
// header), so destroying any one subject's DEK makes the field unreadable, and the GCM
// associated data is "arkiv/field/v1" ‖ len(ad) ‖ ad ‖ header, so neither the caller's
// context (event id and field path) nor the subject set can be changed or moved.
const (
	blobVersion1 = 1
	// MaxSubjects is the most subjects one field may depend on.
	MaxSubjects = 16
	dekSize     = 32
	nonceSize   = 12
)

var (
	fieldKeySalt = []byte("arkiv/field-key/v1")
	fieldADLabel = []byte("arkiv/field/v1")
	dekADLabel   = "arkiv/dek/v1\x00"
)

// canonical validates, sorts and de-duplicates subjects.
func canonical(op string, subjects []domain.Subject) ([]string, error) {
	if len(subjects) == 0 {
		return nil, domain.E(domain.KindInvalid, op, "a sealed field needs at least one subject")
	}
	out := make([]string, 0, len(subjects))
	for _, s := range subjects {
		if err := s.Validate(); err != nil {
			return nil, err
		}
		out = append(out, s.String())
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > MaxSubjects {
		return nil, domain.Errorf(domain.KindInvalid, op, "a sealed field may depend on at most %d subjects", MaxSubjects)
	}
	return out, nil
}

// maxSubjectLen bounds the canonical form of a valid subject ("modellog:" + uuid + "/" +
// day is 56 bytes); subjectNames reserves this much per subject.
const maxSubjectLen = 64

// subjectNames holds a field's subjects in canonical form ("kind:id"), sorted and distinct,
// as byte views (into the caller's buffer when sealing, into the blob when opening), so that
// the hot path of Seal and Open allocates no strings. versions are the DEK versions a blob's
// header names.
type subjectNames struct {
	n        int
	names    [MaxSubjects][]byte
	versions [MaxSubjects]uint32
}

// namesOf validates subjects and returns their sorted, distinct canonical forms, written
// into buf (capacity at least MaxSubjects*maxSubjectLen bytes).
func namesOf(op string, subjects []domain.Subject, buf []byte) (subjectNames, error) {
	var s subjectNames
	if len(subjects) == 0 {
		return s, domain.E(domain.KindInvalid, op, "a sealed field needs at least one subject")
	}
	if len(subjects) > MaxSubjects {
		// Rare: duplicates may bring it under the limit; take the general path.
		subs, err := canonical(op, subjects)
		if err != nil {
			return s, err
		}
		for _, c := range subs {
			s.names[s.n] = []byte(c)
			s.n++
		}
		return s, nil
	}
	for _, sub := range subjects {
		if err := sub.Validate(); err != nil {
			return s, err
		}
		l := len(sub.Kind) + 1 + len(sub.ID)
		if l > maxSubjectLen || len(buf)+l > cap(buf) {
			return s, domain.E(domain.KindInvalid, op, "subject id is too long")
		}
		name := buf[len(buf) : len(buf)+l : len(buf)+l]
		copy(name, sub.Kind)
		name[len(sub.Kind)] = ':'
		copy(name[len(sub.Kind)+1:], sub.ID)
		buf = buf[:len(buf)+l]
		// Insertion sort; drop duplicates.
		i := s.n
		dup := false
		for i > 0 {
			c := bytes.Compare(s.names[i-1], name)
			if c == 0 {
				dup = true
				break
			}
			if c < 0 {
				break
			}
			i--
		}
		if dup {
			continue
		}
		for j := s.n; j > i; j-- { // not copy(): that would move buf to the heap
			s.names[j] = s.names[j-1]
		}
		s.names[i] = name
		s.n++
	}
	return s, nil
}

// strings returns the subjects as strings (allocating; off the hot path).
func (s *subjectNames) strings() []string {
	out := make([]string, s.n)
	for i := range out {
		out[i] = string(s.names[i])
	}
	return out
}

// headerLen is the length of the blob header for subjects s with DEK versions deks.
func headerLen(s *subjectNames, deks []cacheEntry) int {
	n := 1 + uvarintLen(uint64(s.n))
	for i := 0; i < s.n; i++ {
		n += uvarintLen(uint64(len(s.names[i]))) + len(s.names[i]) + uvarintLen(uint64(deks[i].version))
	}
	return n
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// appendHeader appends the header of a blob for subjects s with DEK versions deks.
func appendHeader(out []byte, s *subjectNames, deks []cacheEntry) []byte {
	out = append(out, blobVersion1)
	out = binary.AppendUvarint(out, uint64(s.n))
	for i := 0; i < s.n; i++ {
		out = binary.AppendUvarint(out, uint64(len(s.names[i])))
		out = append(out, s.names[i]...)
		out = binary.AppendUvarint(out, uint64(deks[i].version))
	}
	return out
}

// gcmTagSize is AES-GCM's tag length (cipher.NewGCM's default).
const gcmTagSize = 16

// adPool recycles the buffers that hold a field's GCM associated data during one call.
var adPool = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// withFieldAD runs fn with the field's associated data in a pooled buffer.
func withFieldAD[R any](ad, header []byte, fn func(fad []byte) R) R {
	bp := adPool.Get().(*[]byte)
	fad := appendFieldAD((*bp)[:0], ad, header)
	r := fn(fad)
	if cap(fad) <= 4096 {
		*bp = fad[:0]
		adPool.Put(bp)
	}
	return r
}

// BlobSubjects returns the subjects a blob made by Seal depends on, without decrypting it.
func BlobSubjects(blob []byte) ([]domain.Subject, error) {
	subs, _, err := parseHeader(blob)
	if err != nil {
		return nil, err
	}
	out := make([]domain.Subject, subs.n)
	for i := range out {
		var err error
		if out[i], err = domain.ParseSubject(string(subs.names[i])); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// parseHeader reads a blob's subjects and DEK versions (names are views into blob) and
// returns them with the header.
func parseHeader(blob []byte) (s subjectNames, header []byte, err error) {
	const op = "keyring.parse"
	bad := func() error { return domain.E(domain.KindInternal, op, "sealed field has a malformed header") }
	if len(blob) < 1 || blob[0] != blobVersion1 {
		return s, nil, domain.E(domain.KindInternal, op, "sealed field has an unknown format version")
	}
	p := 1
	n, w := binary.Uvarint(blob[p:])
	if w <= 0 || n == 0 || n > MaxSubjects {
		return s, nil, bad()
	}
	p += w
	s.n = int(n)
	for i := 0; i < s.n; i++ {
		l, w := binary.Uvarint(blob[p:])
		if w <= 0 || l == 0 || l > 256 || uint64(len(blob)-p-w) < l {
			return s, nil, bad()
		}
		p += w
		s.names[i] = blob[p : p+int(l) : p+int(l)]
		p += int(l)
		v, w := binary.Uvarint(blob[p:])
		if w <= 0 || v == 0 || v > 1<<31 {
			return s, nil, bad()
		}
		p += w
		s.versions[i] = uint32(v)
		if i > 0 && bytes.Compare(s.names[i], s.names[i-1]) <= 0 {
			return s, nil, bad()
		}
	}
	return s, blob[:p:p], nil
}

// appendFieldAD appends the GCM associated data of a field with caller context ad and blob
// header to dst.
func appendFieldAD(dst, ad, header []byte) []byte {
	dst = append(dst, fieldADLabel...)
	dst = binary.AppendUvarint(dst, uint64(len(ad)))
	dst = append(dst, ad...)
	return append(dst, header...)
}

func deriveFieldKey(deks []cacheEntry, header []byte, out *[32]byte) error {
	var secretBuf [MaxSubjects * dekSize]byte
	secret := secretBuf[:0]
	for i := range deks {
		secret = append(secret, deks[i].dek[:]...)
	}
	defer clear(secretBuf[:])
	key, err := hkdf.Key(sha256.New, secret, fieldKeySalt, string(header), 32)
	if err != nil {
		return err
	}
	copy(out[:], key)
	clear(key)
	return nil
}
