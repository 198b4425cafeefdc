package ledger

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"

	"golang.org/x/mod/sumdb/note"

	"github.com/arkiv/arkiv/domain"
)

// DefaultStream is the stream checkpoints are appended to. It is an ordinary stream (no
// "$"), so checkpoints are events of the log and leaves of the tree like any other.
const DefaultStream = "arkiv-ledger"

// The event types of the ledger stream.
const (
	// CheckpointType is a signed checkpoint (data: CheckpointData).
	CheckpointType = "ledger.checkpoint.v1"
	// VerificationFailedType records a failed verification run (data: Failure as JSON).
	VerificationFailedType = "ledger.verification_failed.v1"
)

// CheckpointData is the JSON payload of a checkpoint event.
type CheckpointData struct {
	// Note is the signed checkpoint note, verbatim.
	Note string `json:"note"`
	// Size and Root repeat the note's body for readers that do not parse notes; Verify
	// trusts only Note.
	Size uint64 `json:"size"`
	Root string `json:"root"`
	// KeyHash is the hex key hash of the key that signed it (which key, after a rotation).
	KeyHash string `json:"keyHash"`
}

// The checks a verification runs; a Failure names one.
const (
	CheckChain               = "chain"                // a stream's revisions and predecessor hashes
	CheckLedgerRecord        = "ledger-record"        // the leaf differs from the ledger's record of it
	CheckCheckpointFormat    = "checkpoint-format"    // a checkpoint event that does not parse
	CheckCheckpointSignature = "checkpoint-signature" // a checkpoint not signed by a trusted key
	CheckCheckpointSize      = "checkpoint-size"      // sizes going backwards or beyond the log
	CheckCheckpointRoot      = "checkpoint-root"      // the recomputed root differs from the signed one
	CheckTrustedCheckpoint   = "trusted-checkpoint"   // inconsistent with a checkpoint saved earlier
)

// Failure is the first thing verification found wrong, named precisely: the check, the
// event (stream, revision, log position, id) and the leaf index where it applies.
type Failure struct {
	Check     string `json:"check"`
	LeafIndex uint64 `json:"leafIndex"`
	Stream    string `json:"stream,omitempty"`
	Revision  uint64 `json:"revision"`
	Position  uint64 `json:"position"`
	EventID   string `json:"eventId,omitempty"`
	Detail    string `json:"detail"`
}

// Error implements error.
func (f *Failure) Error() string {
	if f.EventID == "" {
		return fmt.Sprintf("%s check failed at leaf %d: %s", f.Check, f.LeafIndex, f.Detail)
	}
	return fmt.Sprintf("%s check failed: stream %s revision %d, leaf %d, log position %d, event %s: %s",
		f.Check, f.Stream, f.Revision, f.LeafIndex, f.Position, f.EventID, f.Detail)
}

// SignedCheckpoint is a verified checkpoint and the event that carries it.
type SignedCheckpoint struct {
	Checkpoint
	Note     string `json:"note"`
	EventID  string `json:"eventId"`
	Position uint64 `json:"position"`
	// KeyHash is the hex hash of the trusted key whose signature was verified.
	KeyHash string `json:"keyHash"`
}

// RefLeaf is the ledger's own record of a leaf (projections/ledger keeps one per leaf): it
// lets verification name the exact event a tampering touched, where the signed roots only
// say that something under them changed.
type RefLeaf struct {
	Index        uint64
	EventID      string
	Stream       string
	Revision     uint64
	Position     uint64
	DataHash     []byte
	MetadataHash []byte
	LeafHash     []byte
}

// RefIterator yields the ledger's records in leaf order from index 0; ok is false after
// the last. Lookup finds the record of an event by id (ok false: the ledger never saw it).
type RefIterator interface {
	Next(ctx context.Context) (leaf RefLeaf, ok bool, err error)
	Lookup(ctx context.Context, eventID string) (leaf RefLeaf, ok bool, err error)
}

// Options configures a Verifier.
type Options struct {
	// Keys are the trusted verifier keys: the current one and, after rotations, the old
	// ones. Required.
	Keys note.Verifiers
	// Origin is the log's expected origin; empty accepts the origin of the first
	// checkpoint and requires every later one to match it.
	Origin string
	// Stream is the ledger stream (default DefaultStream).
	Stream string
	// Trusted are checkpoints saved earlier (their signatures already verified): the log
	// must reach their size with the same root.
	Trusted []Checkpoint
	// Reference, when set, is compared leaf by leaf to name tampered events.
	Reference RefIterator
}

