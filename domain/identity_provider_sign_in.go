package domain

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Bounds of an identity provider's sign-in settings.
const (
	// MaxGroupRoles is the most group mappings one identity provider may list.
	MaxGroupRoles = 200
	// MaxGroupRunes is the longest group or app-role name accepted (Entra group object ids
	// are 36 characters).
	MaxGroupRunes = 256
	// MaxClientSecretBytes is the longest client secret accepted.
	MaxClientSecretBytes = 1024
)

// GroupRole maps one directory group or app role (a value of the token's "groups" or
// "roles" claim, e.g. an Entra group object id) to an organisation role (OrgRole set), or to
// a role in one space of the organisation (SpaceID and SpaceRole set).
type GroupRole struct {
	Group     string    `json:"group"`
	OrgRole   OrgRole   `json:"orgRole,omitempty"`
	SpaceID   string    `json:"spaceId,omitempty"`
	SpaceRole SpaceRole `json:"spaceRole,omitempty"`
}

// SignIn is how people sign in through an identity provider (the OpenID Connect
// authorization code flow with PKCE): the button's label, the client secret for the token
// endpoint (empty for a public client), whether unknown people are created on their first
// sign-in (just in time, off by default), the directory groups that give organisation and
// space roles, and, for a multi-tenant issuer (Entra "common" or "organizations"), the
// tenant every accepted token must name in its "tid" claim and the "iss" such tokens carry.
type SignIn struct {
	DisplayName  string      `json:"displayName"`
	ClientSecret Sealed      `json:"clientSecret"`
	JustInTime   bool        `json:"justInTime"`
	GroupRoles   []GroupRole `json:"groupRoles"`
	TenantID     string      `json:"tenantId,omitempty"`
	TokenIssuer  string      `json:"tokenIssuer,omitempty"`
}

// IdentityProviderSignInConfigured records an identity provider's sign-in settings (see
// SignIn), recorded with the IdentityProviderConfigured of the same pair; the client secret
// is sealed under the organisation. ConfiguredBy is the configuring Admin (who proved
// control of the provider with a token it issued to them when the organisation first
// configured the pair).
type IdentityProviderSignInConfigured struct {
	OrganizationID string `json:"organizationId"`
	Issuer         string `json:"issuer"`
	Audience       string `json:"audience"`
	SignIn
	ConfiguredBy string `json:"configuredBy"`
}

// EventName implements Event.
func (IdentityProviderSignInConfigured) EventName() string {
	return "organization.identity_provider_sign_in_configured.v1"
}

// NewSignIn validates sign-in settings: a display name of 1 to 80 characters (default
// "Identity provider"), a client secret of at most MaxClientSecretBytes, at most
// MaxGroupRoles mappings each with a group of 1 to MaxGroupRunes printable characters and
// either a valid organisation role or a space id with a valid space role, and a token issuer
// only with a tenant.
func NewSignIn(org string, s SignIn) (SignIn, error) {
	const op = "identity_provider.validate"
	s.DisplayName = strings.TrimSpace(s.DisplayName)
	if s.DisplayName == "" {
		s.DisplayName = "Identity provider"
	}
	n, err := NewName("provider display name", s.DisplayName)
	if err != nil {
		return SignIn{}, err
	}
	if utf8.RuneCountInString(n) > 80 {
		return SignIn{}, E(KindInvalid, op, "the provider's display name must be at most 80 characters")
	}
	s.DisplayName = n
	if len(s.ClientSecret.Plain) > MaxClientSecretBytes || strings.IndexFunc(s.ClientSecret.Plain, unicode.IsControl) >= 0 {
		return SignIn{}, Errorf(KindInvalid, op, "the client secret must be at most %d bytes without control characters", MaxClientSecretBytes)
	}
	s.ClientSecret = Seal(s.ClientSecret.Plain, OrganizationSubject(org))
	if len(s.GroupRoles) > MaxGroupRoles {
		return SignIn{}, Errorf(KindInvalid, op, "at most %d group mappings may be listed", MaxGroupRoles)
	}
	out := make([]GroupRole, 0, len(s.GroupRoles))
	for _, g := range s.GroupRoles {
		g.Group = strings.TrimSpace(g.Group)
		if g.Group == "" || utf8.RuneCountInString(g.Group) > MaxGroupRunes || strings.IndexFunc(g.Group, unicode.IsControl) >= 0 {
			return SignIn{}, Errorf(KindInvalid, op, "groups must be 1 to %d characters", MaxGroupRunes)
		}
		switch {
		case g.SpaceID == "" && g.SpaceRole == "":
			if !g.OrgRole.Valid() {
				return SignIn{}, E(KindInvalid, op, "a group mapping names an organisation role (USER, CREATOR or ADMIN) or a space and a space role")
			}
		case g.OrgRole == "":
			if err := ValidateID("space id", g.SpaceID); err != nil {
				return SignIn{}, err
			}
			if !g.SpaceRole.Valid() {
				return SignIn{}, E(KindInvalid, op, "space role must be SPACE_ADMIN, SPACE_EDITOR or SPACE_VIEWER")
			}
		default:
			return SignIn{}, E(KindInvalid, op, "a group mapping names an organisation role or a space role, not both")
		}
		if slices.Contains(out, g) {
			return SignIn{}, Errorf(KindInvalid, op, "the mapping of group %q is listed twice", g.Group)
		}
		out = append(out, g)
	}
	s.GroupRoles = out
	if s.TokenIssuer != "" && s.TenantID == "" {
		return SignIn{}, E(KindInvalid, op, "a token issuer is pinned only with a tenant")
	}
	return s, nil
}

