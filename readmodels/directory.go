package readmodels

import (
	"context"
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/arkiv/arkiv/domain"
	"github.com/jackc/pgx/v5"
)

// Organization is an organisation with its current settings.
type Organization struct {
	ID string
	// Name is nil when the organisation's name is erased.
	Name      *string
	Settings  domain.OrganizationSettings
	CreatedAt time.Time
	UpdatedAt time.Time
}

// User is a user of an organisation. Email and Name are nil when erased (Erased is then
// true).
type User struct {
	ID             string
	OrganizationID string
	Email          *string
	Name           *string
	Role           domain.OrgRole
	Active         bool
	Erased         bool
	RegisteredAt   time.Time
}

// Space is a live space.
type Space struct {
	ID             string
	OrganizationID string
	// Name is nil when erased.
	Name           *string
	Classification domain.Classification
	Models         []domain.ModelID
	CreatedBy      string
	CreatedAt      time.Time
}

// MemberSpace is a live space as one of its members reads it: the space and their role in
// it.
type MemberSpace struct {
	Space
	Role domain.SpaceRole
	// AsOfMembers, set only in an as-of answer (folded by history), are its members then;
	// the GraphQL members field returns them instead of reading the tables.
	AsOfMembers []SpaceMember
}

// SpaceMember is a member of a space with their role and their user (whose Email and Name
// are decrypted like User's).
type SpaceMember struct {
	SpaceID string
	UserID  string
	Role    domain.SpaceRole
	AddedAt time.Time
	User    *User
}

// Access is one user's access to one space: who can access what.
type Access struct {
	SpaceID string
	UserID  string
	Role    domain.SpaceRole
}

// Organization returns the organisation orgID, nil when it does not exist (or is erased).
func (r *Reader) Organization(ctx context.Context, orgID string) (*Organization, error) {
	const op = "readmodels.Organization"
	var o Organization
	var name *sealedRef
	var settings []byte
	ok, err := one(ctx, r.pool, op, `SELECT organization_id, name, settings, created_at, updated_at
		FROM organizations WHERE organization_id = $1`, []any{orgID}, &o.ID, &name, &settings, &o.CreatedAt, &o.UpdatedAt)
	if err != nil || !ok {
		return nil, err
	}
	if err := json.Unmarshal(settings, &o.Settings); err != nil {
		return nil, domain.Wrap(domain.KindInternal, op, err, "bad stored settings")
	}
	if o.Name, err = r.open(ctx, name); err != nil {
		return nil, err
	}
	return &o, nil
}

const userCols = `u.user_id, u.organization_id, u.email, u.name, u.role, u.active, u.erased, u.registered_at`

// scanUser scans leading columns into lead, then userCols.
func (r *Reader) scanUser(ctx context.Context, row pgx.Row, lead ...any) (*User, error) {
	var u User
	var email, name *sealedRef
	dest := append(lead, &u.ID, &u.OrganizationID, &email, &name, &u.Role, &u.Active, &u.Erased, &u.RegisteredAt)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	var err error
	if u.Email, err = r.open(ctx, email); err != nil {
		return nil, err
	}
	if u.Name, err = r.open(ctx, name); err != nil {
		return nil, err
	}
	return &u, nil
}

// User returns a user of the organisation, nil when there is none.
func (r *Reader) User(ctx context.Context, orgID, userID string) (*User, error) {
	us, err := r.Users(ctx, orgID, []string{userID})
	if err != nil {
		return nil, err
	}
	return us[0], nil
}

// Users returns users of the organisation by id, aligned with ids (nil where unknown).
func (r *Reader) Users(ctx context.Context, orgID string, ids []string) ([]*User, error) {
	const op = "readmodels.Users"
	out := make([]*User, len(ids))
	rows, err := r.pool.Query(ctx, `SELECT `+userCols+` FROM users u WHERE u.organization_id = $1 AND u.user_id = ANY($2)`, orgID, ids)
	if err != nil {
		return nil, pgErr(op, err)
	}
	defer rows.Close()
	byID := map[string]*User{}
	for rows.Next() {
		u, err := r.scanUser(ctx, rows)
		if err != nil {
			return nil, pgErr(op, err)
		}
		byID[u.ID] = u
	}
	if err := rows.Err(); err != nil {
		return nil, pgErr(op, err)
	}
	for i, id := range ids {
		out[i] = byID[id]
	}
	return out, nil
}

