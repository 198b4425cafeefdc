package domain

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"io"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// StreamPrefixScim prefixes an organisation's SCIM directory stream, "scim-<orgID>": its
// provisioning tokens, the users and groups a directory (Entra ID, Okta) pushed.
const StreamPrefixScim = "scim-"

// scimScheme starts every SCIM token: "arkivscim_", the organisation id, "_", then 43
// base64url characters (32 random bytes). The organisation in the token finds its
// directory; only the token's SHA-256 is stored.
const scimScheme = "arkivscim_"

// ScimTokenPrefixLen is how many characters of a SCIM token identify it in listings.
const ScimTokenPrefixLen = len(scimScheme) + 8

// MaxScimTokens bounds an organisation's live SCIM tokens.
const MaxScimTokens = 20

// GenerateScimToken draws a SCIM token of org from random and returns the secret (shown
// once), its prefix and its hash.
func GenerateScimToken(random io.Reader, org string) (secret, prefix, hash string, err error) {
	var b [32]byte
	if _, err := io.ReadFull(random, b[:]); err != nil {
		return "", "", "", Wrap(KindInternal, "scim.token.generate", err, "could not draw a random token")
	}
	secret = scimScheme + org + "_" + base64.RawURLEncoding.EncodeToString(b[:])
	return secret, secret[:ScimTokenPrefixLen], HashAPIKey(secret), nil
}

// ScimTokenOrganization returns the organisation a presented SCIM token names, or "" when
// it is not shaped like one.
func ScimTokenOrganization(secret string) string {
	rest, ok := strings.CutPrefix(secret, scimScheme)
	if !ok || len(rest) != 36+1+43 || rest[36] != '_' || ValidateID("organisation id", rest[:36]) != nil {
		return ""
	}
	return rest[:36]
}

// ScimTokenCreated records a SCIM provisioning token of the organisation: its prefix and
// SHA-256, never the secret, and the identity provider (Issuer, Audience; empty for none)
// whose group mapping SCIM group changes apply.
type ScimTokenCreated struct {
	OrganizationID string    `json:"organizationId"`
	TokenID        string    `json:"tokenId"`
	Name           string    `json:"name"`
	Prefix         string    `json:"prefix"`
	Hash           string    `json:"hash"`
	Issuer         string    `json:"issuer,omitempty"`
	Audience       string    `json:"audience,omitempty"`
	CreatedBy      string    `json:"createdBy"`
	CreatedAt      time.Time `json:"createdAt"`
}

// EventName implements Event.
func (ScimTokenCreated) EventName() string { return "scim.token_created.v1" }

// ScimTokenRevoked records that a SCIM token no longer authenticates.
type ScimTokenRevoked struct {
	OrganizationID string    `json:"organizationId"`
	TokenID        string    `json:"tokenId"`
	RevokedBy      string    `json:"revokedBy"`
	RevokedAt      time.Time `json:"revokedAt"`
}

// EventName implements Event.
func (ScimTokenRevoked) EventName() string { return "scim.token_revoked.v1" }

// ScimUserProvisioned records the directory's attributes of a user it created or updated
// (the user itself is a UserRegistered): userName, display name and external id, sealed
// under the user, and whether the directory has it active. TokenID is the pushing token.
type ScimUserProvisioned struct {
	OrganizationID string `json:"organizationId"`
	UserID         string `json:"userId"`
	UserName       Sealed `json:"userName"`
	DisplayName    Sealed `json:"displayName"`
	ExternalID     Sealed `json:"externalId"`
	Active         bool   `json:"active"`
	TokenID        string `json:"tokenId"`
}

// EventName implements Event.
func (ScimUserProvisioned) EventName() string { return "scim.user_provisioned.v1" }

// ScimUserDeleted records that the directory deleted a user (deactivated, erasure asked).
type ScimUserDeleted struct {
	OrganizationID string `json:"organizationId"`
	UserID         string `json:"userId"`
	TokenID        string `json:"tokenId"`
}

// EventName implements Event.
func (ScimUserDeleted) EventName() string { return "scim.user_deleted.v1" }

