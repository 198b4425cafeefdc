package keyring

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/arkiv/arkiv/domain"
)

// GenerateKEKFile writes a new key-encryption key file at path (mode 0600) holding one fresh
// 256-bit KEK as version 1. It refuses to overwrite an existing file (KindConflict): an
// operator who replaces a KEK file loses every key wrapped under it.
func GenerateKEKFile(path string) error {
	const op = "keyring.generate_kek"
	if path == "" {
		return domain.E(domain.KindInvalid, op, "no output file given")
	}
	if _, err := os.Stat(path); err == nil {
		return domain.E(domain.KindConflict, op, "the file already exists; refusing to overwrite a KEK")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err, "cannot create the KEK file's directory")
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return domain.Wrap(domain.KindInternal, op, err, "no randomness for a KEK")
	}
	doc := kekFileDoc{Current: 1, Versions: map[string]string{"1": base64.StdEncoding.EncodeToString(key)}}
	clear(key)
	if err := writeKEKFile(path, doc, true); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return domain.E(domain.KindConflict, op, "the file already exists; refusing to overwrite a KEK")
		}
		return domain.Wrap(domain.KindUnavailable, op, err, "cannot write the KEK file")
	}
	return nil
}
