package domain

import (
	"crypto/sha256"
	"fmt"
	"strings"
)

// StreamPrefixIdentityProviderClaim is the prefix of the reservation streams of identity
// providers: one stream per (issuer, audience) pair, named by IdentityProviderClaimID.
const StreamPrefixIdentityProviderClaim = "idp-claim-"

// IdentityProviderClaimID returns the stream id of the reservation of (issuer, audience):
// a UUID-shaped digest of the pair, so every organisation configuring the pair meets the
// same stream.
func IdentityProviderClaimID(issuer, audience string) string {
	h := sha256.Sum256([]byte(strings.TrimSpace(issuer) + "\x00" + strings.TrimSpace(audience)))
	h[6] = h[6]&0x0f | 0x50
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// IdentityProviderClaim is the reservation of one (issuer, audience) pair by the one
// organisation whose identity provider it is. An organisation configures a pair only by
// claiming it first (the append expects the stream's revision), so a pair another
// organisation holds is refused, never re-routed; removing the provider releases it.
type IdentityProviderClaim struct {
	root
	holder string
}

// IdentityProviderClaimed records that an organisation holds (issuer, audience).
type IdentityProviderClaimed struct {
	OrganizationID string `json:"organizationId"`
	Issuer         string `json:"issuer"`
	Audience       string `json:"audience"`
}

// EventName implements Event.
func (IdentityProviderClaimed) EventName() string { return "identity_provider.claimed.v1" }

// IdentityProviderReleased records that the holder released (issuer, audience).
type IdentityProviderReleased struct {
	OrganizationID string `json:"organizationId"`
	Issuer         string `json:"issuer"`
	Audience       string `json:"audience"`
}

// EventName implements Event.
func (IdentityProviderReleased) EventName() string { return "identity_provider.released.v1" }

// NewIdentityProviderClaim returns the empty reservation aggregate of (issuer, audience).
func NewIdentityProviderClaim(issuer, audience string) *IdentityProviderClaim {
	return &IdentityProviderClaim{root: newRoot(StreamPrefixIdentityProviderClaim, IdentityProviderClaimID(issuer, audience))}
}

// Holder returns the organisation holding the pair, empty when none does.
func (c *IdentityProviderClaim) Holder() string { return c.holder }

// Claim records that org holds (issuer, audience). A pair org already holds records
// nothing; one another organisation holds is a conflict: identity providers belong to one
// organisation.
func (c *IdentityProviderClaim) Claim(org, issuer, audience string) error {
	const op = "identity_provider.claim"
	if err := ValidateID("organisation id", org); err != nil {
		return err
	}
	switch c.holder {
	case org:
		return nil
	case "":
		record(c, IdentityProviderClaimed{OrganizationID: org, Issuer: strings.TrimSpace(issuer), Audience: strings.TrimSpace(audience)})
		return nil
	}
	return E(KindConflict, op, "this issuer and audience are configured by another organisation; an identity provider belongs to one organisation")
}

// Release records that org no longer holds the pair; a pair org does not hold records
// nothing.
func (c *IdentityProviderClaim) Release(org, issuer, audience string) {
	if c.holder != org || org == "" {
		return
	}
	record(c, IdentityProviderReleased{OrganizationID: org, Issuer: strings.TrimSpace(issuer), Audience: strings.TrimSpace(audience)})
}

func (c *IdentityProviderClaim) apply(e Event) {
	switch e := e.(type) {
	case IdentityProviderClaimed:
		c.holder, c.org = e.OrganizationID, e.OrganizationID
	case IdentityProviderReleased:
		c.holder = ""
		// org stays the last holder's: the release's metadata names it.
	}
}
