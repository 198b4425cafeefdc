package auth

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/arkiv/arkiv/domain"
)

// maxProofAge is how old a proof-of-control token may be (by its "iat").
const maxProofAge = time.Hour

// tenantPlaceholder stands for the tenant in a multi-tenant issuer's discovery document
// (Entra ID's "common" and "organizations").
const tenantPlaceholder = "{tenantid}"

// IdentityProof is what a verified proof-of-control token says (commands.IdentityProof).
type IdentityProof struct {
	Subject     string
	Email       string
	TenantID    string
	TokenIssuer string
}

// ProofVerifier verifies proof-of-control tokens (see VerifyIdentityProof). It is safe for
// concurrent use.
type ProofVerifier struct {
	oidc  *oidcProviders
	clock domain.Clock
}

// NewProofVerifier returns a verifier that fetches discovery documents and keys with client
// (nil: a 10-second timeout) and tells token ages by clock.
func NewProofVerifier(client *http.Client, clock domain.Clock) *ProofVerifier {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	return &ProofVerifier{oidc: newOIDCProviders(clock, client), clock: clock}
}

// VerifyIdentityProof is ProofVerifier.VerifyIdentityProof with the Authenticator's
// discovery cache.
func (a *Authenticator) VerifyIdentityProof(ctx context.Context, issuer, audience, token string) (IdentityProof, error) {
	return a.proofs.VerifyIdentityProof(ctx, issuer, audience, token)
}

// VerifyIdentityProof verifies a token that issuer issued for audience, presented by an
// Admin configuring the provider as proof that they control it: its signature against the
// issuer's JWKS (found by discovery), "iss", "aud", expiry, and an "iat" within the last
// hour. For a multi-tenant issuer — one whose discovery document names "{tenantid}" as its
// issuer, as Entra ID's "common" and "organizations" do — the token must carry a "tid", and
// its "iss" must be the document's issuer for that tenant; both are returned, to be pinned.
// The e-mail address is returned only when the token says it is verified. A token that
// does not verify is domain.KindForbidden; an issuer that cannot be reached
// domain.KindUnavailable.
func (v *ProofVerifier) VerifyIdentityProof(ctx context.Context, issuer, audience, token string) (IdentityProof, error) {
	const op = "auth.VerifyIdentityProof"
	refuse := func(cause error) (IdentityProof, error) {
		if cause == nil {
			cause = errors.New("proof refused")
		}
		return IdentityProof{}, domain.Wrap(domain.KindForbidden, op, cause,
			"the proof token is not a valid token of this issuer for this audience")
	}
	if len(token) > maxTokenLen || strings.Count(token, ".") != 2 {
		return refuse(nil)
	}
	tokenIssuer, tenant := "", ""
	_, _, err := v.oidc.provider(ctx, issuer, "")
	var mismatch *oidc.IssuerMismatchError
	switch {
	case errors.As(err, &mismatch) && strings.Contains(mismatch.Discovered, tenantPlaceholder):
		var c struct {
			Issuer string `json:"iss"`
			Tenant string `json:"tid"`
		}
		if err := unverifiedClaims(token, &c); err != nil || c.Tenant == "" || strings.ContainsAny(c.Tenant, "/?#{}") {
			return refuse(errors.New("a multi-tenant issuer's proof must carry its tenant (tid)"))
		}
		tenant, tokenIssuer = c.Tenant, strings.ReplaceAll(mismatch.Discovered, tenantPlaceholder, c.Tenant)
		if c.Issuer != tokenIssuer {
			return refuse(errors.New("the token's issuer is not its tenant's"))
		}
	case err != nil:
		return IdentityProof{}, domain.Wrap(domain.KindUnavailable, op, err, "the identity provider cannot be reached to check the proof")
	}
	_, ver, err := v.oidc.verifierFor(ctx, issuer, tokenIssuer, audience)
	if err != nil {
		return IdentityProof{}, domain.Wrap(domain.KindUnavailable, op, err, "the identity provider cannot be reached to check the proof")
	}
	tok, err := ver.Verify(ctx, token)
	if err != nil {
		return refuse(err)
	}
	var c signInClaims
	if err := tok.Claims(&c); err != nil || c.Subject == "" {
		return refuse(err)
	}
	if tenant != "" && c.Tenant != tenant {
		return refuse(errors.New("tenant mismatch"))
	}
	if age := v.clock.Now().Sub(tok.IssuedAt); tok.IssuedAt.IsZero() || age > maxProofAge {
		return refuse(errors.New("the proof token is older than an hour"))
	}
	p := IdentityProof{Subject: c.Subject, TenantID: tenant, TokenIssuer: tokenIssuer}
	if c.EmailVerified != nil && *c.EmailVerified {
		p.Email = c.Email
	}
	return p, nil
}
