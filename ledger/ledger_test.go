package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/transparency-dev/merkle/compact"
	"golang.org/x/mod/sumdb/note"

	"github.com/arkiv/arkiv/domain"
)

// testLog builds an in-memory log: events in three streams with valid chains, and a signed
// checkpoint event every `every` events, plus the node store a ledger would keep.
type testLog struct {
	t       *testing.T
	key     *Key
	entries []Entry
	heads   map[string]string
	revs    map[string]uint64
	tree    *Tree
	nodes   map[compact.NodeID][]byte
}

func newKey(t *testing.T, origin string) *Key {
	t.Helper()
	skey, vkey, err := GenerateKey(origin)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "key")
	if err := WriteKeyFile(path, skey, vkey); err != nil {
		t.Fatal(err)
	}
	k, err := LoadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if k.VerifierKey != vkey {
		t.Fatalf("derived verifier key %q, generated %q", k.VerifierKey, vkey)
	}
	return k
}

func newTestLog(t *testing.T, key *Key) *testLog {
	return &testLog{t: t, key: key, heads: map[string]string{}, revs: map[string]uint64{}, tree: NewTree(), nodes: map[compact.NodeID][]byte{}}
}

func (l *testLog) append(stream, typ string, data []byte) Entry {
	md, _ := json.Marshal(domain.Metadata{Actor: "system", CommandID: uuid.NewString(), SchemaVersion: 1, PrevHash: l.heads[stream]})
	e := Entry{EventID: uuid.NewString(), Stream: stream, Revision: l.revs[stream], Position: uint64(len(l.entries)+1) * 10,
		Type: typ, Created: time.Unix(1700000000, int64(len(l.entries))*100).UTC(), Data: data, Metadata: md}
	l.heads[stream] = domain.EventHash(e.EventID, e.Type, e.Data, e.Metadata)
	l.revs[stream]++
	l.entries = append(l.entries, e)
	l.tree.Append(LeafOf(e).Hash(), func(level uint, index uint64, h []byte) { l.nodes[compact.NewNodeID(level, index)] = h })
	return e
}

func (l *testLog) checkpoint(key *Key) Entry {
	cp := Checkpoint{Origin: key.Origin(), Size: l.tree.Size(), Root: l.tree.Root()}
	msg, err := cp.Sign(key.Signer)
	if err != nil {
		l.t.Fatal(err)
	}
	data, _ := json.Marshal(CheckpointData{Note: string(msg), Size: cp.Size, Root: b64(cp.Root)})
	return l.append(DefaultStream, CheckpointType, data)
}

func (l *testLog) build(n, every int) {
	for i := 0; i < n; i++ {
		l.append(fmt.Sprintf("s-%d", i%3), "thing.happened.v1", []byte(fmt.Sprintf(`{"n":%d}`, i)))
		if (i+1)%every == 0 {
			l.checkpoint(l.key)
		}
	}
}

func (l *testLog) nodeReader() NodeReader {
	return func(ids []compact.NodeID) ([][]byte, error) {
		out := make([][]byte, len(ids))
		for i, id := range ids {
			h, ok := l.nodes[id]
			if !ok {
				return nil, fmt.Errorf("no node %v", id)
			}
			out[i] = h
		}
		return out, nil
	}
}