// Report is the outcome of a verification.
type Report struct {
	// OK is true when every check held.
	OK bool `json:"ok"`
	// Leaves is the number of events verified (the tree's size).
	Leaves uint64 `json:"leaves"`
	// Streams is the number of streams whose chains were checked.
	Streams int `json:"streams"`
	// Checkpoints is the number of checkpoints verified.
	Checkpoints int `json:"checkpoints"`
	// Latest is the newest verified checkpoint (nil: none).
	Latest *SignedCheckpoint `json:"latest,omitempty"`
	// UnanchoredTail is the number of leaves after the latest checkpoint.
	UnanchoredTail uint64 `json:"unanchoredTail"`
	// TrustedChecked is the number of trusted checkpoints the log was checked against.
	TrustedChecked int `json:"trustedChecked"`
	// Failure is the first failure (nil when OK).
	Failure *Failure `json:"failure,omitempty"`
}

type streamState struct {
	next uint64
	head string
}

// Verifier checks a log fed to it event by event in $all order (Add), keeping only the
// tree's border, the leaf hashes since the last checkpoint and each stream's head: so it
// verifies a log of any length, and `arkiv serve` keeps one to verify each new range.
type Verifier struct {
	opts    Options
	anchor  *Tree    // the tree at the latest verified checkpoint
	pending [][]byte // leaf hashes after anchor: the tree is anchor + pending
	streams map[string]*streamState
	trusted []Checkpoint
	report  Report
	refDone bool
}

// NewVerifier returns a verifier for a log from its start.
func NewVerifier(opts Options) *Verifier {
	if opts.Stream == "" {
		opts.Stream = DefaultStream
	}
	tr := append([]Checkpoint(nil), opts.Trusted...)
	sort.Slice(tr, func(i, j int) bool { return tr[i].Size < tr[j].Size })
	return &Verifier{opts: opts, anchor: NewTree(), streams: map[string]*streamState{},
		trusted: tr, refDone: opts.Reference == nil}
}

// Failed returns the first failure, nil while everything held.
func (v *Verifier) Failed() *Failure { return v.report.Failure }

// Size is the number of leaves added.
func (v *Verifier) Size() uint64 { return v.anchor.Size() + uint64(len(v.pending)) }

// treeAt returns the tree of the first size leaves (anchor.Size() <= size <= Size()).
func (v *Verifier) treeAt(size uint64) *Tree {
	t := v.anchor.Clone()
	for _, h := range v.pending[:size-v.anchor.Size()] {
		t.Append(h, nil)
	}
	return t
}

func (v *Verifier) fail(e *Entry, index uint64, check, format string, args ...any) *Failure {
	f := &Failure{Check: check, LeafIndex: index, Detail: fmt.Sprintf(format, args...)}
	if e != nil {
		f.Stream, f.Revision, f.Position, f.EventID = e.Stream, e.Revision, e.Position, e.EventID
	}
	v.report.Failure = f
	return f
}

// Prepared is an entry with the hashing of its verification done (Prepare), which does not
// depend on the events before it and so may run in parallel.
type Prepared struct {
	Entry    Entry
	leaf     Leaf
	leafHash []byte
	chain    string // domain.EventHash of the entry
	prevHash string // its metadata's prevHash
	metaErr  bool   // its metadata is not valid JSON
}

// Prepare hashes an entry for Verifier.AddPrepared.
func Prepare(e Entry) Prepared {
	p := Prepared{Entry: e, leaf: LeafOf(e)}
	p.leafHash = p.leaf.Hash()
	p.chain = domain.EventHash(e.EventID, e.Type, e.Data, e.Metadata)
	var ok bool
	p.prevHash, ok = prevHashOf(e.Metadata)
	p.metaErr = !ok
	return p
}

// Add verifies the next event of the log. It returns the first *Failure (and the same one
// for every later call), or an error of the reference.
func (v *Verifier) Add(ctx context.Context, e Entry) error { return v.AddPrepared(ctx, Prepare(e)) }

