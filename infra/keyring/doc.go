// Package keyring is Arkiv's crypto-shredding keyring and event codec.
//
// Every data subject (domain.Subject) has one AES-256 data-encryption key (DEK), created on
// first use and stored in Postgres — in the key store's own database, never the event
// store's — only wrapped (AES-256-GCM) by a versioned key-encryption key from a KEKSource.
// A field is sealed with AES-256-GCM under a key derived by HKDF-SHA256 from the DEKs of all
// its subjects, so destroying any one of them makes it unreadable. Erasure is two-step:
// StartShredding hides the subject at once (restorable during a grace window, default 14
// days), then Destroy or DestroyDue deletes the key material, vacuums the key table and keeps
// a tombstone (subject, times, reason, requester — never the key).
//
// The parts, one file each:
//
//   - keyring.go: the core — Open, Seal and Open of a blob, the key store's reads and writes.
//   - blob.go: the blob format (header of subjects and DEK versions, associated data, field-key
//     derivation).
//   - cache.go: unwrapped DEKs in an LRU (hashicorp/golang-lru) and the field keys derived
//     from them, zeroed when they leave.
//   - listen.go: the LISTEN/NOTIFY follower that evicts subjects other keyrings shred, and
//     turns the cache off while its connection is down.
//   - lifecycle.go, destroy_all.go, rotate.go, kek.go: shredding, restore, destruction, KEK
//     rotation and the KEK file.
//   - store.go and migrations/: the key store's schema as goose migrations (own version table
//     keyring_goose_db_version), applied by Open.
//   - codec.go: the event codec.
//
// The event codec (NewCodec, NewPlainCodec) marshals events to JSON with go-json-experiment
// (encoding/json's semantics) and writes every domain.Sealed field, through a marshal
// function passed per call, as the JSON string "ak1." + base64url(blob), where blob is a Seal
// output whose associated data is the event id and the field's JSON path; the plaintext
// codec writes "ak0." envelopes of the same shape without encryption. testdata/golden.json
// holds events written by earlier releases, which every version must still read.
//
// The KEK file (FileKEK) is JSON with mode 0600:
//
//	{"current": 2, "versions": {"1": "<base64 32 bytes>", "2": "<base64 32 bytes>"}}
//
// Rotation: `arkiv keys rotate-kek` adds a version, makes it current and re-wraps every live
// DEK (resumable). When it reports that nothing is left under older versions, the operator
// runs `arkiv keys prune-kek`, which checks the key store again and deletes the older
// versions from the file; copies of old wrapped DEKs in WAL or backups are then unreadable.
package keyring