// OrgRole returns a user's organisation role and whether they are active; ("", false, nil)
// for a user who is not in the organisation, and for an erased user: erasure ends a user's
// part in the organisation even while their row is kept (its personal fields gone).
func (r *Reader) OrgRole(ctx context.Context, orgID, userID string) (domain.OrgRole, bool, error) {
	var role domain.OrgRole
	var active bool
	_, err := one(ctx, r.pool, "readmodels.OrgRole", `SELECT role, active FROM users
		WHERE organization_id = $1 AND user_id = $2 AND NOT erased`, []any{orgID, userID}, &role, &active)
	return role, active, err
}

// UserByEmail returns the active, not erased user of the organisation whose e-mail address
// is email (compared case-insensitively), nil when there is none. Addresses are sealed, so
// they are compared after decryption, over the organisation's active users.
func (r *Reader) UserByEmail(ctx context.Context, orgID, email string) (*User, error) {
	const op = "readmodels.UserByEmail"
	if strings.TrimSpace(email) == "" {
		return nil, nil
	}
	rows, err := r.pool.Query(ctx, `SELECT `+userCols+` FROM users u
		WHERE u.organization_id = $1 AND u.active AND NOT u.erased ORDER BY u.user_id`, orgID)
	if err != nil {
		return nil, pgErr(op, err)
	}
	defer rows.Close()
	for rows.Next() {
		u, err := r.scanUser(ctx, rows)
		if err != nil {
			return nil, pgErr(op, err)
		}
		if u.Email != nil && strings.EqualFold(*u.Email, email) {
			return u, nil
		}
	}
	return nil, pgErr(op, rows.Err())
}

// SpaceRole returns userID's role in a live space of the organisation, SpaceRoleNone when they
// are not a member or the space is not there.
func (r *Reader) SpaceRole(ctx context.Context, orgID, spaceID, userID string) (domain.SpaceRole, error) {
	var role domain.SpaceRole
	_, err := one(ctx, r.pool, "readmodels.SpaceRole", `SELECT role FROM space_members
		WHERE organization_id = $1 AND space_id = $2 AND user_id = $3`, []any{orgID, spaceID, userID}, &role)
	return role, err
}

const spaceCols = `s.space_id, s.organization_id, s.name, s.classification, s.models, s.created_by, s.created_at`

