package auth

import (
	"bytes"
	"testing"
)

// TestAddressPseudonyms: the pseudonym of an address is stable (events written before keep
// matching), differs between organisations and keys, and is empty without an address.
func TestAddressPseudonyms(t *testing.T) {
	const org, other = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"
	p := NewAddressPseudonyms(bytes.Repeat([]byte{7}, 32))
	// Computed independently: HMAC-SHA-256 under HMAC-SHA-256(loginKey, label), first 16 bytes.
	if got, want := p.Of(org, "192.0.2.7"), "78232f497590a0a9b88b60e42982c8d4"; got != want {
		t.Fatalf("pseudonym %s, want %s", got, want)
	}
	if p.Of(org, "192.0.2.7") == p.Of(other, "192.0.2.7") {
		t.Error("two organisations share a pseudonym")
	}
	if NewAddressPseudonyms(bytes.Repeat([]byte{8}, 32)).Of(org, "192.0.2.7") == p.Of(org, "192.0.2.7") {
		t.Error("two keys share a pseudonym")
	}
	if p.Of(org, "") != "" {
		t.Error("no address has a pseudonym")
	}
}