func verify(t *testing.T, entries []Entry, opts Options) Report {
	t.Helper()
	v := NewVerifier(opts)
	for _, e := range entries {
		if err := v.Add(context.Background(), e); err != nil {
			var f *Failure
			if !errors.As(err, &f) {
				t.Fatal(err)
			}
			break
		}
	}
	r, err := v.Finish(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestVerifyCleanLog(t *testing.T) {
	key := newKey(t, "arkiv.test/ledger")
	l := newTestLog(t, key)
	l.build(100, 7)
	r := verify(t, l.entries, Options{Keys: note.VerifierList(key.Verifier())})
	if !r.OK || r.Checkpoints != 14 || r.Leaves != uint64(len(l.entries)) || r.Streams != 4 {
		t.Fatalf("report %+v failure %v", r, r.Failure)
	}
	if r.UnanchoredTail != 3 { // the last checkpoint event itself, then events 99 and 100
		t.Fatalf("tail %d", r.UnanchoredTail)
	}
}

func TestVerifyFindsTampering(t *testing.T) {
	key := newKey(t, "arkiv.test/ledger")
	other := newKey(t, "arkiv.test/ledger")
	keys := note.VerifierList(key.Verifier())
	l := newTestLog(t, key)
	l.build(50, 10)
	clone := func() []Entry {
		out := make([]Entry, len(l.entries))
		for i, e := range l.entries {
			e.Data = append([]byte(nil), e.Data...)
			e.Metadata = append([]byte(nil), e.Metadata...)
			out[i] = e
		}
		return out
	}
	cases := []struct {
		name   string
		edit   func([]Entry) []Entry
		check  string
		target int // index into l.entries of the event the failure must name
	}{
		{"data byte flipped in the last event of a stream", func(es []Entry) []Entry { es[1].Data[2] ^= 1; return es }, CheckChain, 4},
		{"event deleted", func(es []Entry) []Entry { return append(es[:3], es[4:]...) }, CheckChain, 6},
		{"positions swapped across streams", func(es []Entry) []Entry { es[4], es[5] = es[5], es[4]; return es }, CheckCheckpointRoot, 10},
		{"wrong key", func(es []Entry) []Entry {
			m := newTestLog(t, other)
			m.tree = l.tree
			cp := Checkpoint{Origin: other.Origin(), Size: 10, Root: []byte(strings.Repeat("x", 32))}
			msg, _ := cp.Sign(other.Signer)
			data, _ := json.Marshal(CheckpointData{Note: string(msg)})
			es[10].Data = data
			return es
		}, CheckCheckpointSignature, 10},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			es := c.edit(clone())
			r := verify(t, es, Options{Keys: keys})
			if r.OK || r.Failure.Check != c.check || r.Failure.EventID != l.entries[c.target].EventID {
				t.Fatalf("failure %+v, want check %s on event %s", r.Failure, c.check, l.entries[c.target].EventID)
			}
		})
	}
	t.Run("truncated tail caught by a trusted checkpoint", func(t *testing.T) {
		trusted := Checkpoint{Origin: key.Origin(), Size: l.tree.Size(), Root: l.tree.Root()}
		r := verify(t, l.entries[:30], Options{Keys: keys, Trusted: []Checkpoint{trusted}})
		if r.OK || r.Failure.Check != CheckTrustedCheckpoint {
			t.Fatalf("report %+v", r.Failure)
		}
		if r := verify(t, l.entries, Options{Keys: keys, Trusted: []Checkpoint{trusted}}); !r.OK || r.TrustedChecked != 1 {
			t.Fatalf("full log against its own checkpoint: %+v", r.Failure)
		}
	})
	t.Run("old key still verifies after rotation", func(t *testing.T) {
		m := newTestLog(t, key)
		m.build(20, 5)
		m.key = other
		m.build(20, 5)
		if r := verify(t, m.entries, Options{Keys: keys}); r.OK {
			t.Fatal("the new key's checkpoints verified without its public key")
		}
		r := verify(t, m.entries, Options{Keys: note.VerifierList(key.Verifier(), other.Verifier())})
		if !r.OK || r.Checkpoints != 8 || r.Latest.KeyHash != fmt.Sprintf("%08x", other.Signer.KeyHash()) {
			t.Fatalf("report %+v %v", r, r.Failure)
		}
	})
}

type sliceRef struct {
	leaves []RefLeaf
	i      int
}

func (s *sliceRef) Lookup(_ context.Context, id string) (RefLeaf, bool, error) {
	for _, l := range s.leaves {
		if l.EventID == id {
			return l, true, nil
		}
	}
	return RefLeaf{}, false, nil
}

func (s *sliceRef) Next(context.Context) (RefLeaf, bool, error) {
	if s.i >= len(s.leaves) {
		return RefLeaf{}, false, nil
	}
	s.i++
	return s.leaves[s.i-1], true, nil
}

