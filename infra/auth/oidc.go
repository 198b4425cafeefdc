package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/arkiv/arkiv/domain"
	"github.com/coreos/go-oidc/v3/oidc"
)

// signingAlgs are the JWS algorithms accepted on OIDC tokens: asymmetric only, so neither
// "none" nor an HMAC keyed with a public key can pass.
var signingAlgs = []string{
	oidc.RS256, oidc.RS384, oidc.RS512, oidc.ES256, oidc.ES384, oidc.ES512,
	oidc.PS256, oidc.PS384, oidc.PS512, oidc.EdDSA,
}

// discoveryRetry is how long a failed discovery of an issuer is remembered before the next
// token from that issuer tries again.
const discoveryRetry = 10 * time.Second

// Validate checks a provider's configuration: an absolute https issuer URL (http only on a
// loopback host, for local identity providers and tests) and an audience.
func (p OIDCProvider) Validate() error {
	const op = "auth.OIDCProvider.Validate"
	u, err := url.Parse(p.Issuer)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return domain.E(domain.KindInvalid, op, "OIDC issuer must be an absolute URL without credentials, query or fragment")
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname())) {
		return domain.E(domain.KindInvalid, op, "OIDC issuer must use https (http only on a loopback address)")
	}
	if strings.TrimSpace(p.Audience) == "" || len(p.Audience) > 512 {
		return domain.E(domain.KindInvalid, op, "OIDC audience must be 1 to 512 characters")
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// oidcProviders caches one discovered provider per issuer, created on first use, with one
// verifier per audience. The JWKS is fetched by go-oidc's remote key set, which caches keys and
// refetches when a token names an unknown key id (key rotation).
type oidcProviders struct {
	clock    domain.Clock
	client   *http.Client
	mu       sync.Mutex
	byIssuer map[string]*oidcIssuer
}

type oidcIssuer struct {
	mu        sync.Mutex
	provider  *oidc.Provider
	err       error
	failedAt  time.Time
	verifiers map[string]*oidc.IDTokenVerifier
}

func newOIDCProviders(clock domain.Clock, client *http.Client) *oidcProviders {
	return &oidcProviders{clock: clock, client: client, byIssuer: map[string]*oidcIssuer{}}
}

// verifier returns the verifier of (issuer, audience), discovering the issuer if needed.
func (ps *oidcProviders) verifier(ctx context.Context, issuer, audience string) (*oidc.IDTokenVerifier, error) {
	_, v, err := ps.verifierFor(ctx, issuer, "", audience)
	return v, err
}

// issuerOf returns the cache entry of the issuer discovered at issuer whose tokens carry
// tokenIssuer as "iss" (empty: issuer itself; set only for a multi-tenant issuer, whose
// discovery document names "{tenantid}" instead of a tenant).
func (ps *oidcProviders) issuerOf(issuer, tokenIssuer string) *oidcIssuer {
	key := issuer + "\x00" + tokenIssuer
	ps.mu.Lock()
	defer ps.mu.Unlock()
	is, ok := ps.byIssuer[key]
	if !ok {
		is = &oidcIssuer{verifiers: map[string]*oidc.IDTokenVerifier{}}
		ps.byIssuer[key] = is
	}
	return is
}

// provider returns the discovered provider of issuer (see issuerOf for tokenIssuer).
func (ps *oidcProviders) provider(ctx context.Context, issuer, tokenIssuer string) (*oidc.Provider, *oidcIssuer, error) {
	is := ps.issuerOf(issuer, tokenIssuer)
	is.mu.Lock()
	defer is.mu.Unlock()
	now := ps.clock.Now()
	if is.provider == nil {
		if is.err != nil && now.Sub(is.failedAt) < discoveryRetry {
			return nil, nil, is.err
		}
		// The HTTP client travels in the context; go-oidc keeps it (without the request's
		// cancellation) for later JWKS fetches.
		dctx := oidc.ClientContext(context.WithoutCancel(ctx), ps.client)
		if tokenIssuer != "" {
			// A multi-tenant issuer: discovery at issuer, tokens verified against the
			// tenant's issuer the proof of control pinned.
			dctx = oidc.InsecureIssuerURLContext(dctx, tokenIssuer)
		}
		p, err := oidc.NewProvider(dctx, issuer)
		if err != nil {
			is.err, is.failedAt = err, now
			return nil, nil, err
		}
		is.provider, is.err = p, nil
	}
	return is.provider, is, nil
}

// verifierFor returns the provider and the ID-token verifier of (issuer, audience).
func (ps *oidcProviders) verifierFor(ctx context.Context, issuer, tokenIssuer, audience string) (*oidc.Provider, *oidc.IDTokenVerifier, error) {
	p, is, err := ps.provider(ctx, issuer, tokenIssuer)
	if err != nil {
		return nil, nil, err
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	v, ok := is.verifiers[audience]
	if !ok {
		v = p.Verifier(&oidc.Config{
			ClientID:             audience,
			SupportedSigningAlgs: signingAlgs,
			Now:                  ps.clock.Now,
		})
		is.verifiers[audience] = v
	}
	return p, v, nil
}

// routingClaims are read from a token before its signature is checked, only to find the
// organisation whose provider must verify it.
type routingClaims struct {
	Issuer   string   `json:"iss"`
	Audience audience `json:"aud"`
}

type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*a = audience{s}
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return err
	}
	*a = l
	return nil
}

