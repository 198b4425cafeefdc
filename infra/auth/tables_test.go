package auth

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/arkiv/arkiv/domain"
)

// TestTablesSettingsRowValidatesAndEncodesThePolicy: the auth projection stores what
// SettingsRow returns, so the policy must decode back to the organisation's, and settings
// out of bounds must be refused.
func TestTablesSettingsRowValidatesAndEncodesThePolicy(t *testing.T) {
	s := domain.DefaultOrganizationSettings()
	s.Password.RequireDigit = true
	s.MFARequired = false
	idle, policy, mfa, err := Tables{}.SettingsRow(s)
	if err != nil {
		t.Fatal(err)
	}
	var p PasswordPolicy
	if err := json.Unmarshal(policy, &p); err != nil {
		t.Fatal(err)
	}
	if idle != time.Duration(s.SessionIdleTimeoutMinutes)*time.Minute || mfa ||
		p.MinLength != s.Password.MinLength || !p.RequireDigit || p.RequireUpper {
		t.Fatalf("row idle %s, mfa %v, policy %+v from %+v", idle, mfa, p, s)
	}
	s.SessionIdleTimeoutMinutes = domain.MaxSessionIdleMinutes + 1
	if _, _, _, err := (Tables{}).SettingsRow(s); !domain.Is(domain.KindInvalid, err) {
		t.Fatalf("idle timeout out of bounds: %v", err)
	}
}

// TestTablesPutAPIKeyRefusesABadHash: a hash that is not a hex SHA-256 is refused before
// anything is written.
func TestTablesPutAPIKeyRefusesABadHash(t *testing.T) {
	for _, h := range []string{"", "zz", "abcd"} {
		err := Tables{}.PutAPIKey(context.Background(), nil, domain.APIKeyCreated{KeyID: "k", Hash: h}, time.Now())
		if !domain.Is(domain.KindInternal, err) {
			t.Errorf("hash %q: %v", h, err)
		}
	}
}
