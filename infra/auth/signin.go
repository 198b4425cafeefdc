package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/arkiv/arkiv/domain"
)

// The sign-in flow's paths and limits.
const (
	// CallbackPath is the redirect URI's path every provider sends people back to.
	CallbackPath = "/auth/callback"
	// signInFlowTTL is how long a sign-in may take between the redirect and the callback.
	signInFlowTTL = 10 * time.Minute
	// flowCookie binds a flow to the browser that began it (SameSite=Lax: the provider's
	// redirect back is a cross-site navigation).
	flowCookie = "arkiv_oidc_flow"
)

// The reasons a provider sign-in is refused, as recorded in access.login_failed.v1.
const (
	FailureOIDCBadState      = "oidc_bad_state"
	FailureOIDCReplayedState = "oidc_replayed_state"
	FailureOIDCExpiredState  = "oidc_expired_state"
	FailureOIDCProviderError = "oidc_provider_error"
	FailureOIDCCodeRefused   = "oidc_code_refused"
	FailureOIDCBadIssuer     = "oidc_bad_issuer"
	FailureOIDCBadToken      = "oidc_bad_token"
	FailureOIDCBadNonce      = "oidc_bad_nonce"
	FailureOIDCBadTenant     = "oidc_bad_tenant"
	FailureOIDCMFARequired   = "oidc_mfa_required"
	FailureOIDCUnknownUser   = "oidc_unknown_user"
)

// SignInPages renders the ends of a sign-in: Done is given the new session's token (the
// console keeps it in its httpOnly, Secure, SameSite=Strict cookie and goes on), Failed
// answers a refusal with one message whatever the reason.
type SignInPages interface {
	SignedIn(w http.ResponseWriter, r *http.Request, token string)
	SignInFailed(w http.ResponseWriter, r *http.Request)
}

// SignInOptions configure SignInHandler.
type SignInOptions struct {
	// PublicURL is the server's external base URL (e.g. "https://arkiv.example.se"); the
	// redirect URI is PublicURL + CallbackPath. Empty derives it from each request (the
	// Host header, https under TLS).
	PublicURL string
	// Secure marks the flow cookie Secure (set it under TLS or behind a TLS proxy).
	Secure bool
	// Pages render the outcome.
	Pages SignInPages
	// PostLogoutURL is where providers send people after their end-session endpoint,
	// relative to the public URL (default "/console/sign-in?out=1").
	PostLogoutURL string
}

// SignInHandler serves the OpenID Connect authorization code flow with PKCE:
//
//   - GET /auth/{organizationId}/login[?provider=ID] redirects to the organisation's
//     provider (ID is SignInProvider.ID, needed when it has several) with a fresh state,
//     nonce and S256 code challenge, and binds the flow to the browser with a cookie;
//   - GET /auth/callback takes the flow of the state once (a replay is refused), checks the
//     browser's cookie and the flow's age, redeems the code with the PKCE verifier, verifies
//     the ID token (signature against the issuer's JWKS, iss, aud, expiry, nonce, the pinned
//     tenant) and the MFA the organisation requires, finds or creates the user through
//     Config.SignIns (which applies the group mapping) and opens a session.
//
// Every refusal gives the same page and is recorded in the organisation's access log with
// its reason; every success is recorded as a login.
func (a *Authenticator) SignInHandler(o SignInOptions) http.Handler {
	if o.PostLogoutURL == "" {
		o.PostLogoutURL = "/console/sign-in?out=1"
	}
	m := http.NewServeMux()
	m.HandleFunc("GET /auth/{org}/login", func(w http.ResponseWriter, r *http.Request) { a.beginSignIn(w, r, o) })
	m.HandleFunc("GET "+CallbackPath, func(w http.ResponseWriter, r *http.Request) { a.finishSignIn(w, r, o) })
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Referrer-Policy", "no-referrer")
		m.ServeHTTP(w, r)
	})
}

