package domain

import (
	"strconv"
	"strings"
	"testing"
)

func TestIdentityProviders(t *testing.T) {
	created := OrganizationCreated{OrganizationID: org1, Name: Seal("Region Norr", OrganizationSubject(org1)), Settings: DefaultOrganizationSettings()}
	const entra = "https://login.microsoftonline.com/4f2a9c1e-0000-4000-8000-000000000001/v2.0"
	configured := IdentityProviderConfigured{OrganizationID: org1, Issuer: entra, Audience: "api://arkiv",
		AllowedAMR: []string{"mfa"}, AcceptedACR: []string{}}
	configure := func(issuer, audience string, amr, acr []string) func(Aggregate) error {
		return func(a Aggregate) error {
			return a.(*Organization).ConfigureIdentityProvider(IdentityProvider{Issuer: issuer, Audience: audience, AllowedAMR: amr, AcceptedACR: acr})
		}
	}
	full := []Event{created}
	for i := range MaxIdentityProviders {
		full = append(full, IdentityProviderConfigured{OrganizationID: org1, Issuer: "https://idp.example.se", Audience: "app-" + strconv.Itoa(i),
			AllowedAMR: []string{}, AcceptedACR: []string{}})
	}
	run(t, func() Aggregate { return NewOrganization(org1) }, []scenario{
		{name: "configure trims and records", given: []Event{created}, when: configure(" "+entra+" ", " api://arkiv ", []string{"mfa"}, nil),
			then: []Event{configured}},
		{name: "loopback http for local identity providers", given: []Event{created}, when: configure("http://127.0.0.1:5556/dex", "arkiv", nil, nil),
			then: []Event{IdentityProviderConfigured{OrganizationID: org1, Issuer: "http://127.0.0.1:5556/dex", Audience: "arkiv",
				AllowedAMR: []string{}, AcceptedACR: []string{}}}},
		{name: "localhost and IPv6 loopback", given: []Event{created}, when: func(a Aggregate) error {
			if err := configure("http://localhost:8080/realms/a", "arkiv", nil, nil)(a); err != nil {
				return err
			}
			return configure("http://[::1]:8080", "arkiv", nil, nil)(a)
		}, then: []Event{
			IdentityProviderConfigured{OrganizationID: org1, Issuer: "http://localhost:8080/realms/a", Audience: "arkiv", AllowedAMR: []string{}, AcceptedACR: []string{}},
			IdentityProviderConfigured{OrganizationID: org1, Issuer: "http://[::1]:8080", Audience: "arkiv", AllowedAMR: []string{}, AcceptedACR: []string{}},
		}},
		{name: "same configuration again records nothing", given: []Event{created, configured}, when: configure(entra, "api://arkiv", []string{"mfa"}, []string{})},
		{name: "new MFA claims replace the old ones", given: []Event{created, configured},
			when: configure(entra, "api://arkiv", []string{"mfa", "hwk"}, []string{"c1"}),
			then: []Event{IdentityProviderConfigured{OrganizationID: org1, Issuer: entra, Audience: "api://arkiv",
				AllowedAMR: []string{"mfa", "hwk"}, AcceptedACR: []string{"c1"}}}},
		{name: "another audience of the same issuer", given: []Event{created, configured}, when: configure(entra, "api://other", nil, nil),
			then: []Event{IdentityProviderConfigured{OrganizationID: org1, Issuer: entra, Audience: "api://other", AllowedAMR: []string{}, AcceptedACR: []string{}}}},
		{name: "plain http on a public host", given: []Event{created}, when: configure("http://idp.example.se", "arkiv", nil, nil), fails: "INVALID"},
		{name: "http on a name resolving anywhere", given: []Event{created}, when: configure("http://localhost.example.se", "arkiv", nil, nil), fails: "INVALID"},
		{name: "relative issuer", given: []Event{created}, when: configure("idp.example.se/tenant", "arkiv", nil, nil), fails: "INVALID"},
		{name: "issuer with credentials", given: []Event{created}, when: configure("https://u:p@idp.example.se", "arkiv", nil, nil), fails: "INVALID"},
		{name: "issuer with a query", given: []Event{created}, when: configure("https://idp.example.se/?tenant=a", "arkiv", nil, nil), fails: "INVALID"},
		{name: "issuer with a fragment", given: []Event{created}, when: configure("https://idp.example.se/#a", "arkiv", nil, nil), fails: "INVALID"},
		{name: "other scheme", given: []Event{created}, when: configure("ftp://idp.example.se", "arkiv", nil, nil), fails: "INVALID"},
		{name: "issuer too long", given: []Event{created}, when: configure("https://idp.example.se/"+strings.Repeat("a", MaxIssuerLength), "arkiv", nil, nil), fails: "INVALID"},
		{name: "empty audience", given: []Event{created}, when: configure(entra, "  ", nil, nil), fails: "INVALID"},
		{name: "audience too long", given: []Event{created}, when: configure(entra, strings.Repeat("å", MaxAudienceRunes+1), nil, nil), fails: "INVALID"},
		{name: "audience of the longest length", given: []Event{created}, when: configure(entra, strings.Repeat("å", MaxAudienceRunes), nil, nil),
			then: []Event{IdentityProviderConfigured{OrganizationID: org1, Issuer: entra, Audience: strings.Repeat("å", MaxAudienceRunes), AllowedAMR: []string{}, AcceptedACR: []string{}}}},
		{name: "audience with a control character", given: []Event{created}, when: configure(entra, "ark\x00iv", nil, nil), fails: "INVALID"},
		{name: "amr listed twice", given: []Event{created}, when: configure(entra, "arkiv", []string{"mfa", "mfa"}, nil), fails: "INVALID"},
		{name: "empty acr value", given: []Event{created}, when: configure(entra, "arkiv", nil, []string{""}), fails: "INVALID"},
		{name: "amr value with a space", given: []Event{created}, when: configure(entra, "arkiv", []string{"m fa"}, nil), fails: "INVALID"},
		{name: "too many amr values", given: []Event{created}, when: configure(entra, "arkiv", strings.Split(strings.Repeat("x,", MaxMFAClaimValues)+"y", ","), nil), fails: "INVALID"},
		{name: "a twenty-first provider", given: full, when: configure(entra, "api://arkiv", nil, nil), fails: "CONFLICT"},
		{name: "updating one of twenty", given: full, when: configure("https://idp.example.se", "app-3", []string{"otp"}, nil),
			then: []Event{IdentityProviderConfigured{OrganizationID: org1, Issuer: "https://idp.example.se", Audience: "app-3", AllowedAMR: []string{"otp"}, AcceptedACR: []string{}}}},
		{name: "one more after a removal", given: append(append([]Event{}, full...), IdentityProviderRemoved{OrganizationID: org1, Issuer: "https://idp.example.se", Audience: "app-0"}),
			when: configure(entra, "api://arkiv", []string{"mfa"}, nil), then: []Event{configured}},
		{name: "configure in a missing organisation", when: configure(entra, "api://arkiv", nil, nil), fails: "NOT_FOUND"},
		{name: "remove", given: []Event{created, configured}, when: func(a Aggregate) error {
			return a.(*Organization).RemoveIdentityProvider(entra, "api://arkiv")
		}, then: []Event{IdentityProviderRemoved{OrganizationID: org1, Issuer: entra, Audience: "api://arkiv"}}},
		{name: "remove an unknown pair", given: []Event{created, configured}, when: func(a Aggregate) error {
			return a.(*Organization).RemoveIdentityProvider(entra, "api://other")
		}, fails: "NOT_FOUND"},
		{name: "remove twice", given: []Event{created, configured, IdentityProviderRemoved{OrganizationID: org1, Issuer: entra, Audience: "api://arkiv"}},
			when: func(a Aggregate) error { return a.(*Organization).RemoveIdentityProvider(entra, "api://arkiv") }, fails: "NOT_FOUND"},
		{name: "remove in a missing organisation", when: func(a Aggregate) error {
			return a.(*Organization).RemoveIdentityProvider(entra, "api://arkiv")
		}, fails: "NOT_FOUND"},
	})
}

