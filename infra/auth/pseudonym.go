package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
)

// AddressPseudonyms derives the pseudonyms that stand for client addresses in login audit
// events. The address is personal data and is never stored: an event carries only an
// HMAC-SHA-256 (truncated to 128 bits) of the organisation and the address under a key
// derived from the login key, which lets an Admin see that failures came from one address
// (and check a suspected address with the server's key) without the log holding it.
type AddressPseudonyms struct{ key []byte }

// NewAddressPseudonyms derives the pseudonym key from the login key (ARKIV_AUTH_LOGIN_KEY).
func NewAddressPseudonyms(loginKey []byte) AddressPseudonyms {
	m := hmac.New(sha256.New, loginKey)
	m.Write([]byte("arkiv login audit: remote address"))
	return AddressPseudonyms{key: m.Sum(nil)}
}

// Of returns the pseudonym of a client address in an organisation ("" without an address).
func (p AddressPseudonyms) Of(orgID, ip string) string {
	if ip == "" {
		return ""
	}
	m := hmac.New(sha256.New, p.key)
	m.Write([]byte(orgID + "\x00" + ip))
	return hex.EncodeToString(m.Sum(nil)[:16])
}
