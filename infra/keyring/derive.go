package keyring

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"strconv"

	"github.com/arkiv/arkiv/domain"
)

// DeriveKey derives a 32-byte key from KEK version version by HKDF-SHA256 with salt and
// info. info must name the purpose (e.g. "arkiv backup v1"): distinct labels give
// independent keys, none of which reveals the KEK or the DEKs it wraps. Backups are encrypted
// under such a key, so a backup is readable only with the KEK file and the KEK itself never
// needs to be in one.
func (k *FileKEK) DeriveKey(version uint32, salt []byte, info string) ([]byte, error) {
	const op = "keyring.derive_key"
	if info == "" {
		return nil, domain.E(domain.KindInternal, op, "a derived key needs an info label")
	}
	k.mu.Lock()
	doc, err := k.readDocLocked()
	k.mu.Unlock()
	if err != nil {
		return nil, err
	}
	b64, ok := doc.Versions[strconv.FormatUint(uint64(version), 10)]
	if !ok {
		return nil, domain.Errorf(domain.KindUnavailable, op, "KEK version %d is not in the KEK file", version)
	}
	secret, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(secret) != 32 {
		return nil, domain.Errorf(domain.KindUnavailable, op, "KEK version %d is not 32 base64 bytes", version)
	}
	defer clear(secret)
	key, err := hkdf.Key(sha256.New, secret, salt, info, 32)
	if err != nil {
		return nil, domain.Wrap(domain.KindInternal, op, err, "")
	}
	return key, nil
}
