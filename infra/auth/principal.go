// Package auth authenticates the callers of Arkiv's HTTP API: bearer API keys (looked up by
// SHA-256 hash, compared in constant time, use recorded at most once a minute per key), OIDC
// access tokens validated against each organisation's identity provider (issuer, audience,
// JWKS signature, expiry, and MFA from the amr/acr claims when the organisation requires it),
// and local accounts with argon2id passwords whose login returns a session token that expires
// after the organisation's idle timeout. Failed logins are rate limited in Postgres, so the
// limit holds across API replicas, and reported to a LoginAuditor.
//
// The package never logs a password, a token, an API key or a login name: logs carry only
// key ids, organisation ids, methods and error kinds.
package auth

import (
	"context"
	"time"
)

// Method is how a principal authenticated.
type Method string

// The authentication methods.
const (
	MethodAPIKey  Method = "API_KEY"
	MethodOIDC    Method = "OIDC"
	MethodSession Method = "SESSION"
)

// Principal is the authenticated caller of one request.
type Principal struct {
	// UserID is the Arkiv user acting: the person who logged in, or the owner of a user's
	// API key. It is empty for an assistant's API key.
	UserID string
	// AssistantID is the owning assistant of an assistant's API key, empty otherwise.
	AssistantID string
	// OrganizationID is the organisation the credential belongs to.
	OrganizationID string
	// Method is how the caller authenticated.
	Method Method
	// KeyID is the API key's id when Method is MethodAPIKey, empty otherwise.
	KeyID string
	// MFA reports whether the credential proves a multi-factor authentication: true only for
	// an OIDC token whose amr or acr claim shows one.
	MFA bool
	// AuthenticatedAt is when the password behind a session was checked (the session's
	// creation); zero for API keys and OIDC tokens.
	AuthenticatedAt time.Time
	// PasswordChangeRequired marks a session opened with a password an Admin set for the
	// user: the API lets it change the password and log out, nothing else.
	PasswordChangeRequired bool
}

type principalKey struct{}

// WithPrincipal returns a context carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal of ctx and whether there is one; an anonymous request has
// none.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

type noTouchKey struct{}

// WithoutTouch returns a context in which authenticating a session does not count as its
// use: a WebSocket's periodic re-check of its credential, so an open socket alone does not
// keep a session alive past the organisation's idle timeout (an operation started over it
// does).
func WithoutTouch(ctx context.Context) context.Context {
	return context.WithValue(ctx, noTouchKey{}, true)
}

func touches(ctx context.Context) bool {
	v, _ := ctx.Value(noTouchKey{}).(bool)
	return !v
}
