package commands

import (
	"context"
	"slices"

	"github.com/arkiv/arkiv/domain"
)

// CreateScimToken issues a SCIM provisioning token of the actor's organisation (Admins).
// Only its SHA-256 and prefix are stored; the secret is returned once. Issuer and Audience,
// when set, name the organisation's identity provider whose group mapping SCIM group
// changes apply (see ApplyDirectoryGroups).
type CreateScimToken struct {
	Meta
	// TokenID is the token's id; empty derives one from the command id.
	TokenID          string
	Name             string
	Issuer, Audience string
}

// ScimTokenResult is the outcome of CreateScimToken. Secret is empty when the command was
// a retry of one already applied: a secret is shown only once.
type ScimTokenResult struct {
	TokenID  string
	Secret   string
	Prefix   string
	Position uint64
}

// createScimToken runs CreateScimToken.
func (x *executor) createScimToken(ctx context.Context, c CreateScimToken) (ScimTokenResult, error) {
	id := orDefault(c.TokenID, DerivedID(c.CommandID, "scimtoken"))
	decided := false
	var secret, prefix string
	res, err := x.run(ctx, c.Meta, spec{
		cmd:    domain.CmdCreateScimToken,
		target: func(act actor) domain.Aggregate { return domain.NewScimDirectory(act.org) },
		create: true,
		decide: func(ctx context.Context, act actor, t domain.Aggregate) error {
			if c.Issuer != "" || c.Audience != "" {
				o := domain.NewOrganization(act.org)
				if err := x.loadSameOrg(ctx, act, o, "organisation"); err != nil {
					return err
				}
				if !hasProvider(o, c.Issuer, c.Audience) {
					return domain.E(domain.KindNotFound, string(domain.CmdCreateScimToken), "the organisation has no such identity provider")
				}
			}
			s, p, hash, err := domain.GenerateScimToken(x.d.Random, act.org)
			if err != nil {
				return err
			}
			secret, prefix, decided = s, p, true
			return t.(*domain.ScimDirectory).CreateToken(id, c.Name, p, hash, c.Issuer, c.Audience, act.id, x.d.Clock.Now())
		},
	})
	if err != nil {
		return ScimTokenResult{}, err
	}
	out := ScimTokenResult{TokenID: id, Position: res.Position}
	if decided {
		out.Secret, out.Prefix = secret, prefix
	}
	return out, nil
}

// RevokeScimToken stops a SCIM token from authenticating (Admins).
type RevokeScimToken struct {
	Meta
	TokenID string
}

// revokeScimToken runs RevokeScimToken; Result.ID is the token's id.
func (x *executor) revokeScimToken(ctx context.Context, c RevokeScimToken) (Result, error) {
	if err := domain.ValidateID("SCIM token id", c.TokenID); err != nil {
		return Result{}, err
	}
	res, err := x.run(ctx, c.Meta, spec{
		cmd:    domain.CmdRevokeScimToken,
		target: func(act actor) domain.Aggregate { return domain.NewScimDirectory(act.org) },
		decide: func(_ context.Context, act actor, t domain.Aggregate) error {
			return t.(*domain.ScimDirectory).RevokeToken(c.TokenID, act.id, x.d.Clock.Now())
		},
	})
	res.ID = c.TokenID
	return res, err
}

// ScimTokens returns the SCIM tokens of the actor's organisation (Admins; a refusal is
// recorded like any other).
func (a *App) ScimTokens(ctx context.Context, m Meta) ([]domain.ScimToken, error) {
	x := a.x
	act, err := x.loadActor(ctx, m, domain.CmdViewScimTokens)
	if err != nil {
		return nil, err
	}
	d := domain.NewScimDirectory(act.org)
	if _, err := x.load(ctx, d); err != nil {
		return nil, err
	}
	if err := x.authorize(ctx, m, act, domain.CmdViewScimTokens, d, nil); err != nil {
		return nil, err
	}
	return d.Tokens(), nil
}