// ConfigureSignIn records the sign-in settings of the organisation's provider (issuer,
// audience), which it must have (or be recording), by the Admin by. The same settings
// again record nothing.
func (o *Organization) ConfigureSignIn(issuer, audience string, s SignIn, by string) error {
	const op = "organization.configure_identity_provider"
	if !o.created() {
		return errGone(op, "organisation")
	}
	issuer, audience = strings.TrimSpace(issuer), strings.TrimSpace(audience)
	i := o.providerIndex(issuer, audience)
	pending := slices.ContainsFunc(o.Changes(), func(e Event) bool {
		c, ok := e.(IdentityProviderConfigured)
		return ok && c.Issuer == issuer && c.Audience == audience
	})
	if i < 0 && !pending {
		return E(KindNotFound, op, "the organisation has no identity provider with this issuer and audience")
	}
	s, err := NewSignIn(o.id, s)
	if err != nil {
		return err
	}
	if old, ok := o.signIns[[2]string{issuer, audience}]; ok && sameSignIn(old, s) {
		return nil
	}
	record(o, IdentityProviderSignInConfigured{OrganizationID: o.id, Issuer: issuer, Audience: audience, SignIn: s, ConfiguredBy: by})
	return nil
}

func sameSignIn(a, b SignIn) bool {
	return a.DisplayName == b.DisplayName && a.ClientSecret.Plain == b.ClientSecret.Plain && a.JustInTime == b.JustInTime &&
		slices.Equal(a.GroupRoles, b.GroupRoles) && a.TenantID == b.TenantID && a.TokenIssuer == b.TokenIssuer
}

// SignInOf returns the sign-in settings of the organisation's provider (issuer, audience)
// and whether it has any; a provider configured without them signs nobody in through the
// authorization code flow (its access tokens still authenticate).
func (o *Organization) SignInOf(issuer, audience string) (SignIn, bool) {
	s, ok := o.signIns[[2]string{issuer, audience}]
	if ok {
		s.GroupRoles = slices.Clone(s.GroupRoles)
	}
	return s, ok
}

func (o *Organization) applySignIn(e IdentityProviderSignInConfigured) {
	if o.signIns == nil {
		o.signIns = map[[2]string]SignIn{}
	}
	o.signIns[[2]string{e.Issuer, e.Audience}] = e.SignIn
}

// DirectoryUserID returns the id of the user created just in time for the identity
// (issuer, subject) in org: a UUID-shaped digest, so a retried first sign-in creates no
// second user and later sign-ins find the same one.
func DirectoryUserID(org, issuer, subject string) string {
	h := sha256.Sum256([]byte("directory-user\x00" + org + "\x00" + issuer + "\x00" + subject))
	h[6] = h[6]&0x0f | 0x50
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// DirectoryRoles is what a provider's group mapping gives a person with the given groups.
type DirectoryRoles struct {
	// OrgRole is the highest organisation role the groups give; OrgManaged reports whether
	// the mapping names any organisation role at all (if not, the directory leaves the
	// organisation role alone). A managed role with no matching group is OrgRoleUser.
	OrgRole    OrgRole
	OrgManaged bool
	// Spaces gives, for every space the mapping names, the highest role the groups give
	// there, or SpaceRoleNone: the directory manages membership of exactly these spaces.
	Spaces map[string]SpaceRole
}

// RolesFromGroups applies the mapping to groups (values of the "groups" and "roles"
// claims, or a SCIM user's groups).
func RolesFromGroups(mapping []GroupRole, groups []string) DirectoryRoles {
	r := DirectoryRoles{OrgRole: OrgRoleUser, Spaces: map[string]SpaceRole{}}
	rank := func(o OrgRole) int { return slices.Index([]OrgRole{OrgRoleUser, OrgRoleCreator, OrgRoleAdmin}, o) }
	srank := func(s SpaceRole) int {
		return slices.Index([]SpaceRole{SpaceRoleNone, SpaceRoleViewer, SpaceRoleEditor, SpaceRoleAdmin}, s)
	}
	for _, m := range mapping {
		in := slices.Contains(groups, m.Group)
		if m.SpaceID == "" {
			r.OrgManaged = true
			if in && rank(m.OrgRole) > rank(r.OrgRole) {
				r.OrgRole = m.OrgRole
			}
			continue
		}
		cur, ok := r.Spaces[m.SpaceID]
		if !ok {
			cur = SpaceRoleNone
		}
		if in && srank(m.SpaceRole) > srank(cur) {
			cur = m.SpaceRole
		}
		r.Spaces[m.SpaceID] = cur
	}
	return r
}
