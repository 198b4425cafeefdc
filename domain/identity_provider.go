package domain

import (
	"net"
	"net/url"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Bounds of an organisation's identity providers.
const (
	// MaxIdentityProviders is the most identity providers one organisation may configure.
	MaxIdentityProviders = 20
	// MaxIssuerLength is the longest issuer URL accepted, in bytes.
	MaxIssuerLength = 2048
	// MaxAudienceRunes is the longest audience accepted.
	MaxAudienceRunes = 256
	// MaxMFAClaimValues is the most amr or acr values a provider may list.
	MaxMFAClaimValues = 20
	// MaxMFAClaimRunes is the longest amr or acr value accepted.
	MaxMFAClaimRunes = 256
)

// IdentityProvider is an OIDC identity provider an organisation trusts (Entra ID, Google
// Workspace, Keycloak, any provider with discovery): access tokens whose "iss" is Issuer and
// whose "aud" contains Audience are verified against the issuer's JWKS and authenticate users
// of the organisation. AllowedAMR and AcceptedACR list the amr and acr values that show
// multi-factor authentication when the organisation requires it; empty lists mean
// authentication's defaults (RFC 8176 amr values such as "mfa", "otp", "hwk").
type IdentityProvider struct {
	Issuer      string   `json:"issuer"`
	Audience    string   `json:"audience"`
	AllowedAMR  []string `json:"allowedAmr"`
	AcceptedACR []string `json:"acceptedAcr"`
}

// NewIdentityProvider validates an identity provider's configuration: the issuer an absolute
// https URL without credentials, query or fragment (http only on a loopback host, for local
// identity providers and tests) of at most MaxIssuerLength bytes; an audience of 1 to
// MaxAudienceRunes characters without control characters; at most MaxMFAClaimValues amr and
// acr values each, every one 1 to MaxMFAClaimRunes printable characters without spaces,
// none listed twice. The issuer and audience are trimmed and otherwise kept exactly: they
// are compared with the token's claims byte for byte.
func NewIdentityProvider(issuer, audience string, allowedAMR, acceptedACR []string) (IdentityProvider, error) {
	const op = "identity_provider.validate"
	issuer, audience = strings.TrimSpace(issuer), strings.TrimSpace(audience)
	if err := validateIssuer(issuer); err != nil {
		return IdentityProvider{}, err
	}
	if audience == "" || !utf8.ValidString(audience) || utf8.RuneCountInString(audience) > MaxAudienceRunes {
		return IdentityProvider{}, Errorf(KindInvalid, op, "audience must be 1 to %d characters", MaxAudienceRunes)
	}
	if strings.IndexFunc(audience, unicode.IsControl) >= 0 {
		return IdentityProvider{}, E(KindInvalid, op, "audience must not contain control characters")
	}
	amr, err := mfaClaimValues("allowed amr", allowedAMR)
	if err != nil {
		return IdentityProvider{}, err
	}
	acr, err := mfaClaimValues("accepted acr", acceptedACR)
	if err != nil {
		return IdentityProvider{}, err
	}
	return IdentityProvider{Issuer: issuer, Audience: audience, AllowedAMR: amr, AcceptedACR: acr}, nil
}

func validateIssuer(issuer string) error {
	const op = "identity_provider.validate"
	if issuer == "" || len(issuer) > MaxIssuerLength {
		return Errorf(KindInvalid, op, "issuer must be a URL of 1 to %d characters", MaxIssuerLength)
	}
	u, err := url.Parse(issuer)
	if err != nil || !u.IsAbs() || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return E(KindInvalid, op, "issuer must be an absolute URL without credentials, query or fragment")
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && loopbackHost(u.Hostname())) {
		return E(KindInvalid, op, "issuer must use https (http only on a loopback host such as 127.0.0.1 or localhost)")
	}
	return nil
}

// loopbackHost reports whether host is "localhost" or a loopback IP address.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// mfaClaimValues validates a list of amr or acr values and returns it, never nil.
func mfaClaimValues(what string, values []string) ([]string, error) {
	const op = "identity_provider.validate"
	if len(values) > MaxMFAClaimValues {
		return nil, Errorf(KindInvalid, op, "at most %d %s values may be listed", MaxMFAClaimValues, what)
	}
	out := make([]string, 0, len(values))
	for _, v := range values {
		if v == "" || !utf8.ValidString(v) || utf8.RuneCountInString(v) > MaxMFAClaimRunes ||
			strings.IndexFunc(v, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
			return nil, Errorf(KindInvalid, op, "%s values must be 1 to %d characters without spaces", what, MaxMFAClaimRunes)
		}
		if slices.Contains(out, v) {
			return nil, Errorf(KindInvalid, op, "%s value %q is listed twice", what, v)
		}
		out = append(out, v)
	}
	return out, nil
}

