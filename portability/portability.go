// Package portability writes what Arkiv holds in readable, structured form for the people and
// organisations it belongs to: the subject access export of one person (GDPR Art. 15 and 20)
// and the whole-organisation export (end of service). Both read the log from its start
// through a Source (the official client, as the evidence bundle does) and open every sealed
// field through an Opener (the keyring codec), so they never depend on read models and show
// erased data as erased (null, its path listed in "redacted").
package portability

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/ledger"
)

// Source reads the log from its start, in log order: the entries the ledger's tree is built
// from.
type Source interface {
	// Scan calls fn with every entry in order; an error from fn stops the scan.
	Scan(ctx context.Context, fn func(ledger.Entry) error) error
}

// Opener returns an event's payload as JSON with every sealed field opened (the keyring's
// EventCodec.OpenPayload): plaintext, or null for a field whose subject is erased, whose
// path is then listed in redacted.
type Opener interface {
	OpenPayload(ctx context.Context, eventID string, data []byte) (json.RawMessage, []string, error)
}

// Record is one event as an export writes it: where it is in the log, when and by whom it
// was recorded, the SHA-256 of its stored payload (ciphertext, as in the log, so a reader can
// compare it with the event) and its payload with the sealed fields opened.
type Record struct {
	EventID    string          `json:"eventId"`
	Type       string          `json:"type"`
	Stream     string          `json:"stream"`
	Revision   uint64          `json:"revision"`
	Position   uint64          `json:"position"`
	At         time.Time       `json:"at"`
	Actor      string          `json:"actor"`
	Space      string          `json:"space,omitempty"`
	DataSHA256 string          `json:"dataSha256"`
	Data       json.RawMessage `json:"data"`
	Redacted   []string        `json:"redacted,omitempty"`
}

// DataSHA256 returns the hex SHA-256 of an event's stored payload, as Record.DataSHA256.
func DataSHA256(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}

// secretFields are payload fields an export never writes, by event type: an API key's hash
// (keys are exported as metadata only).
var secretFields = map[string][]string{
	domain.APIKeyCreated{}.EventName(): {"hash"},
}

// newRecord opens e's payload and returns its record; md is e's decoded metadata.
func newRecord(ctx context.Context, op Opener, e ledger.Entry, md domain.Metadata) (Record, error) {
	data, redacted, err := op.OpenPayload(ctx, e.EventID, e.Data)
	if err != nil {
		return Record{}, err
	}
	if drop := secretFields[e.Type]; len(drop) > 0 {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(data, &m); err == nil {
			for _, f := range drop {
				delete(m, f)
			}
			if b, err := json.Marshal(m); err == nil {
				data = b
			}
		}
	}
	return Record{EventID: e.EventID, Type: e.Type, Stream: e.Stream, Revision: e.Revision, Position: e.Position,
		At: md.OccurredAt.UTC(), Actor: md.Actor, Space: md.Space, DataSHA256: DataSHA256(e.Data), Data: data, Redacted: redacted}, nil
}

// metadata decodes an entry's metadata; an entry without Arkiv metadata (not one of its
// events) has an empty organisation.
func metadata(e ledger.Entry) domain.Metadata {
	var md domain.Metadata
	_ = json.Unmarshal(e.Metadata, &md)
	return md
}

// CertificateTypePrefix starts the event types of erasure certificates. The organisation
// export writes every event of such a type into erasure_certificates.jsonl, whatever its
// version, so certificates recorded by the erasure lifecycle appear there without this
// package knowing their shape.
const CertificateTypePrefix = "erasure.certified."

// isType reports whether typ is the event type of e.
func isType(typ string, e domain.Event) bool { return typ == e.EventName() }

// hasPrefix reports whether typ starts with any of prefixes.
func hasPrefix(typ string, prefixes ...string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(typ, p) {
			return true
		}
	}
	return false
}

// pipelineDepth bounds the entries read ahead of the export's writing: reading the log
// (network, the store's pages) and opening and encoding events overlap, in constant memory.
const pipelineDepth = 4096

// scanAhead runs src.Scan in its own goroutine, handing entries to fn in order through a
// bounded channel, so the next page is read while fn works. fn's first error stops the scan.
func scanAhead(ctx context.Context, src Source, fn func(ledger.Entry) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := make(chan ledger.Entry, pipelineDepth)
	errc := make(chan error, 1)
	go func() {
		defer close(ch)
		errc <- src.Scan(ctx, func(e ledger.Entry) error {
			select {
			case ch <- e:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	for e := range ch {
		if err := fn(e); err != nil {
			cancel()
			for range ch {
			}
			<-errc
			return err
		}
	}
	return <-errc
}

// recordHead is a Record's fields before its data, in the order encoding/json writes them.
type recordHead struct {
	EventID    string    `json:"eventId"`
	Type       string    `json:"type"`
	Stream     string    `json:"stream"`
	Revision   uint64    `json:"revision"`
	Position   uint64    `json:"position"`
	At         time.Time `json:"at"`
	Actor      string    `json:"actor"`
	Space      string    `json:"space,omitempty"`
	DataSHA256 string    `json:"dataSha256"`
}

// appendJSON appends r as encoding/json would write it, without re-validating and
// compacting Data (the opened payload, or the stored one: JSON already), which is most of the
// cost of writing a large export.
func (r Record) appendJSON(b []byte) ([]byte, error) {
	head, err := json.Marshal(recordHead{EventID: r.EventID, Type: r.Type, Stream: r.Stream, Revision: r.Revision,
		Position: r.Position, At: r.At, Actor: r.Actor, Space: r.Space, DataSHA256: r.DataSHA256})
	if err != nil {
		return nil, err
	}
	b = append(b, head[:len(head)-1]...)
	b = append(b, `,"data":`...)
	if len(r.Data) == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, bytes.TrimSpace(r.Data)...)
	}
	if len(r.Redacted) > 0 {
		red, err := json.Marshal(r.Redacted)
		if err != nil {
			return nil, err
		}
		b = append(b, `,"redacted":`...)
		b = append(b, red...)
	}
	return append(b, '}'), nil
}