// ScimAuth is a SCIM token that authenticated: its organisation and id, and the identity
// provider whose group mapping applies (empty for none).
type ScimAuth struct {
	OrganizationID, TokenID string
	Issuer, Audience        string
}

// AuthenticateScim finds the live SCIM token secret names; anything else is
// KindUnauthenticated. It records nothing: the SCIM endpoint records every call.
func (a *App) AuthenticateScim(ctx context.Context, secret string) (ScimAuth, error) {
	const op = "scim.authenticate"
	org := domain.ScimTokenOrganization(secret)
	if org == "" {
		return ScimAuth{}, domain.E(domain.KindUnauthenticated, op, "not a SCIM token")
	}
	d := domain.NewScimDirectory(org)
	if _, err := a.x.load(ctx, d); err != nil {
		return ScimAuth{}, err
	}
	t, ok := d.Authenticate(secret)
	if !ok {
		return ScimAuth{}, domain.E(domain.KindUnauthenticated, op, "unknown or revoked SCIM token")
	}
	return ScimAuth{OrganizationID: org, TokenID: t.ID, Issuer: t.Issuer, Audience: t.Audience}, nil
}

// ScimDirectory returns the organisation's SCIM directory as the event store holds it now
// (so a user is readable the moment it is created). It authorizes nothing: the SCIM
// endpoint calls it for a token of that organisation only.
func (a *App) ScimDirectory(ctx context.Context, orgID string) (*domain.ScimDirectory, error) {
	if err := domain.ValidateID("organisation id", orgID); err != nil {
		return nil, err
	}
	d := domain.NewScimDirectory(orgID)
	if _, err := a.x.load(ctx, d); err != nil {
		return nil, err
	}
	return d, nil
}

// ScimTarget is what every SCIM push names: the organisation and the token that pushed.
type ScimTarget struct {
	OrganizationID string
	TokenID        string
	// IfMatch, when at least 1, is the version (ETag) the resource must have.
	IfMatch int
}

// ScimPutUser creates (UserID empty) or updates a user the directory provisions: a new
// user is registered as a User of the organisation with UserName as e-mail address; an
// update records the new attributes, and Active false deactivates the user at once (as
// DeactivateUser does: every credential of theirs is refused). A deactivated user is not
// reactivated by the directory.
type ScimPutUser struct {
	Meta
	ScimTarget
	UserID                            string
	UserName, DisplayName, ExternalID string
	Active                            bool
}

// ScimDeleteUser deletes a user the directory provisioned: deactivation at once, and an
// erasure request with the organisation's grace window.
type ScimDeleteUser struct {
	Meta
	ScimTarget
	UserID string
}

// ScimPutGroup creates (GroupID empty, a new id is drawn) or replaces a directory group;
// the members whose membership changed get the token's identity provider's group mapping
// applied (ApplyDirectoryGroups).
type ScimPutGroup struct {
	Meta
	ScimTarget
	GroupID                 string
	DisplayName, ExternalID string
	Members                 []string
}

// ScimDeleteGroup deletes a directory group; its members get the mapping applied.
type ScimDeleteGroup struct {
	Meta
	ScimTarget
	GroupID string
}

// RecordScimCall records one SCIM request of a token in the organisation's access log.
type RecordScimCall struct {
	Meta
	ScimTarget
	Method, Path string
	Status       int
}

// scimActor loads the system actor for a SCIM push of t, with the token's id as reason,
// and the directory, in which the token must be live.
func (x *executor) scimActor(ctx context.Context, m Meta, t ScimTarget) (actor, domain.ScimToken, error) {
	const op = string(domain.CmdScimProvision)
	if err := domain.ValidateID("organisation id", t.OrganizationID); err != nil {
		return actor{}, domain.ScimToken{}, err
	}
	act, err := x.loadActor(ctx, m, domain.CmdScimProvision)
	if err != nil {
		return actor{}, domain.ScimToken{}, err
	}
	if !act.system {
		return actor{}, domain.ScimToken{}, domain.E(domain.KindForbidden, op, "only Arkiv's SCIM endpoint runs "+op)
	}
	d := domain.NewScimDirectory(t.OrganizationID)
	if _, err := x.load(ctx, d); err != nil {
		return actor{}, domain.ScimToken{}, err
	}
	for _, tok := range d.Tokens() {
		if tok.ID == t.TokenID && !tok.Revoked {
			act.org = t.OrganizationID
			act.meta.Reason = ScimReason(t.TokenID)
			return act, tok, nil
		}
	}
	return actor{}, domain.ScimToken{}, domain.E(domain.KindUnauthenticated, op, "unknown or revoked SCIM token")
}

