package auth

import (
	"time"

	"github.com/arkiv/arkiv/domain"
)

// Validate checks the settings' bounds: an idle timeout of domain.MinSessionIdleMinutes to
// domain.MaxSessionIdleMinutes, a password policy whose lengths fit (minimum at least
// domain.MinPasswordLength, maximum at most DefaultMaxPasswordLength), and valid OIDC providers,
// each (issuer, audience) listed once.
func (s AuthSettings) Validate() error {
	const op = "auth.AuthSettings.Validate"
	if s.SessionIdleTimeout < domain.MinSessionIdleMinutes*time.Minute || s.SessionIdleTimeout > domain.MaxSessionIdleMinutes*time.Minute {
		return domain.Errorf(domain.KindInvalid, op, "session idle timeout must be %d to %d minutes",
			domain.MinSessionIdleMinutes, domain.MaxSessionIdleMinutes)
	}
	p := s.Password.withDefaults()
	if p.MinLength < domain.MinPasswordLength || p.MaxLength > DefaultMaxPasswordLength || p.MinLength > p.MaxLength {
		return domain.Errorf(domain.KindInvalid, op, "password lengths must satisfy %d <= minimum <= maximum <= %d",
			domain.MinPasswordLength, DefaultMaxPasswordLength)
	}
	if len(s.OIDC) > 20 {
		return domain.E(domain.KindInvalid, op, "at most 20 OIDC providers per organisation")
	}
	seen := map[[2]string]bool{}
	for _, pr := range s.OIDC {
		if err := pr.Validate(); err != nil {
			return err
		}
		k := [2]string{pr.Issuer, pr.Audience}
		if seen[k] {
			return domain.E(domain.KindInvalid, op, "an OIDC issuer and audience are listed twice")
		}
		seen[k] = true
	}
	return nil
}

// SettingsFromDomain derives the authentication settings from an organisation's domain
// settings (idle timeout, password policy, MFA requirement) and its OIDC providers, for the
// projection that fills the settings read model.
func SettingsFromDomain(s domain.OrganizationSettings, providers []OIDCProvider) AuthSettings {
	return AuthSettings{
		SessionIdleTimeout: time.Duration(s.SessionIdleTimeoutMinutes) * time.Minute,
		Password: PasswordPolicy{
			MinLength:      s.Password.MinLength,
			RequireUpper:   s.Password.RequireUpper,
			RequireDigit:   s.Password.RequireDigit,
			RequireSymbol:  s.Password.RequireSymbol,
			MaxAgeDays:     s.Password.MaxAgeDays,
			HistoryEntries: s.Password.HistoryEntries,
		},
		MFARequired: s.MFARequired,
		OIDC:        providers,
	}
}
