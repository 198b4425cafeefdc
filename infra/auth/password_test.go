package auth

import (
	"strings"
	"testing"
)

func TestPHCRoundTrip(t *testing.T) {
	p := Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	phc, err := HashPassword("pässwörd with ünïcode", p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(phc, "$argon2id$v=19$m=64,t=1,p=1$") || strings.Contains(phc, "=$") {
		t.Fatalf("PHC string %q", phc)
	}
	other, _ := HashPassword("pässwörd with ünïcode", p)
	if other == phc {
		t.Fatal("two hashes of one password share a salt")
	}
	ok, got, err := VerifyPassword("pässwörd with ünïcode", phc)
	if err != nil || !ok || got != p {
		t.Fatalf("verify: %v %+v %v", ok, got, err)
	}
	if ok, _, _ := VerifyPassword("pässwörd with ünïcodE", phc); ok {
		t.Fatal("a wrong password verified")
	}
	if !got.weakerThan(DefaultArgon2Params) || DefaultArgon2Params.weakerThan(got) {
		t.Fatal("weakerThan is wrong")
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA", "$argon2id$v=16$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
		"$argon2id$v=19$m=64,t=0,p=1$c2FsdHNhbHQ$aGFzaA", "$argon2id$v=19$m=64,t=1,p=1$!!$aGFzaA", "bcrypt"} {
		if _, _, err := VerifyPassword("x", bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := HashPassword("x", Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 4, KeyLen: 32}); err == nil {
		t.Fatal("a 4-byte salt was accepted")
	}
}

func TestPasswordPolicy(t *testing.T) {
	all := PasswordPolicy{MinLength: 12, RequireUpper: true, RequireLower: true, RequireDigit: true, RequireSymbol: true}
	cases := []struct {
		policy         PasswordPolicy
		password, want string
	}{
		{PasswordPolicy{}, "abcdefghijk", "at least 12 characters"},
		{PasswordPolicy{}, "abcdefghijkl", ""},
		{PasswordPolicy{}, strings.Repeat("a", 257), "at most 256 characters"},
		{PasswordPolicy{MaxLength: 20}, strings.Repeat("a", 21), "at most 20 characters"},
		{all, "ABCDEFGHIJKLMN", "a lower-case letter; a digit; a symbol"},
		{all, "abcdefghijklmn", "an upper-case letter; a digit; a symbol"},
		{all, "Abcdefghijk1!", ""},
		{all, "Ünïcödé-pässwörd-1", ""},
		{PasswordPolicy{}, "ada.lovelace@example.org!", "must not contain the login name"},
		{PasswordPolicy{}, "my name is ADA.LOVELACE!", "must not contain the login name"},
		{PasswordPolicy{}, "\xff\xfe invalid utf8 bytes", "must be valid UTF-8 text"},
	}
	for _, c := range cases {
		err := c.policy.Check(c.password, "Ada.Lovelace@example.org")
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%q: %v", c.password, err)
		case c.want != "" && (err == nil || !strings.HasSuffix(err.Error(), c.want)):
			t.Errorf("%q: got %v, want …%s", c.password, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), c.password) {
			t.Errorf("the error echoes the password")
		}
	}
	// A short local part ("al@…") is not looked for: it would forbid too much.
	if err := (PasswordPolicy{}).Check("totally alright password", "al@example.org"); err != nil {
		t.Fatal(err)
	}
}