// ScimReason is the reason recorded in the metadata of every change a SCIM token makes.
func ScimReason(tokenID string) string { return "SCIM token " + tokenID }

// ifMatch refuses a stale version as a conflict.
func ifMatch(op string, want, have int) error {
	if want > 0 && want != have {
		return domain.E(domain.KindConflict, op, "the resource has changed (If-Match does not match its version)")
	}
	return nil
}

// scimPutUser runs ScimPutUser; Result.ID is the user's id.
func (x *executor) scimPutUser(ctx context.Context, c ScimPutUser) (Result, error) {
	const op = "scim.put_user"
	act, _, err := x.scimActor(ctx, c.Meta, c.ScimTarget)
	if err != nil {
		return Result{}, err
	}
	mail, err := domain.NewEmail(c.UserName)
	if err != nil {
		return Result{}, domain.E(domain.KindInvalid, op, "userName must be an e-mail address")
	}
	id, creating := c.UserID, c.UserID == ""
	if creating {
		id = DerivedID(c.CommandID, "user")
	}
	var last uint64
	if creating {
		// The user first, so the directory never names a user that is not there; its
		// userName must be free in the directory.
		d := domain.NewScimDirectory(act.org)
		if _, err := x.load(ctx, d); err != nil {
			return Result{}, err
		}
		for _, u := range d.Users() {
			if n, _ := domain.NewEmail(u.UserName); n == mail {
				return Result{}, domain.E(domain.KindConflict, op, "a user with this userName exists")
			}
		}
		name := c.DisplayName
		if name == "" {
			name = mail[:indexAt(mail)]
		}
		pos, err := x.change(ctx, act, func() domain.Aggregate { return domain.NewUser(id) }, func(a domain.Aggregate) error {
			u := a.(*domain.User)
			if err := u.Register(act.org, mail, name, domain.OrgRoleUser); err != nil {
				return err
			}
			return x.reserveEmail(ctx, act.meta, act.id, act.org, id, mail)
		})
		if err != nil {
			return Result{}, err
		}
		last = max(last, pos)
	}
	pos, err := x.change(ctx, act, func() domain.Aggregate { return domain.NewScimDirectory(act.org) }, func(a domain.Aggregate) error {
		d := a.(*domain.ScimDirectory)
		if !creating {
			u, ok := d.User(id)
			if !ok {
				return domain.E(domain.KindNotFound, op, "user not found")
			}
			if err := ifMatch(op, c.IfMatch, u.Version); err != nil {
				return err
			}
			if c.Active && !u.Active {
				return domain.E(domain.KindInvalid, op, "a deactivated user cannot be reactivated by the directory")
			}
			for _, o := range d.Users() {
				if n, _ := domain.NewEmail(o.UserName); n == mail && o.ID != id {
					return domain.E(domain.KindConflict, op, "a user with this userName exists")
				}
			}
		}
		return d.ProvisionUser(id, c.UserName, c.DisplayName, c.ExternalID, c.Active, c.TokenID)
	})
	if err != nil {
		return Result{}, err
	}
	last = max(last, pos)
	if !c.Active {
		pos, err := x.scimDeactivate(ctx, act, id)
		if err != nil {
			return Result{}, err
		}
		last = max(last, pos)
	}
	return Result{ID: id, Position: last}, nil
}

func indexAt(mail string) int {
	for i := len(mail) - 1; i >= 0; i-- {
		if mail[i] == '@' {
			return i
		}
	}
	return len(mail)
}

