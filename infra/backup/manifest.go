package backup

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/shredjournal"
)

// Format is the manifest's format name; a reader refuses others.
const Format = "arkiv-backup/1"

// Names of the files a backup directory holds besides its data files.
const (
	ManifestFile  = "manifest.json"
	SignatureFile = "manifest.sig"
	// MACFile holds the manifest's HMAC-SHA256 under a key derived from the backup key, so
	// whoever holds the KEK detects any change to the manifest, signed or not.
	MACFile = "manifest.mac"
)

// keyInfo is the HKDF info label of the backup key: distinct from every other key derived
// from the KEK.
const keyInfo = "arkiv backup v1"

// Backends of the event store a backup was taken against.
const (
	// BackendEmbedded: Arkiv's embedded event store; its tables are in the backup.
	BackendEmbedded = "embedded"
	// BackendExternal: a real EventStoreDB cluster, backed up by its own file copy; the
	// backup records the log position it pairs with.
	BackendExternal = "external"
)

// Roles of the databases in a backup.
const (
	RoleKeystore   = "keystore"
	RoleEventStore = "eventstore"
)

// Manifest describes a backup: what it pairs with and every file with its SHA-256.
type Manifest struct {
	Format       string    `json:"format"`
	ID           string    `json:"id"`
	CreatedAt    time.Time `json:"created_at"`
	ArkivVersion string    `json:"arkiv_version"`
	// Backend is BackendEmbedded or BackendExternal.
	Backend string `json:"backend"`
	// LogPosition is the last event of $all the backup holds (embedded) or pairs with
	// (external): every event acknowledged before the backup began is at or before it. Nil
	// for an empty log.
	LogPosition *Position `json:"log_position"`
	// Projections are the projections to rebuild from the log after a restore.
	Projections []string `json:"projections"`
	// KEKVersion is the KEK version the backup key is derived from (HKDF-SHA256, salt KeySalt,
	// info "arkiv backup v1"); the KEK itself is never in a backup.
	KEKVersion uint32 `json:"kek_version"`
	KeySalt    string `json:"key_salt"`
	// Journal is the shred journal's head when the backup was taken (nil without a journal).
	Journal *shredjournal.Head `json:"shred_journal,omitempty"`
	// Databases lists the tables of each database, in restore order.
	Databases []Database `json:"databases"`
	// Files lists every data file.
	Files []File `json:"files"`
}

// Position is a position in $all.
type Position struct {
	Commit  uint64 `json:"commit"`
	Prepare uint64 `json:"prepare"`
}

// Database is one database's tables, copied in one snapshot.
type Database struct {
	Role   string  `json:"role"`
	Tables []Table `json:"tables"`
}

// Table is one table: its columns, row count and the files holding its rows (binary COPY,
// encrypted).
type Table struct {
	Schema  string   `json:"schema"`
	Name    string   `json:"name"`
	Columns []Column `json:"columns"`
	Rows    int64    `json:"rows"`
	Files   []string `json:"files"`
}

// Column is a column name and its SQL type.
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// File is one data file: its path relative to the backup directory, size and SHA-256 (hex)
// of its encrypted bytes.
type File struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// ReadManifest reads dir's manifest.
func ReadManifest(dir string) (*Manifest, []byte, error) {
	const op = "backup.read_manifest"
	raw, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return nil, nil, domain.Wrap(domain.KindNotFound, op, err, "no backup manifest in "+dir)
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, nil, domain.Wrap(domain.KindInvalid, op, err, "the backup manifest does not parse")
	}
	if m.Format != Format {
		return nil, nil, domain.Errorf(domain.KindInvalid, op, "the backup's format is %q, want %q", m.Format, Format)
	}
	return &m, raw, nil
}

// signedText is the note text a backup's signature covers.
func signedText(id string, manifest []byte) string {
	h := sha256.Sum256(manifest)
	return "arkiv backup " + id + "\nmanifest sha256 " + hex.EncodeToString(h[:]) + "\n"
}

