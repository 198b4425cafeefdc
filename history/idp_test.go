package history_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/infra/auth"
)

// idp is an OpenID provider on loopback (discovery and JWKS) that signs the proofs of
// control the script's Admin presents.
type idp struct {
	srv *httptest.Server
	key *ecdsa.PrivateKey
}

func newIDP(t *testing.T) *idp {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	i := &idp{key: key}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": i.srv.URL, "jwks_uri": i.srv.URL + "/jwks",
			"authorization_endpoint": i.srv.URL + "/authorize", "token_endpoint": i.srv.URL + "/token",
			"id_token_signing_alg_values_supported": []string{"ES256"}})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	})
	i.srv = httptest.NewServer(mux)
	t.Cleanup(i.srv.Close)
	return i
}

// proof is an ID token of the provider for audience issued to sub at now.
func (i *idp) proof(t *testing.T, sub, audience string, now time.Time) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: i.key, KeyID: "k1"}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(map[string]any{"iss": i.srv.URL, "aud": audience, "sub": sub, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// proofs serves commands.IdentityProofs with authentication's verifier.
type proofs struct{ v *auth.ProofVerifier }

func (p proofs) VerifyIdentityProof(ctx context.Context, issuer, audience, token string) (commands.IdentityProof, error) {
	pr, err := p.v.VerifyIdentityProof(ctx, issuer, audience, token)
	return commands.IdentityProof{Subject: pr.Subject, Email: pr.Email, TenantID: pr.TenantID, TokenIssuer: pr.TokenIssuer}, err
}
