package auth

import (
	"context"
	"time"
)

// APIKeyRecord is what the API-key read model knows about one key. The secret itself is never
// stored: only the SHA-256 hash of the whole key string.
type APIKeyRecord struct {
	KeyID          string
	OrganizationID string
	// OwnerKind is domain.KeyOwnerUser or domain.KeyOwnerAssistant; OwnerID is that user's or
	// assistant's id.
	OwnerKind string
	OwnerID   string
	// Hash is the SHA-256 of the whole key string ("arkiv_…"), see HashAPIKey.
	Hash [32]byte
	// Revoked reports that the key was revoked (or otherwise may no longer be used).
	Revoked bool
	// OwnerActive, when not nil, is what the UserDirectory would answer for the owning
	// user, read with the key in the same query (Postgres joins the users read model of
	// the same database); the Authenticator then does not ask the directory. Nil: ask it.
	OwnerActive *bool
}

// APIKeyStore finds API keys by the SHA-256 hash of the whole key. It returns a
// domain.KindNotFound error when no key has that hash.
type APIKeyStore interface {
	LookupAPIKey(ctx context.Context, hash [32]byte) (APIKeyRecord, error)
}

// UsageRecorder records that an API key was used, e.g. by appending an api_key.used event. The
// Authenticator calls it at most once per key per UseInterval (per process), so a busy key does
// not flood the event log. ctx carries the key's Principal (FromContext), so the command that
// records the use can run as the key's owner.
type UsageRecorder interface {
	RecordAPIKeyUse(ctx context.Context, keyID, orgID string) error
}

// OIDCUserResolver maps a verified OIDC identity to an Arkiv user of the organisation. It
// returns a domain.KindNotFound (or KindForbidden) error when the identity has no active user
// there; the Authenticator then refuses the token. email may be empty when the token has none.
type OIDCUserResolver interface {
	ResolveOIDCUser(ctx context.Context, orgID, issuer, subject, email string) (userID string, err error)
}

// UserDirectory tells whether a user may act: known in the organisation, not deactivated
// and not erased (the users read model). The Authenticator asks it on every request made
// with a session token or a user's API key, and before opening a session, so that a
// deactivated or erased user's credentials stop working as soon as the read model knows.
type UserDirectory interface {
	UserActive(ctx context.Context, orgID, userID string) (bool, error)
}

// LoginAuditor is told about every local login attempt, so the command layer can append
// access events. It never receives a password: loginDigest is the hex HMAC-SHA-256 of the
// organisation and the normalised login name (see Authenticator.LoginDigest), never the name.
type LoginAuditor interface {
	// LoginFailed reports a refused login; reason is one of the Failure* constants.
	LoginFailed(ctx context.Context, orgID, loginDigest, reason, remoteIP string)
	// LoginSucceeded reports a successful login of userID.
	LoginSucceeded(ctx context.Context, orgID, userID, loginDigest, remoteIP string)
}

// The reasons passed to LoginAuditor.LoginFailed.
const (
	// FailureUnknownLogin: no local account has this login in the organisation.
	FailureUnknownLogin = "unknown_login"
	// FailureBadPassword: the password does not match.
	FailureBadPassword = "bad_password"
	// FailureLockedOut: too many recent failures for this login or remote address; the
	// password was not checked.
	FailureLockedOut = "locked_out"
	// FailureMFARequired: the organisation requires multi-factor authentication, which local
	// accounts cannot provide.
	FailureMFARequired = "mfa_required"
	// FailureUnknownOrganization: the organisation has no authentication settings.
	FailureUnknownOrganization = "unknown_organization"
	// FailureInactiveUser: the password matches, but the user is deactivated or erased.
	FailureInactiveUser = "inactive_user"
)

// AuthSettings are an organisation's authentication policies.
type AuthSettings struct {
	// SessionIdleTimeout is how long a local-login session lives without use.
	SessionIdleTimeout time.Duration
	// Password is the local-account password policy.
	Password PasswordPolicy
	// MFARequired demands multi-factor authentication from every interactive login: OIDC
	// tokens must show it in amr or acr, and local (password-only) logins are refused.
	MFARequired bool
	// OIDC lists the identity providers whose tokens the organisation accepts.
	OIDC []OIDCProvider
}