func TestIdentityProvidersState(t *testing.T) {
	o := NewOrganization(org1)
	Replay(o, []Event{
		OrganizationCreated{OrganizationID: org1, Name: Seal("A", OrganizationSubject(org1)), Settings: DefaultOrganizationSettings()},
		IdentityProviderConfigured{OrganizationID: org1, Issuer: "https://a.example", Audience: "x", AllowedAMR: []string{}, AcceptedACR: []string{}},
		IdentityProviderConfigured{OrganizationID: org1, Issuer: "https://b.example", Audience: "y", AllowedAMR: []string{}, AcceptedACR: []string{}},
		IdentityProviderConfigured{OrganizationID: org1, Issuer: "https://a.example", Audience: "x", AllowedAMR: []string{"mfa"}, AcceptedACR: []string{}},
		IdentityProviderRemoved{OrganizationID: org1, Issuer: "https://b.example", Audience: "y"},
	}, 4)
	got := o.IdentityProviders()
	if len(got) != 1 || got[0].Issuer != "https://a.example" || len(got[0].AllowedAMR) != 1 || got[0].AllowedAMR[0] != "mfa" {
		t.Fatalf("providers = %+v", got)
	}
	got[0].Audience = "changed"
	if o.IdentityProviders()[0].Audience != "x" {
		t.Fatal("IdentityProviders exposes the aggregate's state")
	}
}

