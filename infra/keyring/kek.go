package keyring

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/arkiv/arkiv/domain"
)

// KEKSource wraps and unwraps data-encryption keys under a versioned key-encryption key. The
// keyring never sees KEK bytes, only this interface, so Vault Transit or a cloud KMS can
// implement it later. Implementations must never log key material.
type KEKSource interface {
	// CurrentVersion returns the KEK version that Wrap uses now.
	CurrentVersion(ctx context.Context) (uint32, error)
	// Wrap encrypts dek under the current KEK version, authenticating ad, and returns the
	// version used.
	Wrap(ctx context.Context, dek, ad []byte) (version uint32, wrapped []byte, err error)
	// Unwrap decrypts a wrapped DEK made by Wrap with the given KEK version.
	Unwrap(ctx context.Context, version uint32, wrapped, ad []byte) ([]byte, error)
}

// kekFileDoc is the KEK file format: JSON, mode 0600,
//
//	{"current": 2, "versions": {"1": "<base64 32 bytes>", "2": "<base64 32 bytes>"}}
//
// Versions are positive integers; current names the version new wraps use.
type kekFileDoc struct {
	Current  uint32            `json:"current"`
	Versions map[string]string `json:"versions"`
}

// FileKEK is a KEKSource backed by a local JSON file holding every KEK version (see
// LoadOrCreateKEKFile for the format). It notices when another process (such as
// `arkiv keys rotate-kek`) rewrites the file and reloads it.
type FileKEK struct {
	path string

	mu      sync.Mutex
	current uint32
	keys    map[uint32]cipher.AEAD
	mtime   time.Time
	size    int64
}

// LoadOrCreateKEKFile opens the KEK file at path, creating it with one fresh random version
// (mode 0600, directory 0700) when it does not exist. It refuses a file that group or others
// may read. `arkiv dev` calls it for .data/kek.json.
func LoadOrCreateKEKFile(path string) (*FileKEK, error) {
	const op = "keyring.kek_file"
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, domain.Wrap(domain.KindUnavailable, op, err, "cannot create the KEK file's directory")
		}
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, domain.Wrap(domain.KindInternal, op, err, "no randomness for a KEK")
		}
		doc := kekFileDoc{Current: 1, Versions: map[string]string{"1": base64.StdEncoding.EncodeToString(key)}}
		clear(key)
		if err := writeKEKFile(path, doc, true); err != nil {
			if !errors.Is(err, fs.ErrExist) {
				return nil, domain.Wrap(domain.KindUnavailable, op, err, "cannot create the KEK file")
			}
			// Another process created it first: use theirs.
		}
	}
	return LoadKEKFile(path)
}

// LoadKEKFile opens an existing KEK file. It refuses a file that group or others may read.
func LoadKEKFile(path string) (*FileKEK, error) {
	k := &FileKEK{path: path}
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.loadLocked(); err != nil {
		return nil, err
	}
	return k, nil
}

// Path returns the file's path.
func (k *FileKEK) Path() string { return k.path }

// loadLocked (re)reads the file. k.mu must be held.
func (k *FileKEK) loadLocked() error {
	const op = "keyring.kek_file"
	fi, err := os.Stat(k.path)
	if err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err, "cannot read the KEK file")
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return domain.Errorf(domain.KindUnavailable, op,
			"the KEK file is accessible to group or others (mode %v): chmod 600 it", fi.Mode().Perm())
	}
	raw, err := os.ReadFile(k.path)
	if err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err, "cannot read the KEK file")
	}
	var doc kekFileDoc
	err = json.Unmarshal(raw, &doc)
	clear(raw)
	if err != nil {
		return domain.E(domain.KindUnavailable, op, "the KEK file is not valid JSON")
	}
	keys := make(map[uint32]cipher.AEAD, len(doc.Versions))
	for vs, b64 := range doc.Versions {
		v, err := strconv.ParseUint(vs, 10, 32)
		if err != nil || v == 0 {
			return domain.Errorf(domain.KindUnavailable, op, "the KEK file has a bad version %q", vs)
		}
		key, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(key) != 32 {
			return domain.Errorf(domain.KindUnavailable, op, "KEK version %d is not 32 base64 bytes", v)
		}
		block, err := aes.NewCipher(key)
		clear(key)
		if err != nil {
			return domain.Wrap(domain.KindInternal, op, err, "")
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return domain.Wrap(domain.KindInternal, op, err, "")
		}
		keys[uint32(v)] = aead
	}
	if _, ok := keys[doc.Current]; !ok {
		return domain.Errorf(domain.KindUnavailable, op, "the KEK file's current version %d is missing", doc.Current)
	}
	k.current, k.keys, k.mtime, k.size = doc.Current, keys, fi.ModTime(), fi.Size()
	return nil
}

// refreshLocked reloads the file if it changed on disk since it was read.
func (k *FileKEK) refreshLocked() error {
	fi, err := os.Stat(k.path)
	if err != nil {
		return domain.Wrap(domain.KindUnavailable, "keyring.kek_file", err, "cannot read the KEK file")
	}
	if fi.ModTime().Equal(k.mtime) && fi.Size() == k.size {
		return nil
	}
	return k.loadLocked()
}

// CurrentVersion implements KEKSource.
func (k *FileKEK) CurrentVersion(ctx context.Context) (uint32, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.refreshLocked(); err != nil {
		return 0, err
	}
	return k.current, nil
}

