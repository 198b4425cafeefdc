package ledger

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// Key is a loaded signing key: the note signer and its verifier key text.
type Key struct {
	// Signer signs checkpoints; its name is the log's origin.
	Signer note.Signer
	// VerifierKey is the public key in note format ("origin+hash+base64"), what `arkiv audit
	// public-key` prints and auditors keep.
	VerifierKey string
}

// Origin is the log's origin, the key's name.
func (k *Key) Origin() string { return k.Signer.Name() }

// Verifier returns the key's note verifier.
func (k *Key) Verifier() note.Verifier {
	v, err := note.NewVerifier(k.VerifierKey)
	if err != nil {
		panic(err) // VerifierKey was derived from the signer
	}
	return v
}

// GenerateKey returns a new Ed25519 signing key for origin, in note format: the private key
// ("PRIVATE+KEY+origin+hash+…") and the verifier key ("origin+hash+…"). The origin is a
// key name: no spaces and no '+', e.g. "arkiv.example.org/ledger".
func GenerateKey(origin string) (skey, vkey string, err error) {
	return note.GenerateKey(rand.Reader, origin)
}

// VerifierKeyOf derives the verifier key of a private key in note format.
func VerifierKeyOf(skey string) (string, error) {
	parts := strings.SplitN(strings.TrimSpace(skey), "+", 5)
	if len(parts) != 5 || parts[0] != "PRIVATE" || parts[1] != "KEY" {
		return "", errors.New("ledger: not a private key in note format")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(raw) != 1+ed25519.SeedSize || raw[0] != 1 {
		return "", errors.New("ledger: not an Ed25519 private key in note format")
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	return note.NewEd25519VerifierKey(parts[2], pub)
}

// keyFileHeader starts every key file.
const keyFileHeader = "# Arkiv ledger signing key (C2SP signed-note format). Keep secret, mode 0600.\n"

// WriteKeyFile writes a new key file at path with mode 0600, refusing to overwrite one:
// a comment, the private key and the verifier key, one per line.
func WriteKeyFile(path, skey, vkey string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(f, "%s%s\n%s\n", keyFileHeader, skey, vkey)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// LoadKeyFile reads a key file written by WriteKeyFile. It refuses a file that group or
// others may read or write.
func LoadKeyFile(path string) (*Key, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("signing key file %s has mode %04o; it must be 0600", path, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var skey string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); strings.HasPrefix(line, "PRIVATE+KEY+") {
			skey = line
			break
		}
	}
	if skey == "" {
		return nil, fmt.Errorf("signing key file %s holds no private key in note format", path)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, fmt.Errorf("signing key file %s: %w", path, err)
	}
	vkey, err := VerifierKeyOf(skey)
	if err != nil {
		return nil, fmt.Errorf("signing key file %s: %w", path, err)
	}
	return &Key{Signer: s, VerifierKey: vkey}, nil
}

// ParseVerifierKeys reads verifier keys in note format, one per line; blank lines and lines
// starting with '#' are skipped, and so is the private key of a key file (only its
// verifier key line counts), so either a public-key file or a key file may be given.
func ParseVerifierKeys(text []byte) ([]note.Verifier, error) {
	var out []note.Verifier
	sc := bufio.NewScanner(bytes.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "PRIVATE+KEY+") {
			continue
		}
		v, err := note.NewVerifier(line)
		if err != nil {
			return nil, fmt.Errorf("not a verifier key in note format: %w", err)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, errors.New("no verifier key in note format found")
	}
	return out, nil
}

// LoadVerifierKeys reads verifier keys from files (see ParseVerifierKeys).
func LoadVerifierKeys(paths ...string) ([]note.Verifier, error) {
	var out []note.Verifier
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		vs, err := ParseVerifierKeys(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		out = append(out, vs...)
	}
	return out, nil
}
