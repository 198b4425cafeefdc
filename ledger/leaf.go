// Package ledger is Arkiv's evidence layer, free of I/O: every event of the log is a leaf of
// an RFC 6962 Merkle tree in $all order; the tree's size and root are signed as checkpoints
// in the C2SP tlog-checkpoint format inside C2SP signed notes (Ed25519); inclusion proofs
// follow the C2SP tlog-proof layout and verify offline with only the public key; and a
// Verifier recomputes everything from an event iterator: each stream's predecessor-hash
// chain (domain.HashOf), every checkpoint's signature and root, their consistency, and
// optionally each leaf against the ledger's own record of it, to name a tampered event.
//
// The tree hashing and proofs are github.com/transparency-dev/merkle's (compact ranges,
// RFC 6962 hasher, inclusion proofs), the notes golang.org/x/mod/sumdb/note's.
package ledger

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/transparency-dev/merkle/rfc6962"
)

// leafDomain starts every leaf encoding: it names the format and its version.
const leafDomain = "arkiv.ledger.leaf.v1\n"

// Entry is one recorded event as the ledger sees it: what the log stores, ciphertext as
// stored. Position orders the log but is not committed to (a restored cluster renumbers it).
type Entry struct {
	EventID  string
	Stream   string
	Revision uint64
	Position uint64
	Type     string
	Created  time.Time
	Data     []byte
	Metadata []byte
}

// Leaf is what the tree commits to for one event: its id, stream, revision, type, recorded
// time (100-ns ticks since the Unix epoch, the event store's resolution) and the SHA-256 of
// its stored data and of its stored metadata.
type Leaf struct {
	EventID      string
	Stream       string
	Revision     uint64
	Type         string
	CreatedTicks int64
	DataHash     [32]byte
	MetadataHash [32]byte
}

// LeafOf returns the leaf of e.
func LeafOf(e Entry) Leaf {
	return Leaf{
		EventID: strings.ToLower(e.EventID), Stream: e.Stream, Revision: e.Revision, Type: e.Type,
		CreatedTicks: Ticks(e.Created), DataHash: sha256.Sum256(e.Data), MetadataHash: sha256.Sum256(e.Metadata),
	}
}

// Ticks converts a time to the event store's 100-ns ticks since the Unix epoch.
func Ticks(t time.Time) int64 { return t.UnixNano() / 100 }

// Created returns the leaf's recorded time.
func (l Leaf) Created() time.Time { return time.Unix(0, l.CreatedTicks*100).UTC() }

// Encode returns the leaf's canonical bytes: leafDomain, then each field as an 8-byte
// big-endian length and its bytes, in the order id (lower-case UUID text), stream, revision
// (8 bytes big-endian), type, created ticks (8 bytes big-endian), data SHA-256, metadata
// SHA-256. The Merkle leaf hash is RFC 6962's SHA-256(0x00 || Encode()).
func (l Leaf) Encode() []byte {
	return l.appendTo(make([]byte, 0, l.encodedLen()))
}

func (l Leaf) encodedLen() int {
	return len(leafDomain) + 7*8 + len(l.EventID) + len(l.Stream) + 8 + len(l.Type) + 8 + 32 + 32
}

func (l Leaf) appendTo(b []byte) []byte {
	b = append(b, leafDomain...)
	field := func(p []byte) {
		b = binary.BigEndian.AppendUint64(b, uint64(len(p)))
		b = append(b, p...)
	}
	fieldStr := func(s string) {
		b = binary.BigEndian.AppendUint64(b, uint64(len(s)))
		b = append(b, s...)
	}
	var n [8]byte
	fieldStr(l.EventID)
	fieldStr(l.Stream)
	binary.BigEndian.PutUint64(n[:], l.Revision)
	field(n[:])
	fieldStr(l.Type)
	binary.BigEndian.PutUint64(n[:], uint64(l.CreatedTicks))
	field(n[:])
	field(l.DataHash[:])
	field(l.MetadataHash[:])
	return b
}

// Hash returns the RFC 6962 leaf hash of the leaf.
func (l Leaf) Hash() []byte {
	var buf [512]byte
	b := append(buf[:0], 0) // RFC 6962 leaf prefix
	b = l.appendTo(b)
	h := sha256.Sum256(b)
	return h[:]
}

// ErrBadLeaf is returned by DecodeLeaf for bytes that are not a leaf encoding.
var ErrBadLeaf = errors.New("not an arkiv ledger leaf")

// DecodeLeaf parses Encode's output.
func DecodeLeaf(b []byte) (Leaf, error) {
	if !strings.HasPrefix(string(b), leafDomain) {
		return Leaf{}, ErrBadLeaf
	}
	b = b[len(leafDomain):]
	next := func() ([]byte, error) {
		if len(b) < 8 {
			return nil, ErrBadLeaf
		}
		n := binary.BigEndian.Uint64(b)
		b = b[8:]
		if n > uint64(len(b)) {
			return nil, ErrBadLeaf
		}
		p := b[:n]
		b = b[n:]
		return p, nil
	}
	var parts [7][]byte
	for i := range parts {
		p, err := next()
		if err != nil {
			return Leaf{}, err
		}
		parts[i] = p
	}
	if len(b) != 0 || len(parts[2]) != 8 || len(parts[4]) != 8 || len(parts[5]) != 32 || len(parts[6]) != 32 {
		return Leaf{}, ErrBadLeaf
	}
	l := Leaf{EventID: string(parts[0]), Stream: string(parts[1]), Revision: binary.BigEndian.Uint64(parts[2]),
		Type: string(parts[3]), CreatedTicks: int64(binary.BigEndian.Uint64(parts[4]))}
	copy(l.DataHash[:], parts[5])
	copy(l.MetadataHash[:], parts[6])
	return l, nil
}

// String names the leaf's event without its content.
func (l Leaf) String() string {
	return fmt.Sprintf("event %s (stream %s, revision %d, type %s)", l.EventID, l.Stream, l.Revision, l.Type)
}

// hasher is the RFC 6962 SHA-256 tree hasher.
var hasher = rfc6962.DefaultHasher

// HashChildren returns the RFC 6962 hash of an interior node, SHA-256(0x01 || left ||
// right), as the merkle module's hasher does, with one allocation instead of three.
func HashChildren(left, right []byte) []byte {
	if len(left) != sha256.Size || len(right) != sha256.Size {
		return hasher.HashChildren(left, right)
	}
	var b [1 + 2*sha256.Size]byte
	b[0] = 1 // RFC 6962 interior node prefix
	copy(b[1:], left)
	copy(b[1+sha256.Size:], right)
	h := sha256.Sum256(b[:])
	return h[:]
}

// EmptyRoot is the root hash of the empty tree.
func EmptyRoot() []byte { return hasher.EmptyRoot() }
