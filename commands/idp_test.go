package commands_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"sync"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/infra/auth"
)

// proofIdP is a real OpenID provider (mockoidc) on a loopback port that issues the ID
// tokens Admins present as proof of control, for any audience the test names.
type proofIdP struct {
	mu sync.Mutex
	m  *mockoidc.MockOIDC
}

func startProofIdP(t *testing.T) *proofIdP {
	t.Helper()
	m, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	return &proofIdP{m: m}
}

func (p *proofIdP) issuer() string { return p.m.Issuer() }

type subject string

func (s subject) ID() string { return string(s) }
func (s subject) Userinfo([]string) ([]byte, error) {
	return json.Marshal(map[string]string{"sub": string(s)})
}
func (s subject) Claims(_ []string, base *mockoidc.IDTokenClaims) (jwt.Claims, error) {
	return base, nil
}

// token runs the provider's code flow for sub with audience as the client id and returns
// the ID token.
func (p *proofIdP) token(t *testing.T, sub, audience string) string {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.m.ClientID = audience
	p.m.QueueUser(subject(sub))
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	q := url.Values{"client_id": {audience}, "response_type": {"code"}, "scope": {"openid"}, "state": {"s"},
		"redirect_uri": {"http://127.0.0.1/cb"}, "nonce": {"n"}}
	resp, err := noRedirect.Get(p.m.AuthorizationEndpoint() + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	resp, err = http.PostForm(p.m.TokenEndpoint(), url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"client_id": {audience}, "client_secret": {p.m.ClientSecret}, "redirect_uri": {"http://127.0.0.1/cb"}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		IDToken string `json:"id_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.IDToken == "" {
		t.Fatalf("no ID token: %v", err)
	}
	return out.IDToken
}

// proofs serves commands.IdentityProofs with authentication's verifier.
type proofs struct{ v *auth.ProofVerifier }

func (p proofs) VerifyIdentityProof(ctx context.Context, issuer, audience, token string) (commands.IdentityProof, error) {
	pr, err := p.v.VerifyIdentityProof(ctx, issuer, audience, token)
	return commands.IdentityProof{Subject: pr.Subject, Email: pr.Email, TenantID: pr.TenantID, TokenIssuer: pr.TokenIssuer}, err
}