// ScimGroupChanged records a directory group as it now is: display name, external id (an
// Entra group object id) and members (user ids). TokenID is the pushing token.
type ScimGroupChanged struct {
	OrganizationID string   `json:"organizationId"`
	GroupID        string   `json:"groupId"`
	DisplayName    string   `json:"displayName"`
	ExternalID     string   `json:"externalId,omitempty"`
	Members        []string `json:"members"`
	TokenID        string   `json:"tokenId"`
}

// EventName implements Event.
func (ScimGroupChanged) EventName() string { return "scim.group_changed.v1" }

// ScimGroupDeleted records that the directory deleted a group.
type ScimGroupDeleted struct {
	OrganizationID string `json:"organizationId"`
	GroupID        string `json:"groupId"`
	TokenID        string `json:"tokenId"`
}

// EventName implements Event.
func (ScimGroupDeleted) EventName() string { return "scim.group_deleted.v1" }

// ScimCallRecorded records one SCIM request a token made, in the organisation's access log:
// method, resource path (ids, no personal data), HTTP status.
type ScimCallRecorded struct {
	OrganizationID string    `json:"organizationId"`
	TokenID        string    `json:"tokenId"`
	Method         string    `json:"method"`
	Path           string    `json:"path"`
	Status         int       `json:"status"`
	At             time.Time `json:"at"`
}

// EventName implements Event.
func (ScimCallRecorded) EventName() string { return "access.scim_call_recorded.v1" }

// ScimToken is one SCIM token as its directory knows it.
type ScimToken struct {
	ID, Name, Prefix string
	Issuer, Audience string
	CreatedBy        string
	CreatedAt        time.Time
	Revoked          bool
	RevokedAt        time.Time
	hash             string
}

// ScimUser is a user the directory provisioned. Version counts its changes (the ETag).
type ScimUser struct {
	ID, UserName, DisplayName, ExternalID string
	Active, Deleted                       bool
	Version                               int
}

// ScimGroup is a directory group. Version counts its changes (the ETag).
type ScimGroup struct {
	ID, DisplayName, ExternalID string
	Members                     []string
	Version                     int
}

// ScimDirectory is an organisation's SCIM provisioning state: its tokens and what the
// directory pushed.
type ScimDirectory struct {
	root
	tokens []*ScimToken
	users  map[string]*ScimUser
	order  []string
	groups map[string]*ScimGroup
	gorder []string
}

// NewScimDirectory returns the empty SCIM directory of org.
func NewScimDirectory(org string) *ScimDirectory {
	return &ScimDirectory{root: newRoot(StreamPrefixScim, org), users: map[string]*ScimUser{}, groups: map[string]*ScimGroup{}}
}

// CreateToken records a new token (from GenerateScimToken) by the Admin by, named name,
// applying the group mapping of the provider (issuer, audience) when given.
func (d *ScimDirectory) CreateToken(id, name, prefix, hash, issuer, audience, by string, at time.Time) error {
	const op = "scim.create_token"
	if err := ValidateID("SCIM token id", id); err != nil {
		return err
	}
	name = strings.TrimSpace(name)
	if name == "" {
		name = "SCIM"
	}
	if utf8.RuneCountInString(name) > 80 || strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return E(KindInvalid, op, "the token's name must be at most 80 characters")
	}
	if len(prefix) != ScimTokenPrefixLen || !strings.HasPrefix(prefix, scimScheme) || !scimHashValid(hash) {
		return E(KindInvalid, op, "malformed SCIM token")
	}
	if (issuer == "") != (audience == "") {
		return E(KindInvalid, op, "an identity provider is named by both its issuer and its audience")
	}
	live := 0
	for _, t := range d.tokens {
		if t.ID == id {
			return errExists(op, "SCIM token")
		}
		if !t.Revoked {
			live++
		}
	}
	if live >= MaxScimTokens {
		return Errorf(KindConflict, op, "an organisation has at most %d live SCIM tokens", MaxScimTokens)
	}
	record(d, ScimTokenCreated{OrganizationID: d.id, TokenID: id, Name: name, Prefix: prefix, Hash: hash,
		Issuer: issuer, Audience: audience, CreatedBy: by, CreatedAt: at})
	return nil
}