// scimDeactivate deactivates a user of the organisation as DeactivateUser does (the same
// decision and event); an inactive user stays so.
func (x *executor) scimDeactivate(ctx context.Context, act actor, userID string) (uint64, error) {
	return x.change(ctx, act, func() domain.Aggregate { return domain.NewUser(userID) }, func(a domain.Aggregate) error {
		u := a.(*domain.User)
		if u.OrganizationID() != act.org {
			return domain.E(domain.KindNotFound, "scim.deactivate", "user not found")
		}
		if !u.Active() {
			return nil
		}
		return u.Deactivate(act.id)
	})
}

// scimDeleteUser runs ScimDeleteUser; Result.ID is the erasure's id.
func (x *executor) scimDeleteUser(ctx context.Context, c ScimDeleteUser) (Result, error) {
	const op = "scim.delete_user"
	act, _, err := x.scimActor(ctx, c.Meta, c.ScimTarget)
	if err != nil {
		return Result{}, err
	}
	if err := domain.ValidateID("user id", c.UserID); err != nil {
		return Result{}, domain.E(domain.KindNotFound, op, "user not found")
	}
	pos, err := x.change(ctx, act, func() domain.Aggregate { return domain.NewScimDirectory(act.org) }, func(a domain.Aggregate) error {
		d := a.(*domain.ScimDirectory)
		u, ok := d.User(c.UserID)
		if !ok {
			return domain.E(domain.KindNotFound, op, "user not found")
		}
		if err := ifMatch(op, c.IfMatch, u.Version); err != nil {
			return err
		}
		return d.DeleteUser(c.UserID, c.TokenID)
	})
	if err != nil {
		return Result{}, err
	}
	last := pos
	if pos, err = x.scimDeactivate(ctx, act, c.UserID); err != nil {
		return Result{}, err
	}
	last = max(last, pos)
	o := domain.NewOrganization(act.org)
	if _, err := x.load(ctx, o); err != nil {
		return Result{}, err
	}
	eid := DerivedID(c.CommandID, "erasure")
	pos, err = x.change(ctx, act, func() domain.Aggregate { return domain.NewErasure(eid) }, func(a domain.Aggregate) error {
		return a.(*domain.Erasure).Request(act.org, domain.SubjectUser, c.UserID, o.Settings().ErasureGraceDays, act.id, x.d.Clock.Now())
	})
	if err != nil {
		return Result{}, err
	}
	return Result{ID: eid, Position: max(last, pos)}, nil
}

// scimPutGroup runs ScimPutGroup; Result.ID is the group's id.
func (x *executor) scimPutGroup(ctx context.Context, c ScimPutGroup) (Result, error) {
	const op = "scim.put_group"
	act, tok, err := x.scimActor(ctx, c.Meta, c.ScimTarget)
	if err != nil {
		return Result{}, err
	}
	id, creating := c.GroupID, c.GroupID == ""
	if creating {
		id = DerivedID(c.CommandID, "scimgroup")
	}
	var before []string
	pos, err := x.change(ctx, act, func() domain.Aggregate { return domain.NewScimDirectory(act.org) }, func(a domain.Aggregate) error {
		d := a.(*domain.ScimDirectory)
		g, ok := d.Group(id)
		switch {
		case creating:
			for _, o := range d.Groups() {
				if o.DisplayName == c.DisplayName {
					return domain.E(domain.KindConflict, op, "a group with this displayName exists")
				}
			}
		case !ok:
			return domain.E(domain.KindNotFound, op, "group not found")
		default:
			if err := ifMatch(op, c.IfMatch, g.Version); err != nil {
				return err
			}
		}
		before = g.Members
		return d.SetGroup(id, c.DisplayName, c.ExternalID, c.Members, c.TokenID)
	})
	if err != nil {
		return Result{}, err
	}
	changed := symmetricDifference(before, c.Members)
	if !creating && pos > 0 {
		// A renamed group may change every member's roles.
		changed = append(before, c.Members...)
	}
	p2, err := x.scimApplyGroups(ctx, act, tok, changed)
	return Result{ID: id, Position: max(pos, p2)}, err
}