// AddPrepared is Add for an entry already prepared.
func (v *Verifier) AddPrepared(ctx context.Context, p Prepared) error {
	if f := v.report.Failure; f != nil {
		return f
	}
	e, leaf, leafHash := p.Entry, p.leaf, p.leafHash
	index := v.Size()
	if err := v.compareRef(ctx, &e, index, leaf, leafHash); err != nil {
		return err
	}
	if err := v.checkChain(&e, index, &p); err != nil {
		return err
	}
	if e.Stream == v.opts.Stream && e.Type == CheckpointType {
		if err := v.checkpoint(&e, index); err != nil {
			return err
		}
	}
	v.pending = append(v.pending, leafHash)
	for len(v.trusted) > 0 && v.trusted[0].Size <= v.Size() {
		t := v.trusted[0]
		if t.Size < v.anchor.Size() {
			// Only a trusted checkpoint of size 0 comes before the first leaf.
			if t.Size != 0 || !bytes.Equal(t.Root, EmptyRoot()) {
				return v.fail(&e, index, CheckTrustedCheckpoint, "trusted checkpoint of size %d could not be checked", t.Size)
			}
		} else if t.Size == v.Size() {
			if root := v.treeAt(t.Size).Root(); !bytes.Equal(t.Root, root) {
				return v.fail(&e, index, CheckTrustedCheckpoint,
					"the tree of the first %d leaves (through this event) has root %s, the trusted checkpoint says %s: the log before it was altered or rewritten",
					t.Size, b64(root), b64(t.Root))
			}
		}
		v.trusted = v.trusted[1:]
		v.report.TrustedChecked++
	}
	return nil
}

func (v *Verifier) compareRef(ctx context.Context, e *Entry, index uint64, leaf Leaf, leafHash []byte) error {
	if v.refDone {
		return nil
	}
	ref, ok, err := v.opts.Reference.Next(ctx)
	if err != nil {
		return err
	}
	if !ok {
		v.refDone = true
		return nil
	}
	if ref.Index != index {
		return v.fail(e, index, CheckLedgerRecord, "the ledger's record of leaf %d is missing (the next it has is leaf %d)", index, ref.Index)
	}
	if bytes.Equal(ref.LeafHash, leafHash) {
		return nil
	}
	recorded := fmt.Sprintf("event %s (stream %s, revision %d, log position %d)", ref.EventID, ref.Stream, ref.Revision, ref.Position)
	switch {
	case ref.EventID != leaf.EventID:
		found := fmt.Sprintf("event %s (stream %s, revision %d, log position %d)", e.EventID, e.Stream, e.Revision, e.Position)
		other, known, err := v.opts.Reference.Lookup(ctx, leaf.EventID)
		if err != nil {
			return err
		}
		if !known {
			return v.fail(e, index, CheckLedgerRecord,
				"the ledger never recorded this event: it was inserted into the log (the ledger has %s as leaf %d)", recorded, index)
		}
		// The event found here belongs later: the one the ledger recorded here was deleted
		// or moved. Name that one.
		f := v.fail(e, index, CheckLedgerRecord,
			"the ledger recorded this event as leaf %d, the log has %s there instead (the ledger's leaf %d): this event was deleted or moved",
			index, found, other.Index)
		f.Stream, f.Revision, f.Position, f.EventID = ref.Stream, ref.Revision, ref.Position, ref.EventID
		return f
	case ref.Stream != leaf.Stream || ref.Revision != leaf.Revision:
		return v.fail(e, index, CheckLedgerRecord, "the ledger recorded this event in stream %s at revision %d", ref.Stream, ref.Revision)
	case !bytes.Equal(ref.DataHash, leaf.DataHash[:]):
		return v.fail(e, index, CheckLedgerRecord, "the event's data differs from what the ledger recorded (SHA-256 %x, now %x)", ref.DataHash, leaf.DataHash)
	case !bytes.Equal(ref.MetadataHash, leaf.MetadataHash[:]):
		return v.fail(e, index, CheckLedgerRecord, "the event's metadata differs from what the ledger recorded (SHA-256 %x, now %x)", ref.MetadataHash, leaf.MetadataHash)
	default:
		return v.fail(e, index, CheckLedgerRecord, "the event's type or recorded time differs from what the ledger recorded")
	}
}