// RevokeToken records that the token no longer authenticates.
func (d *ScimDirectory) RevokeToken(id, by string, at time.Time) error {
	const op = "scim.revoke_token"
	t := d.token(id)
	if t == nil {
		return E(KindNotFound, op, "SCIM token not found")
	}
	if t.Revoked {
		return E(KindConflict, op, "SCIM token is already revoked")
	}
	record(d, ScimTokenRevoked{OrganizationID: d.id, TokenID: id, RevokedBy: by, RevokedAt: at})
	return nil
}

func (d *ScimDirectory) token(id string) *ScimToken {
	for _, t := range d.tokens {
		if t.ID == id {
			return t
		}
	}
	return nil
}

// Authenticate returns the live token whose secret is given, in constant time per token.
func (d *ScimDirectory) Authenticate(secret string) (ScimToken, bool) {
	h := []byte(HashAPIKey(secret))
	var found *ScimToken
	for _, t := range d.tokens {
		if subtle.ConstantTimeCompare(h, []byte(t.hash)) == 1 && !t.Revoked {
			found = t
		}
	}
	if found == nil {
		return ScimToken{}, false
	}
	return *found, true
}

// Tokens returns the organisation's tokens, oldest first.
func (d *ScimDirectory) Tokens() []ScimToken {
	out := make([]ScimToken, len(d.tokens))
	for i, t := range d.tokens {
		out[i] = *t
	}
	return out
}

// ProvisionUser records the directory's attributes of user (created or updated by token).
func (d *ScimDirectory) ProvisionUser(user, userName, displayName, externalID string, active bool, token string) error {
	const op = "scim.provision_user"
	if err := ValidateID("user id", user); err != nil {
		return err
	}
	for _, s := range []string{displayName, externalID} {
		if utf8.RuneCountInString(s) > 256 || strings.IndexFunc(s, unicode.IsControl) >= 0 {
			return E(KindInvalid, op, "displayName and externalId must be at most 256 characters")
		}
	}
	if u := d.users[user]; u != nil && !u.Deleted && u.UserName == userName && u.DisplayName == displayName &&
		u.ExternalID == externalID && u.Active == active {
		return nil
	}
	s := UserSubject(user)
	record(d, ScimUserProvisioned{OrganizationID: d.id, UserID: user, UserName: Seal(userName, s),
		DisplayName: Seal(displayName, s), ExternalID: Seal(externalID, s), Active: active, TokenID: token})
	return nil
}

// DeleteUser records that the directory deleted user, and takes them out of every group.
func (d *ScimDirectory) DeleteUser(user, token string) error {
	u := d.users[user]
	if u == nil || u.Deleted {
		return E(KindNotFound, "scim.delete_user", "user not found")
	}
	for _, id := range d.gorder {
		g := d.groups[id]
		if slices.Contains(g.Members, user) {
			members := slices.DeleteFunc(slices.Clone(g.Members), func(m string) bool { return m == user })
			record(d, ScimGroupChanged{OrganizationID: d.id, GroupID: id, DisplayName: g.DisplayName,
				ExternalID: g.ExternalID, Members: members, TokenID: token})
		}
	}
	record(d, ScimUserDeleted{OrganizationID: d.id, UserID: user, TokenID: token})
	return nil
}

// User returns a provisioned, not deleted user.
func (d *ScimDirectory) User(id string) (ScimUser, bool) {
	u := d.users[id]
	if u == nil || u.Deleted {
		return ScimUser{}, false
	}
	return *u, true
}

// Users returns the provisioned, not deleted users, in provisioning order.
func (d *ScimDirectory) Users() []ScimUser {
	var out []ScimUser
	for _, id := range d.order {
		if u := d.users[id]; !u.Deleted {
			out = append(out, *u)
		}
	}
	return out
}