// scimDeleteGroup runs ScimDeleteGroup.
func (x *executor) scimDeleteGroup(ctx context.Context, c ScimDeleteGroup) (Result, error) {
	const op = "scim.delete_group"
	act, tok, err := x.scimActor(ctx, c.Meta, c.ScimTarget)
	if err != nil {
		return Result{}, err
	}
	var members []string
	pos, err := x.change(ctx, act, func() domain.Aggregate { return domain.NewScimDirectory(act.org) }, func(a domain.Aggregate) error {
		d := a.(*domain.ScimDirectory)
		g, ok := d.Group(c.GroupID)
		if !ok {
			return domain.E(domain.KindNotFound, op, "group not found")
		}
		if err := ifMatch(op, c.IfMatch, g.Version); err != nil {
			return err
		}
		members = g.Members
		return d.DeleteGroup(c.GroupID, c.TokenID)
	})
	if err != nil {
		return Result{}, err
	}
	p2, err := x.scimApplyGroups(ctx, act, tok, members)
	return Result{ID: c.GroupID, Position: max(pos, p2)}, err
}

// scimApplyGroups applies the token's identity provider's group mapping to each user with
// the groups the directory now gives them (ApplyDirectoryGroups' rules; the reason names the
// token). A token without a provider maps nothing; deactivated users get nothing.
func (x *executor) scimApplyGroups(ctx context.Context, act actor, tok domain.ScimToken, users []string) (uint64, error) {
	if tok.Issuer == "" || len(users) == 0 {
		return 0, nil
	}
	d := domain.NewScimDirectory(act.org)
	if _, err := x.load(ctx, d); err != nil {
		return 0, err
	}
	slices.Sort(users)
	users = slices.Compact(users)
	var last uint64
	for _, u := range users {
		m := act.meta
		m.CommandID = DerivedID(act.meta.CommandID, "scim-apply-"+u)
		m.ActorID = domain.SystemActor
		dir, _, signIn, err := x.directoryActor(ctx, m, domain.CmdApplyDirectoryGroups, act.org, tok.Issuer, tok.Audience)
		if err != nil {
			return 0, err
		}
		dir.meta.Reason = ScimReason(tok.ID) + " (" + DirectoryReason(tok.Issuer) + ")"
		pos, err := x.applyDirectory(ctx, dir, signIn, u, d.GroupsOf(u))
		if domain.Is(domain.KindNotFound, err) {
			continue // a deactivated or deleted user gets no roles
		}
		if err != nil {
			return 0, err
		}
		last = max(last, pos)
	}
	return last, nil
}

func symmetricDifference(a, b []string) []string {
	var out []string
	for _, s := range a {
		if !slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	for _, s := range b {
		if !slices.Contains(a, s) {
			out = append(out, s)
		}
	}
	return out
}

// recordScimCall runs RecordScimCall.
func (x *executor) recordScimCall(ctx context.Context, c RecordScimCall) (Result, error) {
	act, err := x.loadActor(ctx, c.Meta, domain.CmdScimProvision)
	if err != nil {
		return Result{}, err
	}
	if !act.system {
		return Result{}, domain.E(domain.KindForbidden, "scim.record_call", "only Arkiv's SCIM endpoint records SCIM calls")
	}
	if err := domain.ValidateID("SCIM token id", c.TokenID); err != nil {
		return Result{}, err
	}
	if err := domain.ValidateID("organisation id", c.OrganizationID); err != nil {
		return Result{}, err
	}
	act.org = c.OrganizationID
	act.meta.Reason = ScimReason(c.TokenID)
	path := c.Path
	if len(path) > 512 {
		path = path[:512]
	}
	pos, err := x.appendAccess(ctx, act.meta, act, domain.ScimCallRecorded{OrganizationID: c.OrganizationID, TokenID: c.TokenID,
		Method: c.Method, Path: path, Status: c.Status, At: x.d.Clock.Now()}, "")
	return Result{ID: c.TokenID, Position: pos}, err
}