// scanSpace scans spaceCols, then extra columns into extra.
func (r *Reader) scanSpace(ctx context.Context, row pgx.Row, extra ...any) (*Space, error) {
	var s Space
	var name *sealedRef
	var models []string
	dest := append([]any{&s.ID, &s.OrganizationID, &name, &s.Classification, &models, &s.CreatedBy, &s.CreatedAt}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	s.Models = make([]domain.ModelID, len(models))
	for i, m := range models {
		s.Models[i] = domain.ModelID(m)
	}
	var err error
	if s.Name, err = r.open(ctx, name); err != nil {
		return nil, err
	}
	return &s, nil
}

// Space returns a live space of the organisation, nil when there is none.
func (r *Reader) Space(ctx context.Context, orgID, spaceID string) (*Space, error) {
	const op = "readmodels.Space"
	s, err := r.scanSpace(ctx, r.pool.QueryRow(ctx, `SELECT `+spaceCols+` FROM spaces s
		WHERE s.organization_id = $1 AND s.space_id = $2`, orgID, spaceID))
	if err == pgx.ErrNoRows {
		return nil, nil
	}
	return s, pgErr(op, err)
}

// memberSpaceQuery selects live spaces of the organisation ($1) with the role of their
// member $2; callers add conditions.
const memberSpaceQuery = `SELECT ` + spaceCols + `, m.role FROM spaces s
	JOIN space_members m ON m.space_id = s.space_id AND m.user_id = $2
	WHERE s.organization_id = $1`

func (r *Reader) scanMemberSpace(ctx context.Context, row pgx.Row) (*MemberSpace, error) {
	var role domain.SpaceRole
	s, err := r.scanSpace(ctx, row, &role)
	if err != nil {
		return nil, err
	}
	return &MemberSpace{Space: *s, Role: role}, nil
}

// SpaceOfMember returns a live space of the organisation with userID's role in it, in one
// query; nil when there is no such space or userID is not its member.
func (r *Reader) SpaceOfMember(ctx context.Context, orgID, spaceID, userID string) (*MemberSpace, error) {
	s, err := r.scanMemberSpace(ctx, r.pool.QueryRow(ctx, memberSpaceQuery+` AND s.space_id = $3`, orgID, userID, spaceID))
	if err == pgx.ErrNoRows {
		return nil, nil
	}
	return s, pgErr("readmodels.SpaceOfMember", err)
}

// Spaces returns the live spaces of the organisation that userID is a member of, with their
// role, ordered by name (then id); an erased name sorts first.
func (r *Reader) Spaces(ctx context.Context, orgID, userID string, p Page) (Connection[MemberSpace], error) {
	const op = "readmodels.Spaces"
	limit, err := p.limit()
	if err != nil {
		return Connection[MemberSpace]{}, err
	}
	// A cursor holds the space's id only: names are personal and erasable, so they stay out
	// of cursors (which end up in logs and client caches). A cursor of the former layout
	// ("space:" with the name) is still read.
	afterID, err := decodeCursor("spaceid", p.After)
	legacy := ""
	if err != nil {
		if legacy, err = decodeCursor("space", p.After); err != nil {
			return Connection[MemberSpace]{}, err
		}
	}
	rows, err := r.pool.Query(ctx, memberSpaceQuery, orgID, userID)
	if err != nil {
		return Connection[MemberSpace]{}, pgErr(op, err)
	}
	defer rows.Close()
	var all []MemberSpace
	for rows.Next() {
		s, err := r.scanMemberSpace(ctx, rows)
		if err != nil {
			return Connection[MemberSpace]{}, pgErr(op, err)
		}
		all = append(all, *s)
	}
	if err := rows.Err(); err != nil {
		return Connection[MemberSpace]{}, pgErr(op, err)
	}
	// Names are decrypted here, so the order by name is made here too; a user belongs to
	// few spaces.
	key := func(s MemberSpace) string {
		n := ""
		if s.Name != nil {
			n = *s.Name
		}
		return n + "\x00" + s.ID
	}
	sort.Slice(all, func(i, j int) bool { return key(all[i]) < key(all[j]) })
	start := 0
	switch {
	case afterID != "":
		i := slices.IndexFunc(all, func(s MemberSpace) bool { return s.ID == afterID })
		if i < 0 {
			return Connection[MemberSpace]{}, domain.E(domain.KindInvalid, op,
				"after names a space the caller no longer sees; list the spaces from the start")
		}
		start = i + 1
	case legacy != "":
		start = sort.Search(len(all), func(i int) bool { return key(all[i]) > legacy })
	}
	all = all[start:]
	if len(all) > limit+1 {
		all = all[:limit+1]
	}
	return connection(all, limit, func(s MemberSpace) string { return encodeCursor("spaceid", s.ID) }), nil
}

// Members returns the members of spaces of the organisation with their users, in one query,
// aligned with spaceIDs, each ordered by user id. An erased user is no member (erasure
// removes their memberships); a deactivated one still is.
func (r *Reader) Members(ctx context.Context, orgID string, spaceIDs []string) ([][]SpaceMember, error) {
	const op = "readmodels.Members"
	rows, err := r.pool.Query(ctx, `SELECT m.space_id, m.role, m.added_at, `+userCols+` FROM space_members m
		JOIN users u USING (user_id, organization_id)
		WHERE m.organization_id = $1 AND m.space_id = ANY($2) AND NOT u.erased ORDER BY m.space_id, m.user_id`, orgID, spaceIDs)
	if err != nil {
		return nil, pgErr(op, err)
	}
	defer rows.Close()
	by := map[string][]SpaceMember{}
	for rows.Next() {
		var m SpaceMember
		u, err := r.scanUser(ctx, rows, &m.SpaceID, &m.Role, &m.AddedAt)
		if err != nil {
			return nil, pgErr(op, err)
		}
		m.UserID, m.User = u.ID, u
		by[m.SpaceID] = append(by[m.SpaceID], m)
	}
	if err := rows.Err(); err != nil {
		return nil, pgErr(op, err)
	}
	out := make([][]SpaceMember, len(spaceIDs))
	for i, id := range spaceIDs {
		out[i] = by[id]
		if out[i] == nil {
			out[i] = []SpaceMember{}
		}
	}
	return out, nil
}

// AccessToSpace returns who can access a space of the organisation, and with which role:
// its members who are active users. Organisation Admins have no implicit access to a space's
// content (the RBAC table gives them none), so only members are listed.
func (r *Reader) AccessToSpace(ctx context.Context, orgID, spaceID string) ([]Access, error) {
	return r.access(ctx, "readmodels.AccessToSpace", `m.space_id = $2`, orgID, spaceID)
}

// AccessOfUser returns the spaces of the organisation a user can access, with their role;
// none for a deactivated user.
func (r *Reader) AccessOfUser(ctx context.Context, orgID, userID string) ([]Access, error) {
	return r.access(ctx, "readmodels.AccessOfUser", `m.user_id = $2`, orgID, userID)
}

func (r *Reader) access(ctx context.Context, op, where, orgID, id string) ([]Access, error) {
	rows, err := r.pool.Query(ctx, `SELECT m.space_id, m.user_id, m.role FROM space_members m
		JOIN users u ON u.user_id = m.user_id AND u.organization_id = m.organization_id AND u.active
		JOIN spaces s ON s.space_id = m.space_id
		WHERE m.organization_id = $1 AND `+where+` ORDER BY m.space_id, m.user_id`, orgID, id)
	if err != nil {
		return nil, pgErr(op, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Access])
	if out == nil {
		out = []Access{}
	}
	return out, pgErr(op, err)
}

// ResolveOIDCUser returns the user of the organisation an OIDC token stands for
// (auth.OIDCUserResolver): the token's subject when it is an active user id of the
// organisation, otherwise the active user created just in time for the identity
// (domain.DirectoryUserID), otherwise the active user whose e-mail address is email;
// KindNotFound when none is.
func (r *Reader) ResolveOIDCUser(ctx context.Context, orgID, issuer, subject, email string) (string, error) {
	if domain.ValidateID("subject", subject) == nil {
		if _, active, err := r.OrgRole(ctx, orgID, subject); err != nil {
			return "", err
		} else if active {
			return subject, nil
		}
	}
	// A user created just in time at the identity's first sign-in.
	if id := domain.DirectoryUserID(orgID, issuer, subject); subject != "" {
		if _, active, err := r.OrgRole(ctx, orgID, id); err != nil {
			return "", err
		} else if active {
			return id, nil
		}
	}
	u, err := r.UserByEmail(ctx, orgID, email)
	if err != nil {
		return "", err
	}
	if u == nil {
		return "", domain.E(domain.KindNotFound, "readmodels.ResolveOIDCUser", "no active user of the organisation has this identity")
	}
	return u.ID, nil
}

// OrgUser is a user id with its organisation.
type OrgUser struct {
	OrganizationID string
	UserID         string
}

// UsersByRegistration returns every user of every organisation, organisation by
// organisation in the order they registered (for the start-up backfill of e-mail
// reservations, where the first registered keeps a shared address).
func (r *Reader) UsersByRegistration(ctx context.Context) ([]OrgUser, error) {
	const op = "readmodels.UsersByRegistration"
	rows, err := r.pool.Query(ctx, `SELECT organization_id, user_id FROM users ORDER BY organization_id, registered_at, user_id`)
	if err != nil {
		return nil, pgErr(op, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[OrgUser])
	return out, pgErr(op, err)
}