// same reports whether p and q configure the same provider with the same MFA claims.
func (p IdentityProvider) same(q IdentityProvider) bool {
	return p.Issuer == q.Issuer && p.Audience == q.Audience &&
		slices.Equal(p.AllowedAMR, q.AllowedAMR) && slices.Equal(p.AcceptedACR, q.AcceptedACR)
}

// IdentityProviderConfigured records that an organisation accepts the access tokens of an
// OIDC identity provider for an audience, with the amr and acr values that show MFA. A
// second event for the same issuer and audience replaces the MFA claims of the first.
type IdentityProviderConfigured struct {
	OrganizationID string   `json:"organizationId"`
	Issuer         string   `json:"issuer"`
	Audience       string   `json:"audience"`
	AllowedAMR     []string `json:"allowedAmr"`
	AcceptedACR    []string `json:"acceptedAcr"`
}

// EventName implements Event.
func (IdentityProviderConfigured) EventName() string {
	return "organization.identity_provider_configured.v1"
}

// IdentityProviderRemoved records that an organisation no longer accepts the access tokens of
// an identity provider for an audience.
type IdentityProviderRemoved struct {
	OrganizationID string `json:"organizationId"`
	Issuer         string `json:"issuer"`
	Audience       string `json:"audience"`
}

// EventName implements Event.
func (IdentityProviderRemoved) EventName() string { return "organization.identity_provider_removed.v1" }

// ConfigureIdentityProvider validates p (see NewIdentityProvider) and records that the
// organisation accepts its tokens. Configuring an (issuer, audience) pair the organisation
// already has replaces its MFA claims, so the pair stays unique within the organisation and
// keeps its place (a pair is routed to the organisation that configured it first); the same
// configuration again records nothing. A new pair beyond MaxIdentityProviders is a conflict.
func (o *Organization) ConfigureIdentityProvider(p IdentityProvider) error {
	const op = "organization.configure_identity_provider"
	if !o.created() {
		return errGone(op, "organisation")
	}
	p, err := NewIdentityProvider(p.Issuer, p.Audience, p.AllowedAMR, p.AcceptedACR)
	if err != nil {
		return err
	}
	if i := o.providerIndex(p.Issuer, p.Audience); i >= 0 {
		if o.providers[i].same(p) {
			return nil
		}
	} else if len(o.providers) >= MaxIdentityProviders {
		return Errorf(KindConflict, op, "the organisation already has %d identity providers, the most allowed; remove one first", MaxIdentityProviders)
	}
	record(o, IdentityProviderConfigured{OrganizationID: o.id, Issuer: p.Issuer, Audience: p.Audience,
		AllowedAMR: p.AllowedAMR, AcceptedACR: p.AcceptedACR})
	return nil
}

// RemoveIdentityProvider records that the organisation no longer accepts the tokens of the
// provider (issuer, audience); a pair it does not have is not found.
func (o *Organization) RemoveIdentityProvider(issuer, audience string) error {
	const op = "organization.remove_identity_provider"
	if !o.created() {
		return errGone(op, "organisation")
	}
	issuer, audience = strings.TrimSpace(issuer), strings.TrimSpace(audience)
	if o.providerIndex(issuer, audience) < 0 {
		return E(KindNotFound, op, "the organisation has no identity provider with this issuer and audience")
	}
	record(o, IdentityProviderRemoved{OrganizationID: o.id, Issuer: issuer, Audience: audience})
	return nil
}

// IdentityProviders returns the organisation's identity providers in the order they were
// first configured.
func (o *Organization) IdentityProviders() []IdentityProvider {
	out := make([]IdentityProvider, len(o.providers))
	for i, p := range o.providers {
		out[i] = IdentityProvider{Issuer: p.Issuer, Audience: p.Audience,
			AllowedAMR: slices.Clone(p.AllowedAMR), AcceptedACR: slices.Clone(p.AcceptedACR)}
	}
	return out
}

func (o *Organization) providerIndex(issuer, audience string) int {
	return slices.IndexFunc(o.providers, func(p IdentityProvider) bool {
		return p.Issuer == issuer && p.Audience == audience
	})
}

func (o *Organization) applyProvider(e Event) {
	switch e := e.(type) {
	case IdentityProviderConfigured:
		p := IdentityProvider{Issuer: e.Issuer, Audience: e.Audience, AllowedAMR: e.AllowedAMR, AcceptedACR: e.AcceptedACR}
		if i := o.providerIndex(e.Issuer, e.Audience); i >= 0 {
			o.providers[i] = p
			return
		}
		o.providers = append(o.providers, p)
	case IdentityProviderRemoved:
		if i := o.providerIndex(e.Issuer, e.Audience); i >= 0 {
			o.providers = slices.Delete(o.providers, i, i+1)
		}
		delete(o.signIns, [2]string{e.Issuer, e.Audience})
	}
}
