package ledger

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"golang.org/x/mod/sumdb/note"
)

// proofHeader is the first line of a proof file (C2SP tlog-proof).
const proofHeader = "c2sp.org/tlog-proof@v1"

// Proof is an inclusion proof of one event's leaf in a signed checkpoint. Its text form
// (Marshal) follows the C2SP tlog-proof layout:
//
//	c2sp.org/tlog-proof@v1
//	extra <base64 of the leaf's encoding (Leaf.Encode)>
//	index <leaf index, decimal>
//	<base64 hash>            one line per proof hash, leaf to root
//	                         an empty line
//	<the signed checkpoint note, verbatim>
//
// The extra line carries the leaf itself (id, stream, revision, type, recorded time and the
// SHA-256 of the stored data and metadata), so the file is checked with nothing but the
// public key: VerifyProof recomputes the leaf hash, the root from the proof hashes, and the
// checkpoint's signature.
type Proof struct {
	Leaf       Leaf
	Index      uint64
	Hashes     [][]byte
	Checkpoint []byte // signed note
}

// Marshal returns the proof's text form.
func (p Proof) Marshal() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\nextra %s\nindex %d\n", proofHeader, base64.StdEncoding.EncodeToString(p.Leaf.Encode()), p.Index)
	for _, h := range p.Hashes {
		fmt.Fprintf(&b, "%s\n", base64.StdEncoding.EncodeToString(h))
	}
	b.WriteString("\n")
	b.Write(p.Checkpoint)
	return b.Bytes()
}

// ErrBadProof is wrapped by ParseProof's errors.
var ErrBadProof = errors.New("not an arkiv inclusion proof")

// ParseProof parses Marshal's output.
func ParseProof(text []byte) (Proof, error) {
	head, cp, ok := bytes.Cut(text, []byte("\n\n"))
	if !ok {
		return Proof{}, fmt.Errorf("%w: no empty line before the checkpoint", ErrBadProof)
	}
	lines := strings.Split(string(head), "\n")
	if len(lines) < 3 || lines[0] != proofHeader {
		return Proof{}, fmt.Errorf("%w: missing %q header", ErrBadProof, proofHeader)
	}
	var p Proof
	extra, ok := strings.CutPrefix(lines[1], "extra ")
	if !ok {
		return Proof{}, fmt.Errorf("%w: missing extra line with the leaf", ErrBadProof)
	}
	raw, err := base64.StdEncoding.DecodeString(extra)
	if err != nil {
		return Proof{}, fmt.Errorf("%w: extra line is not base64", ErrBadProof)
	}
	if p.Leaf, err = DecodeLeaf(raw); err != nil {
		return Proof{}, fmt.Errorf("%w: %v", ErrBadProof, err)
	}
	idx, ok := strings.CutPrefix(lines[2], "index ")
	if !ok {
		return Proof{}, fmt.Errorf("%w: missing index line", ErrBadProof)
	}
	if p.Index, err = strconv.ParseUint(idx, 10, 64); err != nil {
		return Proof{}, fmt.Errorf("%w: bad index", ErrBadProof)
	}
	for _, l := range lines[3:] {
		h, err := base64.StdEncoding.DecodeString(l)
		if err != nil || len(h) != 32 {
			return Proof{}, fmt.Errorf("%w: bad proof hash line", ErrBadProof)
		}
		p.Hashes = append(p.Hashes, h)
	}
	p.Checkpoint = cp
	return p, nil
}

// VerifyProof checks a proof with the trusted keys alone: the checkpoint's signature, then
// that the leaf is at Index in the tree the checkpoint signs. It returns the checkpoint.
func VerifyProof(p Proof, keys note.Verifiers) (Checkpoint, error) {
	cp, _, err := OpenCheckpoint(p.Checkpoint, keys)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint signature: %w", err)
	}
	if p.Index >= cp.Size {
		return Checkpoint{}, fmt.Errorf("leaf index %d is outside the checkpoint's tree of size %d", p.Index, cp.Size)
	}
	if err := proof.VerifyInclusion(hasher, p.Index, cp.Size, p.Leaf.Hash(), p.Hashes, cp.Root); err != nil {
		return Checkpoint{}, fmt.Errorf("inclusion: %w", err)
	}
	return cp, nil
}

// NodeReader returns the hashes of perfect subtree nodes of the tree (level 0: leaf
// hashes), in the order asked.
type NodeReader func(ids []compact.NodeID) ([][]byte, error)

// InclusionProof builds the proof hashes for leaf index in the tree of the given size from
// stored node hashes.
func InclusionProof(index, size uint64, read NodeReader) ([][]byte, error) {
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, err
	}
	hashes, err := read(nodes.IDs)
	if err != nil {
		return nil, err
	}
	if len(hashes) != len(nodes.IDs) {
		return nil, fmt.Errorf("ledger: node reader returned %d hashes for %d nodes", len(hashes), len(nodes.IDs))
	}
	return nodes.Rehash(hashes, hasher.HashChildren)
}

// ConsistencyProof builds the consistency proof between two tree sizes from stored node
// hashes.
func ConsistencyProof(size1, size2 uint64, read NodeReader) ([][]byte, error) {
	nodes, err := proof.Consistency(size1, size2)
	if err != nil {
		return nil, err
	}
	hashes, err := read(nodes.IDs)
	if err != nil {
		return nil, err
	}
	return nodes.Rehash(hashes, hasher.HashChildren)
}

// VerifyConsistency checks a consistency proof between two checkpoints of one log.
func VerifyConsistency(a, b Checkpoint, hashes [][]byte) error {
	return proof.VerifyConsistency(hasher, a.Size, b.Size, hashes, a.Root, b.Root)
}