// SetGroup records a group as it now is (created, renamed or with new members). Every
// member must be a provisioned user.
func (d *ScimDirectory) SetGroup(id, displayName, externalID string, members []string, token string) error {
	const op = "scim.set_group"
	if err := ValidateID("group id", id); err != nil {
		return err
	}
	displayName = strings.TrimSpace(displayName)
	if displayName == "" || utf8.RuneCountInString(displayName) > MaxGroupRunes || strings.IndexFunc(displayName, unicode.IsControl) >= 0 ||
		utf8.RuneCountInString(externalID) > MaxGroupRunes || strings.IndexFunc(externalID, unicode.IsControl) >= 0 {
		return Errorf(KindInvalid, op, "displayName must be 1 to %d characters, externalId at most %d", MaxGroupRunes, MaxGroupRunes)
	}
	var ms []string
	for _, m := range members {
		if _, ok := d.User(m); !ok {
			return Errorf(KindInvalid, op, "member %q is not a user of the directory", m)
		}
		if !slices.Contains(ms, m) {
			ms = append(ms, m)
		}
	}
	slices.Sort(ms)
	if ms == nil {
		ms = []string{}
	}
	if g := d.groups[id]; g != nil && g.DisplayName == displayName && g.ExternalID == externalID && slices.Equal(g.Members, ms) {
		return nil
	}
	record(d, ScimGroupChanged{OrganizationID: d.id, GroupID: id, DisplayName: displayName, ExternalID: externalID, Members: ms, TokenID: token})
	return nil
}

// DeleteGroup records that the directory deleted a group.
func (d *ScimDirectory) DeleteGroup(id, token string) error {
	if d.groups[id] == nil {
		return E(KindNotFound, "scim.delete_group", "group not found")
	}
	record(d, ScimGroupDeleted{OrganizationID: d.id, GroupID: id, TokenID: token})
	return nil
}

// Group returns a group.
func (d *ScimDirectory) Group(id string) (ScimGroup, bool) {
	g := d.groups[id]
	if g == nil {
		return ScimGroup{}, false
	}
	out := *g
	out.Members = slices.Clone(g.Members)
	return out, true
}

// Groups returns the groups in creation order.
func (d *ScimDirectory) Groups() []ScimGroup {
	out := make([]ScimGroup, 0, len(d.gorder))
	for _, id := range d.gorder {
		g, _ := d.Group(id)
		out = append(out, g)
	}
	return out
}

// GroupsOf returns the names a group mapping may name for user's groups: each group's
// display name and external id.
func (d *ScimDirectory) GroupsOf(user string) []string {
	var out []string
	for _, id := range d.gorder {
		g := d.groups[id]
		if slices.Contains(g.Members, user) {
			out = append(out, g.DisplayName)
			if g.ExternalID != "" {
				out = append(out, g.ExternalID)
			}
		}
	}
	return out
}

func (d *ScimDirectory) apply(e Event) {
	switch e := e.(type) {
	case ScimTokenCreated:
		d.org = e.OrganizationID
		d.tokens = append(d.tokens, &ScimToken{ID: e.TokenID, Name: e.Name, Prefix: e.Prefix, Issuer: e.Issuer,
			Audience: e.Audience, CreatedBy: e.CreatedBy, CreatedAt: e.CreatedAt, hash: e.Hash})
	case ScimTokenRevoked:
		if t := d.token(e.TokenID); t != nil {
			t.Revoked, t.RevokedAt = true, e.RevokedAt
		}
	case ScimUserProvisioned:
		d.org = e.OrganizationID
		u := d.users[e.UserID]
		if u == nil || u.Deleted {
			u = &ScimUser{ID: e.UserID}
			if d.users[e.UserID] == nil {
				d.order = append(d.order, e.UserID)
			}
			d.users[e.UserID] = u
		}
		u.UserName, u.DisplayName, u.ExternalID, u.Active = e.UserName.Plain, e.DisplayName.Plain, e.ExternalID.Plain, e.Active
		u.Version++
	case ScimUserDeleted:
		if u := d.users[e.UserID]; u != nil {
			u.Deleted, u.Active = true, false
			u.Version++
		}
	case ScimGroupChanged:
		d.org = e.OrganizationID
		g := d.groups[e.GroupID]
		if g == nil {
			g = &ScimGroup{ID: e.GroupID}
			d.groups[e.GroupID] = g
			d.gorder = append(d.gorder, e.GroupID)
		}
		g.DisplayName, g.ExternalID, g.Members = e.DisplayName, e.ExternalID, slices.Clone(e.Members)
		g.Version++
	case ScimGroupDeleted:
		delete(d.groups, e.GroupID)
		d.gorder = slices.DeleteFunc(d.gorder, func(id string) bool { return id == e.GroupID })
	}
}

// scimHashValid reports whether hash is a hex SHA-256.
func scimHashValid(hash string) bool {
	b, err := hex.DecodeString(hash)
	return err == nil && len(b) == sha256.Size
}