// sign writes manifest.sig: a signed note (golang.org/x/mod/sumdb/note, the ledger's format)
// over the manifest's SHA-256.
func sign(dir, id string, manifest []byte, signer note.Signer) error {
	msg, err := note.Sign(&note.Note{Text: signedText(id, manifest)}, signer)
	if err != nil {
		return err
	}
	return writeFileSync(filepath.Join(dir, SignatureFile), msg)
}

// checkSignature verifies dir's manifest.sig with verifier.
func checkSignature(dir, id string, manifest []byte, verifier note.Verifier) error {
	msg, err := os.ReadFile(filepath.Join(dir, SignatureFile))
	if err != nil {
		return err
	}
	n, err := note.Open(msg, note.VerifierList(verifier))
	if err != nil {
		return err
	}
	if n.Text != signedText(id, manifest) {
		return errors.New("the signature is over another manifest")
	}
	return nil
}

// NewSigner reads a note private key (the ledger key, ARKIV_SIGNING_KEY_FILE).
func NewSigner(path string) (note.Signer, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, err := note.NewSigner(strings.TrimSpace(string(raw)))
	clear(raw)
	return s, err
}

// VerifierKeyOf returns the public verifier key (note format, as `arkiv audit public-key`
// prints it) of the Ed25519 note private key in path.
func VerifierKeyOf(path string) (string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	defer clear(raw)
	// PRIVATE+KEY+<name>+<hash>+<base64(0x01 || seed)>
	parts := strings.SplitN(strings.TrimSpace(string(raw)), "+", 5)
	if len(parts) != 5 || parts[0] != "PRIVATE" || parts[1] != "KEY" {
		return "", errors.New("not a note private key")
	}
	key, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(key) != 1+ed25519.SeedSize || key[0] != 1 {
		return "", errors.New("not an Ed25519 note private key")
	}
	pub := ed25519.NewKeyFromSeed(key[1:]).Public().(ed25519.PublicKey)
	clear(key)
	return fmt.Sprintf("%s+%s+%s", parts[2], parts[3], base64.StdEncoding.EncodeToString(append([]byte{1}, pub...))), nil
}

func writeFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// manifestMAC is the HMAC-SHA256 of the manifest's bytes under a key derived from the
// backup key (which the manifest's KEK version and salt determine, so changing either
// changes the key too).
func manifestMAC(backupKey, manifest []byte) ([]byte, error) {
	k, err := hkdf.Key(sha256.New, backupKey, nil, "arkiv backup manifest", 32)
	if err != nil {
		return nil, err
	}
	defer clear(k)
	h := hmac.New(sha256.New, k)
	h.Write(manifest)
	return h.Sum(nil), nil
}

// writeMAC writes manifest.mac, the manifest's MAC in hex.
func writeMAC(dir string, backupKey, manifest []byte) error {
	mac, err := manifestMAC(backupKey, manifest)
	if err != nil {
		return err
	}
	return writeFileSync(filepath.Join(dir, MACFile), []byte(hex.EncodeToString(mac)+"\n"))
}

// checkMAC verifies dir's manifest.mac against manifest under backupKey.
func checkMAC(dir string, backupKey, manifest []byte) error {
	const op = "backup.check_mac"
	raw, err := os.ReadFile(filepath.Join(dir, MACFile))
	if err != nil {
		return domain.Wrap(domain.KindConflict, op, err, "the backup has no "+MACFile+": its manifest cannot be authenticated")
	}
	got, err := hex.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil {
		return domain.E(domain.KindConflict, op, MACFile+" is not hex")
	}
	want, err := manifestMAC(backupKey, manifest)
	if err != nil {
		return domain.Wrap(domain.KindInternal, op, err, "")
	}
	if !hmac.Equal(got, want) {
		return domain.E(domain.KindConflict, op, "the manifest was changed (or the KEK is not the one the backup was taken under): "+MACFile+" does not match")
	}
	return nil
}