// checkChain applies the rule of domain.VerifyChain incrementally: revisions follow each
// other from 0 and each event's metadata carries the domain.HashOf of its predecessor.
func (v *Verifier) checkChain(e *Entry, index uint64, p *Prepared) error {
	s := v.streams[e.Stream]
	if s == nil {
		s = &streamState{}
		v.streams[e.Stream] = s
		v.report.Streams++
	}
	if e.Revision != s.next {
		if e.Revision > s.next {
			return v.fail(e, index, CheckChain, "revision %d of the stream is missing (deleted?): the log continues with revision %d", s.next, e.Revision)
		}
		return v.fail(e, index, CheckChain, "revision %d appears again or out of order (revision %d expected)", e.Revision, s.next)
	}
	if p.metaErr {
		return v.fail(e, index, CheckChain, "metadata is not valid JSON")
	}
	if p.prevHash != s.head {
		if s.next == 0 {
			return v.fail(e, index, CheckChain, "the stream's first event names a predecessor: earlier events were deleted")
		}
		return v.fail(e, index, CheckChain, "prevHash does not match the hash of revision %d: revision %d was altered, or this event was forged or moved", s.next-1, s.next-1)
	}
	s.head = p.chain
	s.next++
	return nil
}

func (v *Verifier) checkpoint(e *Entry, index uint64) error {
	var d CheckpointData
	if err := json.Unmarshal(e.Data, &d); err != nil || d.Note == "" {
		return v.fail(e, index, CheckCheckpointFormat, "checkpoint event data is not a checkpoint")
	}
	cp, sigs, err := OpenCheckpoint([]byte(d.Note), v.opts.Keys)
	if err != nil {
		return v.fail(e, index, CheckCheckpointSignature, "checkpoint is not validly signed by a trusted key: %v", err)
	}
	if v.opts.Origin == "" {
		v.opts.Origin = cp.Origin
	} else if cp.Origin != v.opts.Origin {
		return v.fail(e, index, CheckCheckpointSignature, "checkpoint of origin %q in a log of origin %q", cp.Origin, v.opts.Origin)
	}
	if cp.Size < v.anchor.Size() || cp.Size > index {
		return v.fail(e, index, CheckCheckpointSize, "checkpoint of size %d after one of size %d, at leaf %d", cp.Size, v.anchor.Size(), index)
	}
	next := v.treeAt(cp.Size)
	n := cp.Size - v.anchor.Size()
	if root := next.Root(); !bytes.Equal(root, cp.Root) {
		return v.fail(e, index, CheckCheckpointRoot,
			"the first %d leaves of the log hash to root %s, the signed checkpoint says %s: an event under it was altered, deleted, inserted or moved",
			cp.Size, b64(root), b64(cp.Root))
	}
	// The new root extends the previous checkpoint's tree leaf by leaf: that is the
	// consistency of the two checkpoints, established from the leaves themselves.
	v.anchor = next
	v.pending = append(v.pending[:0:0], v.pending[n:]...)
	v.report.Checkpoints++
	keyHash := ""
	for _, s := range sigs {
		if s.Name == cp.Origin {
			keyHash = fmt.Sprintf("%08x", s.Hash)
			break
		}
	}
	v.report.Latest = &SignedCheckpoint{Checkpoint: cp, Note: d.Note, EventID: e.EventID, Position: e.Position, KeyHash: keyHash}
	return nil
}

// Finish ends the verification at the end of the log: trusted checkpoints beyond it and
// ledger records beyond it are failures (the log was cut). It returns the report.
func (v *Verifier) Finish(ctx context.Context) (Report, error) {
	r := v.report
	r.Leaves = v.Size()
	r.UnanchoredTail = uint64(len(v.pending))
	if r.Failure == nil && len(v.trusted) > 0 {
		t := v.trusted[0]
		r.Failure = &Failure{Check: CheckTrustedCheckpoint, LeafIndex: v.Size(),
			Detail: fmt.Sprintf("the log has %d leaves, the trusted checkpoint covers %d: the newest events were deleted or the log was rolled back", v.Size(), t.Size)}
	}
	if r.Failure == nil && !v.refDone {
		ref, ok, err := v.opts.Reference.Next(ctx)
		if err != nil {
			return r, err
		}
		if ok {
			r.Failure = &Failure{Check: CheckLedgerRecord, LeafIndex: ref.Index, Stream: ref.Stream, Revision: ref.Revision,
				Position: ref.Position, EventID: ref.EventID,
				Detail: fmt.Sprintf("the ledger recorded this event as leaf %d, the log ends before it: the newest events were deleted", ref.Index)}
		}
	}
	v.report.Failure = r.Failure
	r.OK = r.Failure == nil
	return r, nil
}

// Report returns the report so far, without the end-of-log checks of Finish.
func (v *Verifier) Report() Report {
	r := v.report
	r.Leaves = v.Size()
	r.UnanchoredTail = uint64(len(v.pending))
	r.OK = r.Failure == nil
	return r
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
