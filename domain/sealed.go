package domain

import (
	"fmt"
	"io"
	"log/slog"
)

// Sealed is a personal or content field of an event: plaintext in memory; the event codec
// (infra/keyring) encrypts it under the key derived from Subjects when encoding, and decrypts
// it — or, when any of its subjects has been erased, redacts it — when decoding.
//
// A Sealed value never reveals its plaintext by accident: it prints as "[sealed]" with every
// fmt verb and in slog, and marshalling it with encoding/json directly (outside the codec)
// fails instead of writing plaintext.
type Sealed struct {
	// Plain is the plaintext; empty when Redacted.
	Plain string
	// Subjects are the data subjects the field depends on: erasing any one of them makes
	// the field unreadable.
	Subjects []Subject
	// Redacted is set by the codec when a subject of the field has been erased (shredding
	// or destroyed); Plain is then empty.
	Redacted bool
}

// Seal returns a field holding plain that depends on subjects.
func Seal(plain string, subjects ...Subject) Sealed {
	return Sealed{Plain: plain, Subjects: subjects}
}

// sealedText is what a Sealed value prints as.
const sealedText = "[sealed]"

// String returns "[sealed]", never the plaintext.
func (s Sealed) String() string { return sealedText }

// Format writes "[sealed]" for every verb, so %v, %+v, %#v, %q and %x never print plaintext.
func (s Sealed) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, sealedText) }

// LogValue keeps the plaintext out of structured logs.
func (s Sealed) LogValue() slog.Value { return slog.StringValue(sealedText) }

// MarshalJSON refuses: a Sealed field is written only by the keyring codec, which encrypts
// it. Marshalling an event with encoding/json directly would otherwise store plaintext.
func (s Sealed) MarshalJSON() ([]byte, error) {
	return nil, E(KindInternal, "sealed.marshal", "a Sealed field must be encoded by the keyring codec")
}

// UnmarshalJSON refuses: a Sealed field is read only by the keyring codec.
func (s *Sealed) UnmarshalJSON([]byte) error {
	return E(KindInternal, "sealed.unmarshal", "a Sealed field must be decoded by the keyring codec")
}