func unverifiedRouting(raw string) (routingClaims, error) {
	var c routingClaims
	err := unverifiedClaims(raw, &c)
	return c, err
}

// unverifiedClaims decodes the payload of a compact JWS without checking its signature.
func unverifiedClaims(raw string, into any) error {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return errors.New("not a compact JWS")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return err
	}
	return json.Unmarshal(payload, into)
}

// OIDCNotAccepted is the one message of every refused OIDC token.
const OIDCNotAccepted = "the token is not accepted"

// tokenClaims are the claims read from a verified token.
type tokenClaims struct {
	Subject       string   `json:"sub"`
	Email         string   `json:"email"`
	EmailVerified *bool    `json:"email_verified"`
	AMR           []string `json:"amr"`
	ACR           string   `json:"acr"`
}

// authenticateOIDC routes the token to its organisation by issuer (and audience, when several
// organisations share an issuer), verifies it with that organisation's provider (JWKS
// signature, issuer, audience, expiry and not-before), enforces MFA when the organisation
// requires it, and maps the identity to an Arkiv user.
func (a *Authenticator) authenticateOIDC(ctx context.Context, raw string) (Principal, error) {
	const op = "auth.oidc"
	// Every refusal is the same to the caller, whatever the reason (an issuer or audience no
	// organisation configured, an unreachable JWKS, a bad signature, no MFA, no user): an
	// unauthenticated caller must not learn which issuers are configured. The reason is kept
	// as the error's cause (for the server log), never in its message.
	refuse := func(reason string, cause error) error {
		if cause == nil {
			cause = errors.New(reason)
		} else {
			cause = fmt.Errorf("%s: %w", reason, cause)
		}
		return domain.Wrap(domain.KindUnauthenticated, op, cause, OIDCNotAccepted)
	}
	rc, err := unverifiedRouting(raw)
	// A NUL cannot be in an issuer URL, nor in the Postgres text it is looked up as.
	if err != nil || rc.Issuer == "" || strings.ContainsRune(rc.Issuer, 0) {
		return Principal{}, refuse("malformed token", nil)
	}
	bindings, err := a.cfg.Settings.OIDCProvidersByIssuer(ctx, rc.Issuer)
	if err != nil {
		return Principal{}, domain.Wrap(domain.KindUnavailable, op, err, "identity providers cannot be checked right now")
	}
	if len(bindings) == 0 {
		return Principal{}, refuse("token issuer is not accepted", nil)
	}
	var match []OIDCBinding
	for _, b := range bindings {
		if slices.Contains(rc.Audience, b.Provider.Audience) {
			match = append(match, b)
		}
	}
	switch len(match) {
	case 0:
		return Principal{}, refuse("token audience is not accepted", nil)
	case 1:
	default:
		return Principal{}, refuse("token audience names several organisations", nil)
	}
	b := match[0]
	v, err := a.oidc.verifier(ctx, b.Provider.Issuer, b.Provider.Audience)
	if err != nil {
		return Principal{}, refuse("the identity provider cannot be reached", err)
	}
	tok, err := v.Verify(ctx, raw)
	if err != nil {
		var expired *oidc.TokenExpiredError
		if errors.As(err, &expired) {
			return Principal{}, refuse("token has expired", err)
		}
		return Principal{}, refuse("token is not valid", err)
	}
	var c tokenClaims
	if err := tok.Claims(&c); err != nil || c.Subject == "" {
		return Principal{}, refuse("token has no usable subject", err)
	}
	mfa := showsMFA(c, b.Provider)
	if b.MFARequired && !mfa {
		return Principal{}, refuse("multi-factor authentication required", nil)
	}
	// The e-mail address identifies a user only when the provider says it verified it.
	email := ""
	if c.EmailVerified != nil && *c.EmailVerified {
		email = c.Email
	}
	userID, err := a.cfg.OIDCUsers.ResolveOIDCUser(ctx, b.OrganizationID, tok.Issuer, c.Subject, email)
	if err != nil {
		if k := domain.KindOf(err); k == domain.KindNotFound || k == domain.KindForbidden || k == domain.KindUnauthenticated {
			return Principal{}, refuse("no active Arkiv user for this identity", err)
		}
		return Principal{}, domain.Wrap(domain.KindUnavailable, op, err, "users cannot be resolved right now")
	}
	if userID == "" {
		return Principal{}, refuse("no active Arkiv user for this identity", nil)
	}
	return Principal{UserID: userID, OrganizationID: b.OrganizationID, Method: MethodOIDC, MFA: mfa}, nil
}

// showsMFA reports whether the token's amr has an allowed value or its acr an accepted one.
func showsMFA(c tokenClaims, p OIDCProvider) bool {
	amr, acr := p.AllowedAMR, p.AcceptedACR
	if len(amr) == 0 {
		amr = DefaultAllowedAMR
	}
	if len(acr) == 0 {
		acr = DefaultAcceptedACR
	}
	for _, m := range c.AMR {
		if slices.Contains(amr, m) {
			return true
		}
	}
	return c.ACR != "" && slices.Contains(acr, c.ACR)
}
