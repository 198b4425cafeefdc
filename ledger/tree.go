package ledger

import (
	"github.com/transparency-dev/merkle/compact"
)

// factory hashes compact ranges with RFC 6962's interior-node hash.
var factory = &compact.RangeFactory{Hash: HashChildren}

// Tree is the right border of a growing Merkle tree (a compact range from leaf 0): enough
// to append leaves and compute the root without keeping the leaves.
type Tree struct{ r *compact.Range }

// NewTree returns the empty tree.
func NewTree() *Tree { return &Tree{r: factory.NewEmptyRange(0)} }

// RestoreTree rebuilds a tree of size leaves from its border hashes (Hashes).
func RestoreTree(size uint64, border [][]byte) (*Tree, error) {
	r, err := factory.NewRange(0, size, border)
	if err != nil {
		return nil, err
	}
	return &Tree{r: r}, nil
}

// Size is the number of leaves.
func (t *Tree) Size() uint64 { return t.r.End() }

// Append adds a leaf hash. visit, when not nil, receives every node that becomes complete
// (the leaf itself at level 0, then its completed ancestors).
func (t *Tree) Append(leafHash []byte, visit func(level uint, index uint64, hash []byte)) {
	var fn compact.VisitFn
	if visit != nil {
		fn = func(id compact.NodeID, h []byte) { visit(id.Level, id.Index, h) }
	}
	if err := t.r.Append(leafHash, fn); err != nil {
		panic(err) // only on a corrupted range, which RestoreTree refuses
	}
}

// Root is the RFC 6962 root hash of the tree.
func (t *Tree) Root() []byte {
	if t.r.End() == 0 {
		return EmptyRoot()
	}
	h, err := t.r.GetRootHash(nil)
	if err != nil {
		panic(err)
	}
	return h
}

// Border returns a copy of the border hashes, what RestoreTree takes.
func (t *Tree) Border() [][]byte { return append([][]byte(nil), t.r.Hashes()...) }

// Clone returns an independent copy.
func (t *Tree) Clone() *Tree {
	r, _ := factory.NewRange(0, t.r.End(), t.Border())
	return &Tree{r: r}
}