// TestIdentityProviderClaim: a pair belongs to one organisation; another's claim is a
// conflict until the holder releases it; the id is the pair's, trimmed.
func TestIdentityProviderClaim(t *testing.T) {
	const a, b = "00000000-0000-4000-8000-0000000000a1", "00000000-0000-4000-8000-0000000000b1"
	iss, aud := "https://login.example.org/tenant", "api://arkiv"
	if IdentityProviderClaimID(iss, aud) != IdentityProviderClaimID(" "+iss, aud+" ") ||
		IdentityProviderClaimID(iss, aud) == IdentityProviderClaimID(iss, aud+"x") || ValidateID("claim", IdentityProviderClaimID(iss, aud)) != nil {
		t.Fatal("claim ids")
	}
	c := NewIdentityProviderClaim(iss, aud)
	if err := c.Claim(a, iss, aud); err != nil || c.Holder() != a || len(c.Changes()) != 1 {
		t.Fatalf("first claim: %v", err)
	}
	if err := c.Claim(a, iss, aud); err != nil || len(c.Changes()) != 1 {
		t.Fatalf("claiming again: %v", err)
	}
	if err := c.Claim(b, iss, aud); !Is(KindConflict, err) {
		t.Fatalf("another organisation's claim: %v", err)
	}
	c.Release(b, iss, aud)
	if c.Holder() != a {
		t.Fatal("released by a non-holder")
	}
	c.Release(a, iss, aud)
	if err := c.Claim(b, iss, aud); err != nil || c.Holder() != b {
		t.Fatalf("claim after release: %v", err)
	}
}

// TestEmailReservation: an address of an organisation belongs to one user.
func TestEmailReservation(t *testing.T) {
	const org, u1, u2 = "00000000-0000-4000-8000-0000000000c1", "00000000-0000-4000-8000-0000000000a1", "00000000-0000-4000-8000-0000000000a2"
	if EmailReservationID(org, "ada@example.org") == EmailReservationID("00000000-0000-4000-8000-0000000000c2", "ada@example.org") ||
		ValidateID("reservation", EmailReservationID(org, "ada@example.org")) != nil {
		t.Fatal("reservation ids")
	}
	r := NewEmailReservation(org, "ada@example.org")
	if err := r.Reserve(org, u1); err != nil || len(r.Changes()) != 1 {
		t.Fatalf("reserve: %v", err)
	}
	if err := r.Reserve(org, u1); err != nil || len(r.Changes()) != 1 {
		t.Fatalf("reserve again: %v", err)
	}
	if err := r.Reserve(org, u2); !Is(KindConflict, err) {
		t.Fatalf("another user: %v", err)
	}
}
