package domain

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"strings"
)

// chainDomain separates Arkiv's event hashes from any other SHA-256 use.
const chainDomain = "arkiv.event-chain.v1\n"

// EventHash returns the hex SHA-256 of an event's stored bytes: its id, its name, its payload
// and its metadata exactly as stored (ciphertext included), each length-prefixed. The next
// event of the stream carries it as Metadata.PrevHash, which makes the stream a
// tamper-evident chain that still verifies after crypto-shredding.
func EventHash(eventID, eventType string, data, metadata []byte) string {
	h := sha256.New()
	h.Write([]byte(chainDomain))
	for _, part := range [][]byte{[]byte(strings.ToLower(eventID)), []byte(eventType), data, metadata} {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(part)))
		h.Write(n[:])
		h.Write(part)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// HashOf returns EventHash of a recorded event.
func HashOf(r Recorded) string { return EventHash(r.EventID, r.Type, r.Data, r.Metadata) }

// VerifyChain checks that events (one stream, in revision order from its start) form an
// unbroken chain: every event's metadata parses and carries the hash of the event before it,
// the first an empty PrevHash. It returns the hash of the last event (the stream's head, to
// anchor in a signed checkpoint) or a KindConflict error naming the first broken link.
func VerifyChain(events []Recorded) (head string, err error) {
	const op = "chain.verify"
	prev := ""
	for i, r := range events {
		if uint64(i) != r.Revision {
			return "", Errorf(KindConflict, op, "stream %s: event at revision %d is missing", r.Stream, i)
		}
		var m Metadata
		if err := json.Unmarshal(r.Metadata, &m); err != nil {
			return "", Errorf(KindConflict, op, "stream %s revision %d: metadata is not valid JSON", r.Stream, r.Revision)
		}
		if m.PrevHash != prev {
			return "", Errorf(KindConflict, op, "stream %s revision %d (event %s): hash chain broken", r.Stream, r.Revision, r.EventID)
		}
		prev = HashOf(r)
	}
	return prev, nil
}