// OIDCProvider is one identity provider an organisation trusts (Entra ID, Google Workspace,
// Keycloak, any OIDC provider with discovery).
type OIDCProvider struct {
	// Issuer is the exact "iss" value, e.g. "https://login.microsoftonline.com/<tenant>/v2.0";
	// its /.well-known/openid-configuration names the JWKS.
	Issuer string `json:"issuer"`
	// Audience is the "aud" value tokens must carry (the API's client id or app id URI).
	Audience string `json:"audience"`
	// AllowedAMR lists the amr values that show multi-factor authentication; empty means
	// DefaultAllowedAMR.
	AllowedAMR []string `json:"allowedAmr,omitempty"`
	// AcceptedACR lists the acr values that show multi-factor authentication; empty means
	// DefaultAcceptedACR.
	AcceptedACR []string `json:"acceptedAcr,omitempty"`
}

// DefaultAllowedAMR are the RFC 8176 (and common vendor) amr values that show a second factor.
var DefaultAllowedAMR = []string{"mfa", "otp", "hwk", "swk", "sc", "fido"}

// DefaultAcceptedACR are the acr values accepted as multi-factor when a provider names none.
var DefaultAcceptedACR = []string{"http://schemas.openid.net/pape/policies/2007/06/multi-factor"}

// OIDCBinding is one organisation's use of an issuer, found by the issuer.
type OIDCBinding struct {
	OrganizationID string
	MFARequired    bool
	Provider       OIDCProvider
}

// OrgSettings gives the authentication settings of organisations. AuthSettings returns a
// domain.KindNotFound error for an organisation without settings. OIDCProvidersByIssuer routes
// a token to its organisation: an issuer is configured by one organisation, or by several with
// different audiences.
type OrgSettings interface {
	AuthSettings(ctx context.Context, orgID string) (AuthSettings, error)
	OIDCProvidersByIssuer(ctx context.Context, issuer string) ([]OIDCBinding, error)
}

// Session is a local-login session. Only the SHA-256 of its token is stored.
type Session struct {
	TokenHash      [32]byte
	UserID         string
	OrganizationID string
	CreatedAt      time.Time
	LastSeenAt     time.Time
	IdleTimeout    time.Duration
	// Revoked reports a logged-out or revoked session.
	Revoked bool
	// PasswordChangeRequired marks a session opened with a password an Admin set: it may
	// only change the password (see Principal.PasswordChangeRequired).
	PasswordChangeRequired bool
	// MFA marks a session an identity provider's sign-in opened with multi-factor
	// authentication; EndSessionURL is that provider's end-session URL, offered at
	// sign-out (empty for local logins and providers without one).
	MFA           bool
	EndSessionURL string
}

// OIDCLogin is one authorization-code flow between the redirect to the identity provider
// and its callback. Only digests of the state and of the browser's binding cookie are
// stored.
type OIDCLogin struct {
	StateHash      [32]byte
	BrowserHash    [32]byte
	OrganizationID string
	Issuer         string
	Audience       string
	Nonce          string
	Verifier       string
	CreatedAt      time.Time
}

// OIDCLoginStore keeps sign-in flows. TakeOIDCLogin marks the flow of a state used at at
// and returns it; used reports a flow already taken before (a replayed callback); an
// unknown state is domain.KindNotFound.
type OIDCLoginStore interface {
	PutOIDCLogin(ctx context.Context, l OIDCLogin) error
	TakeOIDCLogin(ctx context.Context, stateHash [32]byte, at time.Time) (l OIDCLogin, used bool, err error)
}

// SignInProvider is an identity provider people of an organisation sign in through (the
// authorization code flow with PKCE): the issuer, the audience (the client id), the client
// secret (empty for a public client), the button's label, the MFA claims, and for a
// multi-tenant issuer the pinned tenant and the issuer its tokens carry.
type SignInProvider struct {
	// ID is the provider's id in sign-in URLs, set by Authenticator.SignInProviders: a
	// keyed digest of the issuer and audience, so it reveals neither (nor confirms a guess).
	ID           string
	Issuer       string
	Audience     string
	DisplayName  string
	ClientSecret string
	AllowedAMR   []string
	AcceptedACR  []string
	TenantID     string
	TokenIssuer  string
}

