package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/arkiv/arkiv/domain"
)

// Config wires an Authenticator. The stores, resolvers and the login key are required; the
// rest have defaults. A *Postgres implements APIKeys, Settings, Sessions, Credentials and
// Attempts.
type Config struct {
	APIKeys     APIKeyStore
	Usage       UsageRecorder
	Settings    OrgSettings
	OIDCUsers   OIDCUserResolver
	Sessions    SessionStore
	Credentials CredentialStore
	Attempts    AttemptStore
	Auditor     LoginAuditor
	// SignIns and OIDCLogins serve sign-in through identity providers (SignInHandler);
	// without them the handler refuses every sign-in. A *Postgres implements OIDCLoginStore.
	SignIns    SignInDirectory
	OIDCLogins OIDCLoginStore
	// Users tells whether a user may still act; a deactivated or erased user's sessions and
	// API keys are refused, and their password opens no session.
	Users UserDirectory

	// LoginKey (at least 32 bytes, secret, the same on every replica) keys the HMAC that turns
	// login names and remote addresses into digests for storage, rate limiting and audit.
	// Losing it makes every stored local credential unreachable.
	LoginKey []byte

	// Clock tells the time authentication depends on (session idle timeouts, token expiry,
	// rate-limit windows, API-key use throttling); default domain.SystemClock.
	Clock domain.Clock
	// HTTPClient fetches OIDC discovery documents and JWKS; default: a 10-second timeout.
	HTTPClient *http.Client
	// Log receives failures without secrets; default: discarded.
	Log *slog.Logger

	// Argon2 are the parameters of new password hashes; zero means DefaultArgon2Params.
	// Logins re-hash passwords whose stored parameters are weaker.
	Argon2 Argon2Params
	// MaxConcurrentHashes bounds simultaneous argon2id computations (each takes Argon2.Memory
	// KiB); default runtime.NumCPU().
	MaxConcurrentHashes int

	// UseInterval is the least time between two recorded uses of one API key in this process;
	// default one minute.
	UseInterval time.Duration
	// TouchInterval is the least time between two writes of a session's last_seen_at; default
	// 30 seconds. A session may therefore expire up to TouchInterval before its idle timeout
	// after its last request.
	TouchInterval time.Duration

	// Failed logins slow down further attempts; nobody can lock a login out for good.
	// Failures are counted within FailureWindow (default 15 minutes) per key:
	//
	//   - per (login, remote address): after PairFreeFailures failures (default 3) each
	//     further attempt from that address must wait PairBaseDelay (default 1s), doubling
	//     with each failure up to PairMaxDelay (default 5 minutes) after the latest failure;
	//   - per login, from every address: after LoginFailureLimit failures (default 10) the
	//     same progression, from LoginBaseDelay (default 1s), but never more than the ceiling
	//     LoginMaxDelay (default 30s): attackers spread over many addresses are slowed to a
	//     few guesses a minute, and the owner of the login waits at most the ceiling;
	//   - per remote address, over every login: IPFailureLimit failures (default 50) refuse
	//     the address until the oldest leaves the window.
	//
	// A refused attempt is not checked and not counted, so it does not lengthen a delay.
	PairFreeFailures  int
	PairBaseDelay     time.Duration
	PairMaxDelay      time.Duration
	LoginFailureLimit int
	LoginBaseDelay    time.Duration
	LoginMaxDelay     time.Duration
	IPFailureLimit    int
	FailureWindow     time.Duration
}

// Authenticator checks the credentials of HTTP requests and performs local logins. It is safe
// for concurrent use.
type Authenticator struct {
	cfg      Config
	clock    domain.Clock
	log      *slog.Logger
	hashSem  chan struct{}
	dummyPHC string

	useMu   sync.Mutex
	lastUse map[string]time.Time

	oidc   *oidcProviders
	proofs *ProofVerifier
}

// ErrNoCredentials is returned by Authenticate for a request without an Authorization header:
// the request is anonymous.
var ErrNoCredentials = domain.E(domain.KindUnauthenticated, "auth.Authenticate", "authentication required")

