package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/arkiv/arkiv/domain"
	"golang.org/x/crypto/argon2"
)

// Argon2Params are the argon2id cost parameters of a password hash.
type Argon2Params struct {
	// Memory is the memory cost in KiB.
	Memory uint32
	// Time is the number of passes.
	Time uint32
	// Threads is the degree of parallelism.
	Threads uint8
	// SaltLen and KeyLen are the salt and derived key lengths in bytes.
	SaltLen, KeyLen uint32
}

// DefaultArgon2Params are the production parameters: 64 MiB, 3 passes, 2 lanes, 16-byte salt,
// 32-byte key (stronger than the RFC 9106 second recommendation and OWASP's minimum).
var DefaultArgon2Params = Argon2Params{Memory: 64 * 1024, Time: 3, Threads: 2, SaltLen: 16, KeyLen: 32}

// weakerThan reports whether a hash made with p should be re-made with q.
func (p Argon2Params) weakerThan(q Argon2Params) bool {
	return p.Memory < q.Memory || p.Time < q.Time || p.KeyLen < q.KeyLen || p.SaltLen < q.SaltLen
}

// HashPassword derives an argon2id hash of password with a fresh random salt and returns it as
// a PHC string: $argon2id$v=19$m=65536,t=3,p=2$<salt>$<hash> (unpadded standard base64).
func HashPassword(password string, p Argon2Params) (string, error) {
	const op = "auth.HashPassword"
	if p.Memory < 8*uint32(p.Threads) || p.Time < 1 || p.Threads < 1 || p.SaltLen < 8 || p.KeyLen < 16 {
		return "", domain.E(domain.KindInvalid, op, "argon2id parameters are too weak")
	}
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", domain.Wrap(domain.KindInternal, op, err, "read random salt")
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// decodePHC parses an argon2id PHC string.
func decodePHC(encoded string) (Argon2Params, []byte, []byte, error) {
	const op = "auth.decodePHC"
	bad := domain.E(domain.KindInternal, op, "stored password hash is not an argon2id PHC string")
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return Argon2Params{}, nil, nil, bad
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return Argon2Params{}, nil, nil, bad
	}
	var p Argon2Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return Argon2Params{}, nil, nil, bad
	}
	b64 := base64.RawStdEncoding.Strict()
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return Argon2Params{}, nil, nil, bad
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) == 0 || p.Time == 0 || p.Threads == 0 || p.Memory == 0 {
		return Argon2Params{}, nil, nil, bad
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	return p, salt, key, nil
}

// VerifyPassword reports whether password matches the PHC-encoded argon2id hash, comparing in
// constant time, and returns the hash's parameters so the caller can re-hash a password whose
// parameters are weaker than the current ones. A malformed hash is an error.
func VerifyPassword(password, encoded string) (bool, Argon2Params, error) {
	p, salt, key, err := decodePHC(encoded)
	if err != nil {
		return false, Argon2Params{}, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return subtle.ConstantTimeCompare(got, key) == 1, p, nil
}

// PasswordPolicy is an organisation's rule for local-account passwords.
type PasswordPolicy struct {
	// MinLength is the least number of characters (Unicode code points); 0 means 12.
	MinLength int `json:"minLength"`
	// MaxLength is the most number of characters; 0 means 256. It bounds hashing work.
	MaxLength int `json:"maxLength"`
	// RequireUpper, RequireLower, RequireDigit and RequireSymbol each demand at least one
	// character of that class.
	RequireUpper  bool `json:"requireUpper"`
	RequireLower  bool `json:"requireLower"`
	RequireDigit  bool `json:"requireDigit"`
	RequireSymbol bool `json:"requireSymbol"`
	// MaxAgeDays, when positive, is how many days a password lasts: a login with a password
	// set longer ago opens a session that may only set a new one (rotation). 0: no expiry.
	MaxAgeDays int `json:"maxAgeDays,omitempty"`
	// HistoryEntries, when positive, forbids reusing any of the account's last N passwords
	// (the current one included).
	HistoryEntries int `json:"historyEntries,omitempty"`
}

// Expired reports whether a password set at setAt has outlived the policy's MaxAgeDays at now.
func (p PasswordPolicy) Expired(setAt, now time.Time) bool {
	return p.MaxAgeDays > 0 && !setAt.IsZero() && now.Sub(setAt) >= time.Duration(p.MaxAgeDays)*24*time.Hour
}

// The policy defaults applied where a field is zero.
const (
	DefaultMinPasswordLength = 12
	DefaultMaxPasswordLength = 256
)

func (p PasswordPolicy) withDefaults() PasswordPolicy {
	if p.MinLength <= 0 {
		p.MinLength = DefaultMinPasswordLength
	}
	if p.MaxLength <= 0 {
		p.MaxLength = DefaultMaxPasswordLength
	}
	return p
}

// Check returns nil when password satisfies the policy, and otherwise a domain.KindInvalid error
// whose message lists every unmet rule. login (the account's login name, e.g. an e-mail
// address) must not appear in the password, case-insensitively, nor its local part before '@'
// when that part has at least 4 characters. The message never contains the password or login.
func (p PasswordPolicy) Check(password, login string) error {
	const op = "auth.PasswordPolicy.Check"
	p = p.withDefaults()
	var unmet []string
	n := utf8.RuneCountInString(password)
	if !utf8.ValidString(password) {
		unmet = append(unmet, "must be valid UTF-8 text")
	}
	if n < p.MinLength {
		unmet = append(unmet, fmt.Sprintf("at least %d characters", p.MinLength))
	}
	if n > p.MaxLength {
		unmet = append(unmet, fmt.Sprintf("at most %d characters", p.MaxLength))
	}
	var upper, lower, digit, symbol bool
	for _, r := range password {
		switch {
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsLower(r):
			lower = true
		case unicode.IsDigit(r):
			digit = true
		case unicode.IsPunct(r) || unicode.IsSymbol(r) || unicode.IsSpace(r):
			symbol = true
		}
	}
	if p.RequireUpper && !upper {
		unmet = append(unmet, "an upper-case letter")
	}
	if p.RequireLower && !lower {
		unmet = append(unmet, "a lower-case letter")
	}
	if p.RequireDigit && !digit {
		unmet = append(unmet, "a digit")
	}
	if p.RequireSymbol && !symbol {
		unmet = append(unmet, "a symbol")
	}
	if containsLogin(password, login) {
		unmet = append(unmet, "must not contain the login name")
	}
	if len(unmet) > 0 {
		return domain.E(domain.KindInvalid, op, "password does not meet the organisation's policy: "+strings.Join(unmet, "; "))
	}
	return nil
}

func containsLogin(password, login string) bool {
	pw := strings.ToLower(password)
	l := normaliseLogin(login)
	if l == "" {
		return false
	}
	if strings.Contains(pw, l) {
		return true
	}
	if at := strings.IndexByte(l, '@'); at >= 4 {
		return strings.Contains(pw, l[:at])
	}
	return false
}

// normaliseLogin trims and lower-cases a login name, so "Ada@Example.org " and
// "ada@example.org" are one account.
func normaliseLogin(login string) string {
	return strings.ToLower(strings.TrimSpace(login))
}