// SignInProviders returns the providers people of the organisation sign in through; none
// for an unknown organisation or a server without sign-in.
func (a *Authenticator) SignInProviders(ctx context.Context, orgID string) ([]SignInProvider, error) {
	if a.cfg.SignIns == nil {
		return nil, nil
	}
	ps, err := a.cfg.SignIns.SignInProviders(ctx, orgID)
	for i := range ps {
		d := a.digest("sign-in provider", orgID, ps[i].Issuer, ps[i].Audience)
		ps[i].ID = hexString(d[:8])
	}
	return ps, err
}

func publicBase(r *http.Request, o SignInOptions) string {
	if o.PublicURL != "" {
		return strings.TrimSuffix(o.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// flowOf reads the browser's flow cookie: the organisation and the binding secret.
func flowOf(r *http.Request) (org, secret string) {
	ck, err := r.Cookie(flowCookie)
	if err != nil {
		return "", ""
	}
	org, secret, _ = strings.Cut(ck.Value, ".")
	return org, secret
}

func (a *Authenticator) beginSignIn(w http.ResponseWriter, r *http.Request, o SignInOptions) {
	ctx := r.Context()
	org := r.PathValue("org")
	if a.cfg.SignIns == nil || a.cfg.OIDCLogins == nil || domain.ValidateID("organisation id", org) != nil {
		o.Pages.SignInFailed(w, r)
		return
	}
	ps, err := a.SignInProviders(ctx, org)
	if err != nil {
		a.log.WarnContext(ctx, "sign-in: providers cannot be read", "kind", domain.KindOf(err).String())
		o.Pages.SignInFailed(w, r)
		return
	}
	want := r.URL.Query().Get("provider")
	var p *SignInProvider
	for i := range ps {
		if ps[i].ID == want || (want == "" && len(ps) == 1) {
			p = &ps[i]
			break
		}
	}
	if p == nil {
		o.Pages.SignInFailed(w, r)
		return
	}
	prov, _, err := a.oidc.provider(ctx, p.Issuer, p.TokenIssuer)
	if err != nil {
		a.log.WarnContext(ctx, "sign-in: the identity provider cannot be reached", "organization_id", org)
		o.Pages.SignInFailed(w, r)
		return
	}
	state, nonce, secret, verifier := randomToken(""), randomToken(""), randomToken(""), oauth2.GenerateVerifier()
	now := a.clock.Now()
	if err := a.cfg.OIDCLogins.PutOIDCLogin(ctx, OIDCLogin{StateHash: sha256.Sum256([]byte(state)), BrowserHash: sha256.Sum256([]byte(secret)),
		OrganizationID: org, Issuer: p.Issuer, Audience: p.Audience, Nonce: nonce, Verifier: verifier, CreatedAt: now}); err != nil {
		a.log.WarnContext(ctx, "sign-in: the flow cannot be stored", "kind", domain.KindOf(err).String())
		o.Pages.SignInFailed(w, r)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: flowCookie, Value: org + "." + secret, Path: CallbackPath, HttpOnly: true,
		Secure: o.Secure, SameSite: http.SameSiteLaxMode, MaxAge: int(signInFlowTTL / time.Second)})
	cfg := a.oauthConfig(r, o, *p, prov)
	http.Redirect(w, r, cfg.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), http.StatusFound)
}

func (a *Authenticator) oauthConfig(r *http.Request, o SignInOptions, p SignInProvider, prov *oidc.Provider) oauth2.Config {
	return oauth2.Config{ClientID: p.Audience, ClientSecret: p.ClientSecret, Endpoint: prov.Endpoint(),
		RedirectURL: publicBase(r, o) + CallbackPath, Scopes: []string{oidc.ScopeOpenID, "profile", "email"}}
}

// signInClaims are the claims read from a verified ID token.
type signInClaims struct {
	tokenClaims
	Name   string   `json:"name"`
	Groups []string `json:"groups"`
	Roles  []string `json:"roles"`
	Tenant string   `json:"tid"`
}

func (a *Authenticator) finishSignIn(w http.ResponseWriter, r *http.Request, o SignInOptions) {
	ctx := r.Context()
	remote := RemoteIP(r)
	cookieOrg, secret := flowOf(r)
	// The flow cookie has done its work whatever the outcome.
	http.SetCookie(w, &http.Cookie{Name: flowCookie, Value: "", Path: CallbackPath, HttpOnly: true, Secure: o.Secure,
		SameSite: http.SameSiteLaxMode, MaxAge: -1})
	refuse := func(org, issuer, reason string, cause error) {
		if domain.ValidateID("organisation id", org) == nil {
			a.cfg.Auditor.LoginFailed(ctx, org, hexString(sliceOf(a.digest("oidc", org, issuer))), reason, remote)
		}
		attrs := []any{"reason", reason}
		if cause != nil {
			attrs = append(attrs, "cause", cause.Error())
		}
		a.log.InfoContext(ctx, "sign-in refused", attrs...)
		o.Pages.SignInFailed(w, r)
	}
	q := r.URL.Query()
	state := q.Get("state")
	if a.cfg.SignIns == nil || a.cfg.OIDCLogins == nil || state == "" || len(state) > 512 {
		refuse(cookieOrg, "", FailureOIDCBadState, nil)
		return
	}
	now := a.clock.Now()
	flow, used, err := a.cfg.OIDCLogins.TakeOIDCLogin(ctx, sha256.Sum256([]byte(state)), now)
	switch {
	case domain.Is(domain.KindNotFound, err):
		refuse(cookieOrg, "", FailureOIDCBadState, nil)
		return
	case err != nil:
		a.log.WarnContext(ctx, "sign-in: the flow cannot be read", "kind", domain.KindOf(err).String())
		o.Pages.SignInFailed(w, r)
		return
	case used:
		refuse(flow.OrganizationID, flow.Issuer, FailureOIDCReplayedState, nil)
		return
	}
	org, issuer := flow.OrganizationID, flow.Issuer
	browser := sha256.Sum256([]byte(secret))
	if secret == "" || cookieOrg != org || subtle.ConstantTimeCompare(browser[:], flow.BrowserHash[:]) != 1 {
		refuse(org, issuer, FailureOIDCBadState, errors.New("the flow was begun in another browser"))
		return
	}
	if now.Sub(flow.CreatedAt) > signInFlowTTL {
		refuse(org, issuer, FailureOIDCExpiredState, nil)
		return
	}
	if e := q.Get("error"); e != "" {
		refuse(org, issuer, FailureOIDCProviderError, fmt.Errorf("provider error %.64q", e))
		return
	}
	ps, err := a.cfg.SignIns.SignInProviders(ctx, org)
	if err != nil {
		o.Pages.SignInFailed(w, r)
		return
	}
	i := slices.IndexFunc(ps, func(p SignInProvider) bool { return p.Issuer == issuer && p.Audience == flow.Audience })
	if i < 0 {
		refuse(org, issuer, FailureOIDCBadState, errors.New("the provider was removed during the sign-in"))
		return
	}
	p := ps[i]
	prov, verifier, err := a.oidc.verifierFor(ctx, p.Issuer, p.TokenIssuer, p.Audience)
	if err != nil {
		refuse(org, issuer, FailureOIDCProviderError, err)
		return
	}
	cfg := a.oauthConfig(r, o, p, prov)
	tok, err := cfg.Exchange(oidc.ClientContext(ctx, a.cfg.HTTPClient), q.Get("code"), oauth2.VerifierOption(flow.Verifier))
	if err != nil {
		refuse(org, issuer, FailureOIDCCodeRefused, err)
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	want := issuer
	if p.TokenIssuer != "" {
		want = p.TokenIssuer
	}
	if rc, err := unverifiedRouting(raw); err != nil || rc.Issuer != want {
		refuse(org, issuer, FailureOIDCBadIssuer, err)
		return
	}
	idt, err := verifier.Verify(ctx, raw)
	if err != nil {
		refuse(org, issuer, FailureOIDCBadToken, err)
		return
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(flow.Nonce)) != 1 {
		refuse(org, issuer, FailureOIDCBadNonce, nil)
		return
	}
	var c signInClaims
	if err := idt.Claims(&c); err != nil || c.Subject == "" || len(c.Subject) > 255 {
		refuse(org, issuer, FailureOIDCBadToken, err)
		return
	}
	if p.TenantID != "" && c.Tenant != p.TenantID {
		refuse(org, issuer, FailureOIDCBadTenant, nil)
		return
	}
	settings, err := a.cfg.Settings.AuthSettings(ctx, org)
	if err != nil {
		refuse(org, issuer, FailureUnknownOrganization, err)
		return
	}
	mfa := showsMFA(c.tokenClaims, OIDCProvider{AllowedAMR: p.AllowedAMR, AcceptedACR: p.AcceptedACR})
	if settings.MFARequired && !mfa {
		refuse(org, issuer, FailureOIDCMFARequired, nil)
		return
	}
	id := Identity{OrganizationID: org, Issuer: issuer, Audience: p.Audience, Subject: c.Subject, Name: c.Name,
		Groups: append(slices.Clone(c.Groups), c.Roles...), MFA: mfa}
	if c.EmailVerified != nil && *c.EmailVerified {
		id.Email = c.Email
	}
	if uid, err := a.cfg.OIDCUsers.ResolveOIDCUser(ctx, org, issuer, c.Subject, id.Email); err == nil {
		id.UserID = uid
	} else if k := domain.KindOf(err); k != domain.KindNotFound && k != domain.KindForbidden && k != domain.KindUnauthenticated {
		a.log.WarnContext(ctx, "sign-in: users cannot be resolved", "kind", k.String())
		o.Pages.SignInFailed(w, r)
		return
	}
	userID, err := a.cfg.SignIns.SignedIn(ctx, id)
	if err != nil {
		if k := domain.KindOf(err); k == domain.KindNotFound || k == domain.KindConflict || k == domain.KindInvalid || k == domain.KindForbidden {
			refuse(org, issuer, FailureOIDCUnknownUser, err)
			return
		}
		a.log.WarnContext(ctx, "sign-in: the user cannot be signed in", "kind", domain.KindOf(err).String())
		o.Pages.SignInFailed(w, r)
		return
	}
	if err := a.checkActive(ctx, "auth.signIn", org, userID); err != nil {
		refuse(org, issuer, FailureInactiveUser, err)
		return
	}
	idle := settings.SessionIdleTimeout
	if idle <= 0 {
		idle = DefaultSessionIdleTimeout
	}
	token := randomToken(SessionPrefix)
	s := Session{TokenHash: sha256.Sum256([]byte(token)), UserID: userID, OrganizationID: org, CreatedAt: now, LastSeenAt: now,
		IdleTimeout: idle, MFA: mfa, EndSessionURL: endSessionURL(prov, p, publicBase(r, o)+o.PostLogoutURL)}
	if err := a.cfg.Sessions.CreateSession(ctx, s); err != nil {
		a.log.WarnContext(ctx, "sign-in: the session cannot be stored", "kind", domain.KindOf(err).String())
		o.Pages.SignInFailed(w, r)
		return
	}
	a.cfg.Auditor.LoginSucceeded(ctx, org, userID, hexString(sliceOf(a.digest("oidc", org, issuer, c.Subject))), remote)
	o.Pages.SignedIn(w, r, token)
}

func sliceOf(d [32]byte) []byte { return d[:] }

// endSessionURL is the provider's end-session endpoint (OpenID Connect RP-Initiated
// Logout) with the client id and where to come back, empty when it has none.
func endSessionURL(prov *oidc.Provider, p SignInProvider, back string) string {
	var meta struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if prov.Claims(&meta) != nil || meta.EndSession == "" {
		return ""
	}
	u, err := url.Parse(meta.EndSession)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return ""
	}
	v := u.Query()
	v.Set("client_id", p.Audience)
	v.Set("post_logout_redirect_uri", back)
	u.RawQuery = v.Encode()
	return u.String()
}

// EndSessionURL returns the identity provider's end-session URL of the session token's
// sign-in, empty for a local login, an unknown token or a provider without one: sign-out
// offers it, so the person can end their session at the provider too.
func (a *Authenticator) EndSessionURL(ctx context.Context, token string) string {
	if !wellFormedSession(token) {
		return ""
	}
	s, err := a.cfg.Sessions.LookupSession(ctx, sha256.Sum256([]byte(token)))
	if err != nil {
		return ""
	}
	return s.EndSessionURL
}