// New checks cfg and returns an Authenticator.
func New(cfg Config) (*Authenticator, error) {
	const op = "auth.New"
	missing := func(what string) error { return domain.Errorf(domain.KindInvalid, op, "%s is required", what) }
	switch {
	case cfg.APIKeys == nil:
		return nil, missing("APIKeys")
	case cfg.Usage == nil:
		return nil, missing("Usage")
	case cfg.Settings == nil:
		return nil, missing("Settings")
	case cfg.OIDCUsers == nil:
		return nil, missing("OIDCUsers")
	case cfg.Sessions == nil:
		return nil, missing("Sessions")
	case cfg.Credentials == nil:
		return nil, missing("Credentials")
	case cfg.Attempts == nil:
		return nil, missing("Attempts")
	case cfg.Auditor == nil:
		return nil, missing("Auditor")
	case cfg.Users == nil:
		return nil, missing("Users")
	case len(cfg.LoginKey) < 32:
		return nil, domain.E(domain.KindInvalid, op, "LoginKey must be at least 32 bytes")
	}
	cfg.LoginKey = append([]byte(nil), cfg.LoginKey...)
	if cfg.Clock == nil {
		cfg.Clock = domain.SystemClock{}
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Argon2 == (Argon2Params{}) {
		cfg.Argon2 = DefaultArgon2Params
	}
	if cfg.MaxConcurrentHashes <= 0 {
		cfg.MaxConcurrentHashes = runtime.NumCPU()
	}
	if cfg.UseInterval <= 0 {
		cfg.UseInterval = time.Minute
	}
	if cfg.TouchInterval <= 0 {
		cfg.TouchInterval = 30 * time.Second
	}
	if cfg.PairFreeFailures <= 0 {
		cfg.PairFreeFailures = 3
	}
	if cfg.PairBaseDelay <= 0 {
		cfg.PairBaseDelay = time.Second
	}
	if cfg.PairMaxDelay <= 0 {
		cfg.PairMaxDelay = 5 * time.Minute
	}
	if cfg.LoginFailureLimit <= 0 {
		cfg.LoginFailureLimit = 10
	}
	if cfg.LoginBaseDelay <= 0 {
		cfg.LoginBaseDelay = time.Second
	}
	if cfg.LoginMaxDelay <= 0 {
		cfg.LoginMaxDelay = 30 * time.Second
	}
	if cfg.IPFailureLimit <= 0 {
		cfg.IPFailureLimit = 50
	}
	if cfg.FailureWindow <= 0 {
		cfg.FailureWindow = 15 * time.Minute
	}
	// A hash of a random password with the current parameters: unknown logins are verified
	// against it so they take as long as known ones.
	dummy, err := HashPassword(randomToken(""), cfg.Argon2)
	if err != nil {
		return nil, err
	}
	a := &Authenticator{
		cfg:      cfg,
		clock:    cfg.Clock,
		log:      cfg.Log,
		hashSem:  make(chan struct{}, cfg.MaxConcurrentHashes),
		dummyPHC: dummy,
		lastUse:  map[string]time.Time{},
	}
	a.oidc = newOIDCProviders(cfg.Clock, cfg.HTTPClient)
	a.proofs = &ProofVerifier{oidc: a.oidc, clock: cfg.Clock}
	return a, nil
}

// Authenticate checks the request's "Authorization: Bearer <token>" header. Without the header
// it returns ErrNoCredentials; with an invalid credential a domain.KindUnauthenticated error
// (or KindUnavailable when a store cannot be reached).
func (a *Authenticator) Authenticate(ctx context.Context, r *http.Request) (Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return Principal{}, ErrNoCredentials
	}
	scheme, token, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return Principal{}, domain.E(domain.KindUnauthenticated, "auth.Authenticate", "unsupported authorization scheme: use Bearer")
	}
	return a.AuthenticateToken(ctx, strings.TrimSpace(token))
}

// maxTokenLen bounds the bearer tokens looked at.
const maxTokenLen = 16 << 10

// AuthenticateToken checks a bearer token: "arkiv_…" is an API key, "as_…" a session token, and a
// token with two dots an OIDC access token (JWT). It is Authenticate without the header, for
// transports such as a WebSocket init payload.
func (a *Authenticator) AuthenticateToken(ctx context.Context, token string) (Principal, error) {
	const op = "auth.AuthenticateToken"
	var (
		p      Principal
		err    error
		method Method
	)
	switch {
	case token == "" || len(token) > maxTokenLen:
		err = domain.E(domain.KindUnauthenticated, op, "unrecognised bearer token")
	case strings.HasPrefix(token, APIKeyPrefix):
		method = MethodAPIKey
		p, err = a.authenticateAPIKey(ctx, token)
	case strings.HasPrefix(token, SessionPrefix):
		method = MethodSession
		p, err = a.authenticateSession(ctx, token)
	case strings.Count(token, ".") == 2:
		method = MethodOIDC
		p, err = a.authenticateOIDC(ctx, token)
	default:
		err = domain.E(domain.KindUnauthenticated, op, "unrecognised bearer token")
	}
	if err == nil && method == MethodSession {
		// OIDC identities resolve to active users only, user API keys are checked before
		// their use is recorded; sessions are checked here, so deactivation and erasure end
		// them without waiting for a revocation.
		err = a.checkActive(ctx, op, p.OrganizationID, p.UserID)
	}
	if err != nil {
		a.logFailure(ctx, method, err)
		return Principal{}, err
	}
	return p, nil
}