// Identity is a person an identity provider signed in: its verified claims.
type Identity struct {
	OrganizationID string
	Issuer         string
	Audience       string
	Subject        string
	// Email is set only when the provider verified it (email_verified: true).
	Email string
	Name  string
	// Groups are the values of the "groups" and "roles" claims.
	Groups []string
	MFA    bool
	// UserID is the active user the OIDCUserResolver found for the identity, empty for
	// none.
	UserID string
}

// SignInDirectory serves the sign-in flow: the providers of an organisation, and the user
// an identity stands for once it signed in (found, or created just in time, with the
// provider's group mapping applied). SignedIn returns a domain.KindNotFound error for a
// person who has no user and may not get one.
type SignInDirectory interface {
	SignInProviders(ctx context.Context, orgID string) ([]SignInProvider, error)
	SignedIn(ctx context.Context, id Identity) (userID string, err error)
}

// SessionStore keeps sessions. LookupSession returns a domain.KindNotFound error for an
// unknown hash. TouchSession moves last_seen_at forward to at (never backwards).
type SessionStore interface {
	CreateSession(ctx context.Context, s Session) error
	LookupSession(ctx context.Context, tokenHash [32]byte) (Session, error)
	TouchSession(ctx context.Context, tokenHash [32]byte, at time.Time) error
	RevokeSession(ctx context.Context, tokenHash [32]byte, at time.Time) error
	RevokeUserSessions(ctx context.Context, userID string, at time.Time) (int, error)
}

// Credential is a local account's password, found by the organisation and the login digest.
type Credential struct {
	OrganizationID string
	// Login is the HMAC-SHA-256 of the organisation and the normalised login name.
	Login  [32]byte
	UserID string
	// PasswordHash is an argon2id PHC string.
	PasswordHash string
	// UpdatedAt is when the password was set; re-hashing it with stronger parameters keeps
	// the time, so the policy's MaxAgeDays counts from the choice of the password.
	UpdatedAt time.Time
	// MustChange marks a password set by an Admin for someone else: the next login opens a
	// session that may only change it.
	MustChange bool
	// Rehash marks a PutCredential that only re-hashes the same password: it is not a new
	// entry of the password history.
	Rehash bool
}

// MaxPasswordHistory is how many past password hashes are kept per account: the bound of
// a policy's HistoryEntries.
const MaxPasswordHistory = 24

// CredentialStore keeps local-account passwords. LookupCredential returns a domain.KindNotFound
// error for an unknown login, UserCredential for a user without a local account.
// PutCredential sets the user's one credential, replacing an earlier login of the same user;
// a login held by another user is a domain.KindConflict. Unless Rehash is set, the new hash
// also becomes the newest entry of the user's password history (at most MaxPasswordHistory
// kept), which PasswordHistory returns newest first, at most n.
type CredentialStore interface {
	LookupCredential(ctx context.Context, orgID string, login [32]byte) (Credential, error)
	UserCredential(ctx context.Context, orgID, userID string) (Credential, error)
	PutCredential(ctx context.Context, c Credential) error
	PasswordHistory(ctx context.Context, userID string, n int) ([]string, error)
	DeleteCredential(ctx context.Context, userID string) error
}

// AttemptStore counts failed logins per key (a login digest or a remote-address digest) in
// shared storage, so the limits hold across API replicas.
type AttemptStore interface {
	// RecordFailure stores a failure at time at, and may drop this key's failures older than
	// prune.
	RecordFailure(ctx context.Context, key [32]byte, at, prune time.Time) error
	// Failures returns how many failures key has after since, the oldest and the latest of
	// them.
	Failures(ctx context.Context, key [32]byte, since time.Time) (n int, oldest, latest time.Time, err error)
	// ClearFailures forgets key's failures (after a successful login).
	ClearFailures(ctx context.Context, key [32]byte) error
}
