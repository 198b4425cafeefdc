package auth

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strconv"
	"time"

	"github.com/arkiv/arkiv/domain"
)

// Bearer token prefixes. API keys are made by domain.GenerateAPIKey ("arkiv_" and 43 base64url
// characters); session tokens are made by Login ("as_" and 43 base64url characters).
const (
	APIKeyPrefix  = "arkiv_"
	SessionPrefix = "as_"
)

// randomToken returns prefix followed by 32 random bytes in unpadded base64url.
func randomToken(prefix string) string {
	var b [32]byte
	// crypto/rand.Read never returns an error (Go 1.24+); it aborts the program instead.
	_, _ = rand.Read(b[:])
	return prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// wellFormedSession reports whether tok is shaped like a session token.
func wellFormedSession(tok string) bool {
	if len(tok) != len(SessionPrefix)+43 {
		return false
	}
	_, err := base64.RawURLEncoding.Strict().DecodeString(tok[len(SessionPrefix):])
	return err == nil
}

func hexString(b []byte) string { return hex.EncodeToString(b) }

// RateLimitedError is the cause inside the domain.KindForbidden error of a login refused for
// too many recent failures.
type RateLimitedError struct {
	// RetryAfter is how long until an attempt may succeed again.
	RetryAfter time.Duration
}

// Error implements error.
func (e *RateLimitedError) Error() string {
	return "too many failed attempts, retry after " + e.RetryAfter.Round(time.Second).String()
}

// RetryAfter returns how long a rate-limited caller must wait, when err is a rate-limit refusal.
func RetryAfter(err error) (time.Duration, bool) {
	var rl *RateLimitedError
	if errors.As(err, &rl) {
		return rl.RetryAfter, true
	}
	return 0, false
}

func retryAfterSeconds(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return strconv.FormatInt(s, 10)
}

// errRateLimited builds the refusal of a locked-out login.
func errRateLimited(op string, retry time.Duration) error {
	return domain.Wrap(domain.KindForbidden, op, &RateLimitedError{RetryAfter: retry}, "too many failed attempts, try again later")
}