// checkActive refuses a user who is deactivated, erased or unknown in the organisation.
func (a *Authenticator) checkActive(ctx context.Context, op, orgID, userID string) error {
	active, err := a.cfg.Users.UserActive(ctx, orgID, userID)
	if err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err, "users cannot be checked right now")
	}
	if !active {
		return domain.E(domain.KindUnauthenticated, op, "user is not active")
	}
	return nil
}

// logFailure logs a refused credential: the method, the error kind and the public message,
// and the internal cause for unavailable or internal errors. Never the token.
func (a *Authenticator) logFailure(ctx context.Context, m Method, err error) {
	k := domain.KindOf(err)
	attrs := []any{"method", string(m), "kind", k.String(), "reason", domain.PublicMessage(err)}
	level := slog.LevelInfo
	if k != domain.KindUnauthenticated && k != domain.KindForbidden {
		level = slog.LevelWarn
		attrs = append(attrs, "error", err.Error())
	}
	a.log.Log(ctx, level, "authentication refused", attrs...)
	if m == MethodOIDC && level == slog.LevelInfo && errors.Unwrap(err) != nil {
		// The library's reason (issuer or audience mismatch, signature, expiry) helps to
		// diagnose a provider's configuration; it names no subject and holds no token.
		a.log.DebugContext(ctx, "OIDC token refused", "cause", errors.Unwrap(err).Error())
	}
}

// Middleware authenticates each request: a valid credential puts its Principal in the request
// context (see FromContext); a request without credentials passes through anonymously (the
// GraphQL layer refuses it per field); an invalid credential is answered with 401 and a
// GraphQL-shaped JSON error {"errors":[{"message":…,"extensions":{"code":"UNAUTHENTICATED"}}]}
// (503 UNAVAILABLE when a store cannot be reached).
func (a *Authenticator) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := a.Authenticate(r.Context(), r)
		if errors.Is(err, ErrNoCredentials) {
			next.ServeHTTP(w, r)
			return
		}
		if err != nil {
			WriteError(w, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
	})
}

// WriteError answers an HTTP request with err as a GraphQL-shaped JSON error: the public
// message and the kind's code in extensions.code. Unauthenticated is 401 (with a
// WWW-Authenticate challenge), forbidden 403, invalid 400, unavailable 503, anything else 500.
func WriteError(w http.ResponseWriter, err error) {
	k := domain.KindOf(err)
	status := http.StatusInternalServerError
	switch k {
	case domain.KindUnauthenticated:
		status = http.StatusUnauthorized
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	case domain.KindForbidden:
		status = http.StatusForbidden
	case domain.KindInvalid:
		status = http.StatusBadRequest
	case domain.KindUnavailable:
		status = http.StatusServiceUnavailable
	}
	if d, ok := RetryAfter(err); ok {
		w.Header().Set("Retry-After", retryAfterSeconds(d))
	}
	type ext struct {
		Code string `json:"code"`
	}
	type gqlErr struct {
		Message    string `json:"message"`
		Extensions ext    `json:"extensions"`
	}
	body, _ := json.Marshal(struct {
		Errors []gqlErr `json:"errors"`
	}{[]gqlErr{{Message: domain.PublicMessage(err), Extensions: ext{Code: k.String()}}}})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// digest returns HMAC-SHA-256(LoginKey, parts joined by NUL).
func (a *Authenticator) digest(parts ...string) [32]byte {
	m := hmac.New(sha256.New, a.cfg.LoginKey)
	for i, p := range parts {
		if i > 0 {
			m.Write([]byte{0})
		}
		m.Write([]byte(p))
	}
	var d [32]byte
	copy(d[:], m.Sum(nil))
	return d
}

// loginDigest is the digest of a login name in an organisation.
func (a *Authenticator) loginDigest(orgID, login string) [32]byte {
	return a.digest("login", orgID, normaliseLogin(login))
}

// LoginDigest returns the hex digest that stands for login in orgID in storage and in
// LoginAuditor calls: HMAC-SHA-256 under Config.LoginKey of the organisation and the
// normalised (trimmed, lower-cased) login name.
func (a *Authenticator) LoginDigest(orgID, login string) string {
	d := a.loginDigest(orgID, login)
	return hexString(d[:])
}

// acquireHash waits for a hashing slot; release with releaseHash.
func (a *Authenticator) acquireHash(ctx context.Context) error {
	select {
	case a.hashSem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return domain.Wrap(domain.KindUnavailable, "auth.hash", ctx.Err(), "request cancelled")
	}
}

func (a *Authenticator) releaseHash() { <-a.hashSem }

// RemoteIP returns the address of the request's peer (r.RemoteAddr without the port) for
// Login's rate limiting. Behind a reverse proxy, pass the client address the proxy vouches
// for instead; X-Forwarded-For is not trusted here because any client can set it.
func RemoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
