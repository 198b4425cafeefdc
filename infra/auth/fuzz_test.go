package auth_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/auth"
)

// Fuzz targets for bearer tokens and passwords (issue 24, "bad input"). Seeds:
// testdata/fuzz/<Name>/ (malformed tokens) and, added at run time, a real API key, session
// token and OIDC token of the test's own; `make fuzz` runs each for a bounded time.

// FuzzAuthenticateToken presents arbitrary bearer tokens to a real Authenticator (its stores
// in Postgres, an OIDC provider on loopback): a token authenticates only as the principal of
// one of the credentials the test issued, anything else is refused with KindUnauthenticated
// (never Unavailable or Internal), and a refused token records no API key use, no login and
// no session.
func FuzzAuthenticateToken(f *testing.F) {
	ctx := context.Background()
	e, i := oidcEnv(f, false)
	if err := e.a.SetPassword(ctx, "org-1", "user-1", email, password); err != nil {
		f.Fatal(err)
	}
	session, _, err := e.a.Login(ctx, "org-1", email, password, ip)
	if err != nil {
		f.Fatal(err)
	}
	key := newKey(f, e, "00000000-0000-4000-8000-0000000000e1", "org-1", domain.KeyOwnerUser, "user-2")
	jwt := i.token(f, e.clock.Now(), "arkiv-api", nil)
	valid := map[string]auth.Principal{}
	for _, tok := range []string{session, key, jwt} {
		p, err := e.a.AuthenticateToken(ctx, tok)
		if err != nil {
			f.Fatalf("a credential of the test's does not authenticate: %v", err)
		}
		valid[string(p.Method)+"/"+p.UserID] = p
		f.Add(tok)
		// The same tokens, with one character changed at each end.
		f.Add(tok[:len(tok)-1] + "A")
		f.Add("x" + tok[1:])
	}
	state := func(t testing.TB) [3]int {
		var sessions int
		if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM auth_sessions`).Scan(&sessions); err != nil {
			t.Fatal(err)
		}
		return [3]int{e.usage.count(), len(e.audit.all()), sessions}
	}
	f.Fuzz(func(t *testing.T, tok string) {
		before := state(t)
		p, err := e.a.AuthenticateToken(ctx, tok)
		if err == nil {
			want, ok := valid[string(p.Method)+"/"+p.UserID]
			if !ok || want != p {
				t.Fatalf("token %q authenticated as %+v, which the test never issued", tok, p)
			}
			return
		}
		var de *domain.Error
		if !errors.As(err, &de) || domain.KindOf(err) != domain.KindUnauthenticated {
			t.Fatalf("token %q: %s error: %v", tok, domain.KindOf(err), err)
		}
		if strings.Contains(err.Error(), tok) && len(tok) > 8 {
			t.Fatalf("the error repeats the token: %v", err)
		}
		if after := state(t); after != before {
			t.Fatalf("a refused token changed the stores: %v, was %v", after, before)
		}
	})
}

// FuzzPasswordPolicy checks arbitrary passwords and logins against arbitrary policies: a
// password is refused with KindInvalid whose message contains neither the password nor the
// login, or it has the length and classes the policy demands and does not contain the login.
func FuzzPasswordPolicy(f *testing.F) {
	f.Fuzz(func(t *testing.T, pw, login string, min, max uint8, classes uint8) {
		p := auth.PasswordPolicy{MinLength: int(min), MaxLength: int(max),
			RequireUpper: classes&1 != 0, RequireLower: classes&2 != 0, RequireDigit: classes&4 != 0, RequireSymbol: classes&8 != 0}
		err := p.Check(pw, login)
		if err == nil {
			n := utf8.RuneCountInString(pw)
			lo, hi := int(min), int(max)
			if lo == 0 {
				lo = auth.DefaultMinPasswordLength
			}
			if hi == 0 {
				hi = auth.DefaultMaxPasswordLength
			}
			if !utf8.ValidString(pw) || n < lo || n > hi {
				t.Fatalf("accepted a password of %d characters under %d..%d", n, lo, hi)
			}
			if l := strings.ToLower(strings.TrimSpace(login)); l != "" && strings.Contains(strings.ToLower(pw), l) {
				t.Fatal("accepted a password containing the login")
			}
			return
		}
		if domain.KindOf(err) != domain.KindInvalid {
			t.Fatalf("%s error: %v", domain.KindOf(err), err)
		}
		msg := domain.PublicMessage(err)
		for _, secret := range []string{pw, login} {
			if len(secret) >= 6 && strings.Contains(msg, secret) {
				t.Fatalf("the policy's message repeats %q", secret)
			}
		}
	})
}
