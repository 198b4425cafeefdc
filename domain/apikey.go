package domain

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"io"
	"strings"
	"time"
)

// API key format: "arkiv_" followed by 43 base64url characters (32 random bytes). The first
// APIKeyPrefixLen characters identify a key; only its SHA-256 is stored.
const (
	apiKeyScheme    = "arkiv_"
	APIKeyPrefixLen = len(apiKeyScheme) + 8
)

// The kinds of API key owner.
const (
	KeyOwnerUser      = "USER"
	KeyOwnerAssistant = "ASSISTANT"
)

// GenerateAPIKey draws a new key from random (crypto/rand.Reader in production) and returns
// the secret (shown once), its prefix and its hash.
func GenerateAPIKey(random io.Reader) (secret, prefix, hash string, err error) {
	var b [32]byte
	if _, err := io.ReadFull(random, b[:]); err != nil {
		return "", "", "", Wrap(KindInternal, "apikey.generate", err, "could not draw a random key")
	}
	secret = apiKeyScheme + base64.RawURLEncoding.EncodeToString(b[:])
	return secret, secret[:APIKeyPrefixLen], HashAPIKey(secret), nil
}

// HashAPIKey returns the hex SHA-256 of a key, as stored.
func HashAPIKey(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// APIKeyPrefix returns the identifying prefix of a presented key, or "" when it is not
// shaped like an Arkiv key.
func APIKeyPrefix(secret string) string {
	if !strings.HasPrefix(secret, apiKeyScheme) || len(secret) != len(apiKeyScheme)+43 {
		return ""
	}
	return secret[:APIKeyPrefixLen]
}

// APIKey is a credential of a user or an assistant.
type APIKey struct {
	root
	ownerKind string
	owner     string
	hash      string
	revoked   bool
}

// APIKeyCreated records a new key: its owner, prefix and SHA-256 hash, never the secret.
type APIKeyCreated struct {
	KeyID          string `json:"keyId"`
	OrganizationID string `json:"organizationId"`
	OwnerKind      string `json:"ownerKind"`
	OwnerID        string `json:"ownerId"`
	Prefix         string `json:"prefix"`
	Hash           string `json:"hash"`
	CreatedBy      string `json:"createdBy"`
}

// EventName implements Event.
func (APIKeyCreated) EventName() string { return "apikey.created.v1" }

// APIKeyRevoked records that a key no longer authenticates.
type APIKeyRevoked struct {
	KeyID     string `json:"keyId"`
	RevokedBy string `json:"revokedBy"`
}

// EventName implements Event.
func (APIKeyRevoked) EventName() string { return "apikey.revoked.v1" }

// APIKeyUsed records that a key authenticated a request.
type APIKeyUsed struct {
	KeyID  string    `json:"keyId"`
	UsedAt time.Time `json:"usedAt"`
}

// EventName implements Event.
func (APIKeyUsed) EventName() string { return "apikey.used.v1" }

// NewAPIKey returns an empty API key aggregate with the given id.
func NewAPIKey(id string) *APIKey { return &APIKey{root: newRoot(StreamPrefixAPIKey, id)} }

// Create records a new key of org for an owner (KeyOwnerUser or KeyOwnerAssistant) from a
// key made by GenerateAPIKey.
func (k *APIKey) Create(org, ownerKind, owner, prefix, hash, by string) error {
	const op = "apikey.create"
	if k.created() {
		return errExists(op, "API key")
	}
	if err := ValidateID("API key id", k.id); err != nil {
		return err
	}
	if err := ValidateID("organisation id", org); err != nil {
		return err
	}
	if ownerKind != KeyOwnerUser && ownerKind != KeyOwnerAssistant {
		return E(KindInvalid, op, "key owner kind must be USER or ASSISTANT")
	}
	if err := ValidateID("key owner id", owner); err != nil {
		return err
	}
	if len(prefix) != APIKeyPrefixLen || !strings.HasPrefix(prefix, apiKeyScheme) {
		return E(KindInvalid, op, "malformed key prefix")
	}
	if b, err := hex.DecodeString(hash); err != nil || len(b) != sha256.Size {
		return E(KindInvalid, op, "key hash must be a hex SHA-256")
	}
	record(k, APIKeyCreated{KeyID: k.id, OrganizationID: org, OwnerKind: ownerKind, OwnerID: owner, Prefix: prefix, Hash: hash, CreatedBy: by})
	return nil
}

// Revoke records that the key no longer authenticates.
func (k *APIKey) Revoke(by string) error {
	const op = "apikey.revoke"
	if !k.created() {
		return errGone(op, "API key")
	}
	if k.revoked {
		return E(KindConflict, op, "API key is already revoked")
	}
	record(k, APIKeyRevoked{KeyID: k.id, RevokedBy: by})
	return nil
}

// RecordUse records that the key authenticated a request at at. A revoked key cannot be used.
func (k *APIKey) RecordUse(at time.Time) error {
	const op = "apikey.record_use"
	if !k.created() {
		return errGone(op, "API key")
	}
	if k.revoked {
		return E(KindUnauthenticated, op, "API key is revoked")
	}
	record(k, APIKeyUsed{KeyID: k.id, UsedAt: at})
	return nil
}

// Matches reports whether secret is this key and it is not revoked, in constant time.
func (k *APIKey) Matches(secret string) bool {
	return k.created() && !k.revoked && subtle.ConstantTimeCompare([]byte(HashAPIKey(secret)), []byte(k.hash)) == 1
}

// Owner returns the owner kind and id.
func (k *APIKey) Owner() (kind, id string) { return k.ownerKind, k.owner }

// Revoked reports whether the key has been revoked.
func (k *APIKey) Revoked() bool { return k.revoked }

func (k *APIKey) apply(e Event) {
	switch e := e.(type) {
	case APIKeyCreated:
		k.org, k.ownerKind, k.owner, k.hash = e.OrganizationID, e.OwnerKind, e.OwnerID, e.Hash
	case APIKeyRevoked:
		k.revoked = true
	}
}