// Versions returns the KEK versions the file holds, ascending.
func (k *FileKEK) Versions() []uint32 {
	k.mu.Lock()
	defer k.mu.Unlock()
	vs := make([]uint32, 0, len(k.keys))
	for v := range k.keys {
		vs = append(vs, v)
	}
	slices.Sort(vs)
	return vs
}

// Wrap implements KEKSource with AES-256-GCM and a random nonce: nonce || ciphertext || tag.
func (k *FileKEK) Wrap(ctx context.Context, dek, ad []byte) (uint32, []byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.refreshLocked(); err != nil {
		return 0, nil, err
	}
	aead := k.keys[k.current]
	out := make([]byte, aead.NonceSize(), aead.NonceSize()+len(dek)+aead.Overhead())
	if _, err := rand.Read(out); err != nil {
		return 0, nil, domain.Wrap(domain.KindInternal, "keyring.wrap", err, "no randomness")
	}
	return k.current, aead.Seal(out, out, dek, ad), nil
}

// Unwrap implements KEKSource. An unknown version makes it reload the file once, in case the
// version was added by a rotation in another process.
func (k *FileKEK) Unwrap(ctx context.Context, version uint32, wrapped, ad []byte) ([]byte, error) {
	const op = "keyring.unwrap"
	k.mu.Lock()
	aead, ok := k.keys[version]
	if !ok {
		if err := k.refreshLocked(); err != nil {
			k.mu.Unlock()
			return nil, err
		}
		aead, ok = k.keys[version]
	}
	k.mu.Unlock()
	if !ok {
		return nil, domain.Errorf(domain.KindUnavailable, op, "KEK version %d is not in the KEK file", version)
	}
	ns := aead.NonceSize()
	if len(wrapped) < ns+aead.Overhead() {
		return nil, domain.E(domain.KindInternal, op, "wrapped key is truncated")
	}
	dek, err := aead.Open(nil, wrapped[:ns], wrapped[ns:], ad)
	if err != nil {
		return nil, domain.E(domain.KindInternal, op, "wrapped key does not authenticate under its KEK version")
	}
	return dek, nil
}

// AddVersion adds a fresh random KEK version to the file and makes it current, rewriting the
// file atomically (mode 0600). It returns the new version.
func (k *FileKEK) AddVersion(ctx context.Context) (uint32, error) {
	const op = "keyring.kek_add_version"
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.refreshLocked(); err != nil {
		return 0, err
	}
	doc, err := k.readDocLocked()
	if err != nil {
		return 0, err
	}
	next := doc.Current
	for vs := range doc.Versions {
		if v, _ := strconv.ParseUint(vs, 10, 32); uint32(v) > next {
			next = uint32(v)
		}
	}
	next++
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return 0, domain.Wrap(domain.KindInternal, op, err, "no randomness for a KEK")
	}
	doc.Versions[strconv.FormatUint(uint64(next), 10)] = base64.StdEncoding.EncodeToString(key)
	clear(key)
	doc.Current = next
	if err := writeKEKFile(k.path, doc, false); err != nil {
		return 0, domain.Wrap(domain.KindUnavailable, op, err, "cannot write the KEK file")
	}
	if err := k.loadLocked(); err != nil {
		return 0, err
	}
	return next, nil
}

// RemoveVersionsExcept deletes every KEK version but keep from the file. Call it only after
// the key store holds no DEK wrapped under the removed versions (Keyring.PruneCheck).
func (k *FileKEK) RemoveVersionsExcept(ctx context.Context, keep uint32) ([]uint32, error) {
	const op = "keyring.kek_prune"
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.refreshLocked(); err != nil {
		return nil, err
	}
	doc, err := k.readDocLocked()
	if err != nil {
		return nil, err
	}
	if doc.Current != keep {
		return nil, domain.Errorf(domain.KindConflict, op, "KEK version %d is not the current version", keep)
	}
	var removed []uint32
	for vs := range doc.Versions {
		if v, _ := strconv.ParseUint(vs, 10, 32); uint32(v) != keep {
			removed = append(removed, uint32(v))
			delete(doc.Versions, vs)
		}
	}
	slices.Sort(removed)
	if len(removed) == 0 {
		return nil, nil
	}
	if err := writeKEKFile(k.path, doc, false); err != nil {
		return nil, domain.Wrap(domain.KindUnavailable, op, err, "cannot write the KEK file")
	}
	return removed, k.loadLocked()
}

func (k *FileKEK) readDocLocked() (kekFileDoc, error) {
	raw, err := os.ReadFile(k.path)
	if err != nil {
		return kekFileDoc{}, domain.Wrap(domain.KindUnavailable, "keyring.kek_file", err, "cannot read the KEK file")
	}
	defer clear(raw)
	var doc kekFileDoc
	if err := json.Unmarshal(raw, &doc); err != nil || doc.Versions == nil {
		return kekFileDoc{}, domain.E(domain.KindUnavailable, "keyring.kek_file", "the KEK file is not valid")
	}
	return doc, nil
}

// writeKEKFile writes doc to path atomically with mode 0600: a temporary file in the same
// directory, fsync, then rename (or link, when exclusive, so an existing file is kept).
func writeKEKFile(path string, doc kekFileDoc, exclusive bool) error {
	raw, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	defer clear(raw)
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".kek-*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(append(raw, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if exclusive {
		if err := os.Link(tmp, path); err != nil {
			return fmt.Errorf("create %s: %w", filepath.Base(path), err)
		}
	} else if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