func TestVerifyReferenceNamesTheEvent(t *testing.T) {
	key := newKey(t, "arkiv.test/ledger")
	l := newTestLog(t, key)
	l.build(30, 10)
	ref := func() *sliceRef {
		s := &sliceRef{}
		for i, e := range l.entries {
			lf := LeafOf(e)
			s.leaves = append(s.leaves, RefLeaf{Index: uint64(i), EventID: lf.EventID, Stream: e.Stream, Revision: e.Revision,
				Position: e.Position, DataHash: lf.DataHash[:], MetadataHash: lf.MetadataHash[:], LeafHash: lf.Hash()})
		}
		return s
	}
	keys := note.VerifierList(key.Verifier())
	es := append([]Entry(nil), l.entries...)
	es[5].Metadata = append([]byte(nil), es[5].Metadata...)
	es[5].Metadata[3] ^= 1
	r := verify(t, es, Options{Keys: keys, Reference: ref()})
	if r.OK || r.Failure.Check != CheckLedgerRecord || r.Failure.EventID != l.entries[5].EventID || !strings.Contains(r.Failure.Detail, "metadata") {
		t.Fatalf("%+v", r.Failure)
	}
	// A whole stream deleted: the ledger names its first event.
	var kept []Entry
	for _, e := range l.entries {
		if e.Stream != "s-1" {
			kept = append(kept, e)
		}
	}
	r = verify(t, kept, Options{Keys: keys, Reference: ref()})
	if r.OK || r.Failure.EventID != l.entries[1].EventID || r.Failure.Stream != "s-1" {
		t.Fatalf("%+v", r.Failure)
	}
	// Newest events deleted: the ledger names the first missing one.
	r = verify(t, l.entries[:20], Options{Keys: keys, Reference: ref()})
	if r.OK || r.Failure.EventID != l.entries[20].EventID {
		t.Fatalf("%+v", r.Failure)
	}
}

func TestProofRoundTrip(t *testing.T) {
	key := newKey(t, "arkiv.test/ledger")
	l := newTestLog(t, key)
	l.build(37, 1000)
	cp := Checkpoint{Origin: key.Origin(), Size: l.tree.Size(), Root: l.tree.Root()}
	msg, _ := cp.Sign(key.Signer)
	keys := note.VerifierList(key.Verifier())
	for _, i := range []uint64{0, 5, 31, 32, 36} {
		hashes, err := InclusionProof(i, cp.Size, l.nodeReader())
		if err != nil {
			t.Fatal(err)
		}
		p := Proof{Leaf: LeafOf(l.entries[i]), Index: i, Hashes: hashes, Checkpoint: msg}
		parsed, err := ParseProof(p.Marshal())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := VerifyProof(parsed, keys); err != nil {
			t.Fatalf("leaf %d: %v", i, err)
		}
		parsed.Leaf.DataHash[0] ^= 1
		if _, err := VerifyProof(parsed, keys); err == nil {
			t.Fatalf("leaf %d: a changed leaf verified", i)
		}
	}
	other := newKey(t, key.Origin())
	hashes, _ := InclusionProof(3, cp.Size, l.nodeReader())
	if _, err := VerifyProof(Proof{Leaf: LeafOf(l.entries[3]), Index: 3, Hashes: hashes, Checkpoint: msg}, note.VerifierList(other.Verifier())); err == nil {
		t.Fatal("verified with another key")
	}
	small := Checkpoint{Origin: key.Origin(), Size: 20}
	t2 := NewTree()
	for _, e := range l.entries[:20] {
		t2.Append(LeafOf(e).Hash(), nil)
	}
	small.Root = t2.Root()
	cons, err := ConsistencyProof(20, cp.Size, l.nodeReader())
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyConsistency(small, cp, cons); err != nil {
		t.Fatal(err)
	}
}

func TestKeyFileMustBePrivate(t *testing.T) {
	skey, vkey, _ := GenerateKey("arkiv.test/ledger")
	path := filepath.Join(t.TempDir(), "key")
	if err := WriteKeyFile(path, skey, vkey); err != nil {
		t.Fatal(err)
	}
	if err := WriteKeyFile(path, skey, vkey); err == nil {
		t.Fatal("overwrote a key file")
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKeyFile(path); err == nil || !strings.Contains(err.Error(), "0600") {
		t.Fatalf("loaded a world-readable key: %v", err)
	}
	vs, err := LoadVerifierKeys(path)
	if err != nil || len(vs) != 1 || vs[0].Name() != "arkiv.test/ledger" {
		t.Fatalf("%v %v", vs, err)
	}
}

func TestLeafEncodingRoundTrip(t *testing.T) {
	e := Entry{EventID: strings.ToUpper(uuid.NewString()), Stream: "s", Revision: 7, Type: "x.v1", Created: time.Unix(5, 300), Data: []byte("d"), Metadata: []byte("{}")}
	l := LeafOf(e)
	got, err := DecodeLeaf(l.Encode())
	if err != nil || got != l || got.EventID != strings.ToLower(e.EventID) {
		t.Fatalf("%+v %v", got, err)
	}
	if _, err := DecodeLeaf(l.Encode()[:40]); err == nil {
		t.Fatal("decoded a truncated leaf")
	}
}
