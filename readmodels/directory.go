package readmodels

import (
	"context"
	"encoding/json"
	"sort"
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

// SpaceMember is a member of a space with their role.
type SpaceMember struct {
	SpaceID string
	UserID  string
	Role    domain.SpaceRole
	AddedAt time.Time
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

const userCols = `user_id, organization_id, email, name, role, active, erased, registered_at`

func (r *Reader) scanUser(ctx context.Context, row pgx.Row) (*User, error) {
	var u User
	var email, name *sealedRef
	if err := row.Scan(&u.ID, &u.OrganizationID, &email, &name, &u.Role, &u.Active, &u.Erased, &u.RegisteredAt); err != nil {
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
	rows, err := r.pool.Query(ctx, `SELECT `+userCols+` FROM users WHERE organization_id = $1 AND user_id = ANY($2)`, orgID, ids)
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
// for a user who is not in the organisation.
func (r *Reader) OrgRole(ctx context.Context, orgID, userID string) (domain.OrgRole, bool, error) {
	var role domain.OrgRole
	var active bool
	_, err := one(ctx, r.pool, "readmodels.OrgRole", `SELECT role, active FROM users WHERE organization_id = $1 AND user_id = $2`,
		[]any{orgID, userID}, &role, &active)
	return role, active, err
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

func (r *Reader) scanSpace(ctx context.Context, row pgx.Row) (*Space, error) {
	var s Space
	var name *sealedRef
	var models []string
	if err := row.Scan(&s.ID, &s.OrganizationID, &name, &s.Classification, &models, &s.CreatedBy, &s.CreatedAt); err != nil {
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

// Spaces returns the live spaces of the organisation that userID is a member of, ordered by
// name (then id); an erased name sorts first.
func (r *Reader) Spaces(ctx context.Context, orgID, userID string, p Page) (Connection[Space], error) {
	const op = "readmodels.Spaces"
	limit, err := p.limit()
	if err != nil {
		return Connection[Space]{}, err
	}
	after, err := decodeCursor("space", p.After)
	if err != nil {
		return Connection[Space]{}, err
	}
	rows, err := r.pool.Query(ctx, `SELECT `+spaceCols+` FROM spaces s
		JOIN space_members m ON m.space_id = s.space_id AND m.user_id = $2
		WHERE s.organization_id = $1`, orgID, userID)
	if err != nil {
		return Connection[Space]{}, pgErr(op, err)
	}
	defer rows.Close()
	var all []Space
	for rows.Next() {
		s, err := r.scanSpace(ctx, rows)
		if err != nil {
			return Connection[Space]{}, pgErr(op, err)
		}
		all = append(all, *s)
	}
	if err := rows.Err(); err != nil {
		return Connection[Space]{}, pgErr(op, err)
	}
	// Names are decrypted here, so the order by name is made here too; a user belongs to
	// few spaces.
	key := func(s Space) string {
		n := ""
		if s.Name != nil {
			n = *s.Name
		}
		return n + "\x00" + s.ID
	}
	sort.Slice(all, func(i, j int) bool { return key(all[i]) < key(all[j]) })
	start := 0
	if after != "" {
		start = sort.Search(len(all), func(i int) bool { return key(all[i]) > after })
	}
	all = all[start:]
	if len(all) > limit+1 {
		all = all[:limit+1]
	}
	return connection(all, limit, func(s Space) string { return encodeCursor("space", key(s)) }), nil
}

// Members returns the members of spaces of the organisation, aligned with spaceIDs, each
// ordered by user id.
func (r *Reader) Members(ctx context.Context, orgID string, spaceIDs []string) ([][]SpaceMember, error) {
	const op = "readmodels.Members"
	rows, err := r.pool.Query(ctx, `SELECT space_id, user_id, role, added_at FROM space_members
		WHERE organization_id = $1 AND space_id = ANY($2) ORDER BY space_id, user_id`, orgID, spaceIDs)
	if err != nil {
		return nil, pgErr(op, err)
	}
	ms, err := pgx.CollectRows(rows, pgx.RowToStructByPos[SpaceMember])
	if err != nil {
		return nil, pgErr(op, err)
	}
	by := map[string][]SpaceMember{}
	for _, m := range ms {
		by[m.SpaceID] = append(by[m.SpaceID], m)
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
