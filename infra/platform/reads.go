package platform

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/graphql"
	"github.com/arkiv/arkiv/infra/embedding"
	"github.com/arkiv/arkiv/infra/keyring"
	"github.com/arkiv/arkiv/infra/search"
	"github.com/arkiv/arkiv/projections/readmodel"
)

// reads implements graphql.Reads (and auth.OIDCUserResolver) over the tables the
// projections in projections/readmodel fill. Every query is scoped by organisation; sealed
// fields are decrypted at query time and come back nil when erased.
type reads struct {
	pool  *pgxpool.Pool
	codec *keyring.EventCodec
	index *search.Index
	emb   embedding.Provider
}

func newReads(p *Platform) *reads {
	return &reads{pool: p.Pool, codec: p.Codec, index: p.Index, emb: p.Embedder}
}

var _ graphql.Reads = (*reads)(nil)

const opReads = "platform.reads"

func dbErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return domain.Wrap(domain.KindUnavailable, opReads, err, "the request was cancelled")
	}
	return domain.Wrap(domain.KindUnavailable, opReads, err, "the read models are unavailable")
}

// open decrypts a stored sealed field; nil when absent or erased.
func (r *reads) open(ctx context.Context, raw []byte) (*string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var ref readmodel.SealedRef
	if err := json.Unmarshal(raw, &ref); err != nil {
		return nil, domain.Wrap(domain.KindInternal, opReads, err, "")
	}
	plain, redacted, err := r.codec.OpenField(ctx, ref.EventID, ref.Path, ref.Envelope)
	if err != nil {
		if domain.Is(domain.KindErased, err) {
			return nil, nil
		}
		return nil, err
	}
	if redacted {
		return nil, nil
	}
	return &plain, nil
}

// cursor encodes a row's position; after decodes it (0 for none).
func cursor(pos int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(pos, 10)))
}

func after(c string) (int64, error) {
	if c == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err == nil {
		if n, err := strconv.ParseInt(string(b), 10, 64); err == nil && n >= 0 {
			return n, nil
		}
	}
	return 0, domain.E(domain.KindInvalid, opReads, "after must be a cursor from a previous page")
}

func pageInfo(n, first int, last int64) *graphql.PageInfo {
	pi := &graphql.PageInfo{HasNextPage: n > first}
	if n > 0 {
		c := cursor(last)
		pi.EndCursor = &c
	}
	return pi
}

// OrgRole implements graphql.Roles.
func (r *reads) OrgRole(ctx context.Context, orgID, userID string) (domain.OrgRole, bool, error) {
	var role string
	var active bool
	err := r.pool.QueryRow(ctx, `SELECT role, active FROM users WHERE user_id = $1 AND organization_id = $2 AND NOT erased`,
		userID, orgID).Scan(&role, &active)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, dbErr(err)
	}
	return domain.OrgRole(role), active, nil
}

const userColumns = `user_id, email, name, role, active`

func (r *reads) scanUser(ctx context.Context, row pgx.Row) (*graphql.User, error) {
	var id, role string
	var email, name []byte
	var active bool
	if err := row.Scan(&id, &email, &name, &role, &active); err != nil {
		return nil, err
	}
	u := &graphql.User{ID: id, Role: schemaOrgRole(domain.OrgRole(role)), Active: active}
	var err error
	if u.Email, err = r.open(ctx, email); err != nil {
		return nil, err
	}
	if u.Name, err = r.open(ctx, name); err != nil {
		return nil, err
	}
	return u, nil
}

func schemaOrgRole(r domain.OrgRole) graphql.OrgRole {
	switch r {
	case domain.OrgRoleAdmin:
		return graphql.OrgRoleAdmin
	case domain.OrgRoleCreator:
		return graphql.OrgRoleCreator
	}
	return graphql.OrgRoleUser
}

func schemaSpaceRole(r string) graphql.SpaceRole {
	switch domain.SpaceRole(r) {
	case domain.SpaceRoleAdmin:
		return graphql.SpaceRoleAdmin
	case domain.SpaceRoleEditor:
		return graphql.SpaceRoleEditor
	}
	return graphql.SpaceRoleViewer
}

// User implements graphql.Reads.
func (r *reads) User(ctx context.Context, orgID, userID string) (*graphql.User, error) {
	u, err := r.scanUser(ctx, r.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users
		WHERE user_id = $1 AND organization_id = $2 AND NOT erased`, userID, orgID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, dbErr(err)
	}
	return u, nil
}

// Users implements graphql.Reads.
func (r *reads) Users(ctx context.Context, orgID string, ids []string) ([]*graphql.User, error) {
	rows, err := r.pool.Query(ctx, `SELECT `+userColumns+` FROM users
		WHERE organization_id = $1 AND user_id = ANY($2) AND NOT erased`, orgID, ids)
	if err != nil {
		return nil, dbErr(err)
	}
	defer rows.Close()
	byID := map[string]*graphql.User{}
	for rows.Next() {
		u, err := r.scanUser(ctx, rows)
		if err != nil {
			return nil, dbErr(err)
		}
		byID[u.ID] = u
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr(err)
	}
	out := make([]*graphql.User, len(ids))
	for i, id := range ids {
		out[i] = byID[id]
	}
	return out, nil
}

// Organization implements graphql.Reads.
func (r *reads) Organization(ctx context.Context, orgID string) (*graphql.Organization, error) {
	var name, settings []byte
	err := r.pool.QueryRow(ctx, `SELECT name, settings FROM organizations WHERE organization_id = $1`, orgID).Scan(&name, &settings)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, dbErr(err)
	}
	var s domain.OrganizationSettings
	if err := json.Unmarshal(settings, &s); err != nil {
		return nil, domain.Wrap(domain.KindInternal, opReads, err, "")
	}
	o := &graphql.Organization{ID: orgID, Settings: graphql.SettingsToSchema(s)}
	if o.Name, err = r.open(ctx, name); err != nil {
		return nil, err
	}
	return o, nil
}

// SpaceRole implements graphql.Reads.
func (r *reads) SpaceRole(ctx context.Context, orgID, spaceID, userID string) (domain.SpaceRole, error) {
	var role string
	err := r.pool.QueryRow(ctx, `SELECT role FROM space_members WHERE space_id = $1 AND user_id = $2 AND organization_id = $3`,
		spaceID, userID, orgID).Scan(&role)
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.SpaceRoleNone, nil
	}
	if err != nil {
		return domain.SpaceRoleNone, dbErr(err)
	}
	return domain.SpaceRole(role), nil
}

func (r *reads) scanSpace(ctx context.Context, row pgx.Row) (*graphql.Space, int64, error) {
	var s graphql.Space
	var name []byte
	var pos int64
	var role string
	if err := row.Scan(&s.ID, &name, &s.Classification, &s.ModelIds, &pos, &role); err != nil {
		return nil, 0, err
	}
	r2 := schemaSpaceRole(role)
	s.MyRole = &r2
	var err error
	if s.Name, err = r.open(ctx, name); err != nil {
		return nil, 0, err
	}
	if s.ModelIds == nil {
		s.ModelIds = []string{}
	}
	return &s, pos, nil
}

// Spaces implements graphql.Reads.
func (r *reads) Spaces(ctx context.Context, orgID, userID string, p graphql.Page) (*graphql.SpaceConnection, error) {
	from, err := after(p.After)
	if err != nil {
		return nil, err
	}
	rows, err := r.pool.Query(ctx, `SELECT s.space_id, s.name, s.classification, s.models, s.position, m.role
		FROM spaces s JOIN space_members m ON m.space_id = s.space_id AND m.user_id = $2
		WHERE s.organization_id = $1 AND s.position > $3 ORDER BY s.position LIMIT $4`, orgID, userID, from, p.First+1)
	if err != nil {
		return nil, dbErr(err)
	}
	defer rows.Close()
	conn := &graphql.SpaceConnection{Edges: []graphql.SpaceEdge{}}
	var last int64
	n := 0
	for rows.Next() {
		s, pos, err := r.scanSpace(ctx, rows)
		if err != nil {
			return nil, dbErr(err)
		}
		if n++; n > p.First {
			continue
		}
		last = pos
		conn.Edges = append(conn.Edges, graphql.SpaceEdge{Cursor: cursor(pos), Node: s})
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr(err)
	}
	conn.PageInfo = pageInfo(n, p.First, last)
	return conn, nil
}

// Space implements graphql.Reads.
func (r *reads) Space(ctx context.Context, orgID, spaceID, userID string) (*graphql.Space, error) {
	s, _, err := r.scanSpace(ctx, r.pool.QueryRow(ctx, `SELECT s.space_id, s.name, s.classification, s.models, s.position, m.role
		FROM spaces s JOIN space_members m ON m.space_id = s.space_id AND m.user_id = $3
		WHERE s.space_id = $1 AND s.organization_id = $2`, spaceID, orgID, userID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, dbErr(err)
	}
	return s, nil
}

// Members implements graphql.Reads: the members with their users, in one query.
func (r *reads) Members(ctx context.Context, orgID string, spaceIDs []string) ([][]graphql.SpaceMember, error) {
	rows, err := r.pool.Query(ctx, `SELECT m.space_id, m.role, u.user_id, u.email, u.name, u.role, u.active
		FROM space_members m JOIN users u ON u.user_id = m.user_id AND NOT u.erased
		WHERE m.organization_id = $1 AND m.space_id = ANY($2) ORDER BY m.added_at, m.user_id`, orgID, spaceIDs)
	if err != nil {
		return nil, dbErr(err)
	}
	type row struct {
		space, role, user, urole string
		email, name              []byte
		active                   bool
	}
	var raw []row
	for rows.Next() {
		var x row
		if err := rows.Scan(&x.space, &x.role, &x.user, &x.email, &x.name, &x.urole, &x.active); err != nil {
			rows.Close()
			return nil, dbErr(err)
		}
		raw = append(raw, x)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, dbErr(err)
	}
	by := map[string][]graphql.SpaceMember{}
	for _, x := range raw {
		u := &graphql.User{ID: x.user, Role: schemaOrgRole(domain.OrgRole(x.urole)), Active: x.active}
		if u.Email, err = r.open(ctx, x.email); err != nil {
			return nil, err
		}
		if u.Name, err = r.open(ctx, x.name); err != nil {
			return nil, err
		}
		by[x.space] = append(by[x.space], graphql.SpaceMember{ID: x.user, Role: schemaSpaceRole(x.role), User: u})
	}
	out := make([][]graphql.SpaceMember, len(spaceIDs))
	for i, id := range spaceIDs {
		out[i] = by[id]
		if out[i] == nil {
			out[i] = []graphql.SpaceMember{}
		}
	}
	return out, nil
}

// Assistants implements graphql.Reads.
func (r *reads) Assistants(ctx context.Context, orgID, spaceID string, p graphql.Page) (*graphql.AssistantConnection, error) {
	from, err := after(p.After)
	if err != nil {
		return nil, err
	}
	rows, err := r.pool.Query(ctx, `SELECT assistant_id, space_id, name, instructions, model, retention_days,
			log_model_payloads, position FROM assistants
		WHERE organization_id = $1 AND space_id = $2 AND position > $3 ORDER BY position LIMIT $4`, orgID, spaceID, from, p.First+1)
	if err != nil {
		return nil, dbErr(err)
	}
	defer rows.Close()
	conn := &graphql.AssistantConnection{Edges: []graphql.AssistantEdge{}}
	var last int64
	n := 0
	for rows.Next() {
		var a graphql.Assistant
		var name, instr []byte
		var pos int64
		if err := rows.Scan(&a.ID, &a.SpaceID, &name, &instr, &a.ModelID, &a.RetentionDays, &a.LogModelPayloads, &pos); err != nil {
			return nil, dbErr(err)
		}
		if n++; n > p.First {
			continue
		}
		if a.Name, err = r.open(ctx, name); err != nil {
			return nil, err
		}
		if a.Instructions, err = r.open(ctx, instr); err != nil {
			return nil, err
		}
		last = pos
		conn.Edges = append(conn.Edges, graphql.AssistantEdge{Cursor: cursor(pos), Node: &a})
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr(err)
	}
	conn.PageInfo = pageInfo(n, p.First, last)
	return conn, nil
}

const documentColumns = `document_id, space_id, title, content_type, size_bytes, ingested_by, ingested_at, position`

func (r *reads) scanDocument(ctx context.Context, row pgx.Row) (*graphql.Document, int64, error) {
	var d graphql.Document
	var title []byte
	var size, pos int64
	if err := row.Scan(&d.ID, &d.SpaceID, &title, &d.ContentType, &size, &d.IngestedBy, &d.IngestedAt, &pos); err != nil {
		return nil, 0, err
	}
	d.SizeBytes = int(size)
	var err error
	if d.Title, err = r.open(ctx, title); err != nil {
		return nil, 0, err
	}
	return &d, pos, nil
}

// Documents implements graphql.Reads.
func (r *reads) Documents(ctx context.Context, orgID, spaceID string, p graphql.Page) (*graphql.DocumentConnection, error) {
	from, err := after(p.After)
	if err != nil {
		return nil, err
	}
	rows, err := r.pool.Query(ctx, `SELECT `+documentColumns+` FROM documents
		WHERE organization_id = $1 AND space_id = $2 AND position > $3 ORDER BY position LIMIT $4`, orgID, spaceID, from, p.First+1)
	if err != nil {
		return nil, dbErr(err)
	}
	defer rows.Close()
	conn := &graphql.DocumentConnection{Edges: []graphql.DocumentEdge{}}
	var last int64
	n := 0
	for rows.Next() {
		d, pos, err := r.scanDocument(ctx, rows)
		if err != nil {
			return nil, dbErr(err)
		}
		if n++; n > p.First {
			continue
		}
		last = pos
		conn.Edges = append(conn.Edges, graphql.DocumentEdge{Cursor: cursor(pos), Node: d})
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr(err)
	}
	conn.PageInfo = pageInfo(n, p.First, last)
	return conn, nil
}

// Document implements graphql.Reads.
func (r *reads) Document(ctx context.Context, orgID, documentID string) (*graphql.Document, error) {
	d, _, err := r.scanDocument(ctx, r.pool.QueryRow(ctx, `SELECT `+documentColumns+` FROM documents
		WHERE document_id = $1 AND organization_id = $2`, documentID, orgID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, dbErr(err)
	}
	return d, nil
}

// DocumentContent implements graphql.Reads: the document's chunks, decrypted and joined.
func (r *reads) DocumentContent(ctx context.Context, orgID, documentID string) (*string, error) {
	rows, err := r.pool.Query(ctx, `SELECT c.text FROM document_chunks c JOIN documents d ON d.document_id = c.document_id
		WHERE c.document_id = $1 AND d.organization_id = $2 ORDER BY c.chunk_index`, documentID, orgID)
	if err != nil {
		return nil, dbErr(err)
	}
	var raws [][]byte
	for rows.Next() {
		var raw []byte
		if err := rows.Scan(&raw); err != nil {
			rows.Close()
			return nil, dbErr(err)
		}
		raws = append(raws, raw)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, dbErr(err)
	}
	if len(raws) == 0 {
		return nil, nil
	}
	var b strings.Builder
	for _, raw := range raws {
		s, err := r.open(ctx, raw)
		if err != nil {
			return nil, err
		}
		if s == nil {
			return nil, nil
		}
		b.WriteString(*s)
	}
	out := b.String()
	return &out, nil
}

// Conversation implements graphql.Reads.
func (r *reads) Conversation(ctx context.Context, orgID, conversationID string) (*graphql.Conversation, error) {
	var c graphql.Conversation
	err := r.pool.QueryRow(ctx, `SELECT conversation_id, assistant_id, space_id, started_by, started_at
		FROM conversations WHERE conversation_id = $1 AND organization_id = $2`, conversationID, orgID).
		Scan(&c.ID, &c.AssistantID, &c.SpaceID, &c.StartedBy, &c.StartedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, dbErr(err)
	}
	return &c, nil
}

// Messages implements graphql.Reads.
func (r *reads) Messages(ctx context.Context, orgID, conversationID string, p graphql.Page) (*graphql.MessageConnection, error) {
	from, err := after(p.After)
	if err != nil {
		return nil, err
	}
	msgs, positions, more, err := r.messagesAfter(ctx, orgID, conversationID, from, p.First)
	if err != nil {
		return nil, err
	}
	conn := &graphql.MessageConnection{Edges: make([]graphql.MessageEdge, len(msgs))}
	var last int64
	for i, m := range msgs {
		conn.Edges[i] = graphql.MessageEdge{Cursor: cursor(positions[i]), Node: m}
		last = positions[i]
	}
	n := len(msgs)
	if more {
		n++
	}
	conn.PageInfo = pageInfo(n, p.First, last)
	return conn, nil
}

// messagesAfter returns up to max messages of a conversation after a position, and
// whether more follow. Erased messages (text gone) are left out.
func (r *reads) messagesAfter(ctx context.Context, orgID, conversationID string, from int64, max int) ([]*graphql.Message, []int64, bool, error) {
	rows, err := r.pool.Query(ctx, `SELECT message_id, role, author_id, in_reply_to, text, excerpts, sent_at, position
		FROM messages WHERE conversation_id = $1 AND organization_id = $2 AND position > $3
		ORDER BY position, message_id LIMIT $4`, conversationID, orgID, from, max+1)
	if err != nil {
		return nil, nil, false, dbErr(err)
	}
	type row struct {
		m        graphql.Message
		text     []byte
		excerpts []byte
		pos      int64
	}
	var raw []row
	for rows.Next() {
		var x row
		var role string
		if err := rows.Scan(&x.m.ID, &role, &x.m.AuthorID, &x.m.InReplyTo, &x.text, &x.excerpts, &x.m.SentAt, &x.pos); err != nil {
			rows.Close()
			return nil, nil, false, dbErr(err)
		}
		x.m.ConversationID = conversationID
		x.m.Role = graphql.MessageRoleUser
		if role == "ASSISTANT" {
			x.m.Role = graphql.MessageRoleAssistant
		}
		raw = append(raw, x)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, false, dbErr(err)
	}
	more := len(raw) > max
	if more {
		raw = raw[:max]
	}
	var msgs []*graphql.Message
	var positions []int64
	for i := range raw {
		x := &raw[i]
		text, err := r.open(ctx, x.text)
		if err != nil {
			return nil, nil, false, err
		}
		if text == nil {
			continue
		}
		x.m.Text = text
		var ex []domain.ExcerptRef
		if err := json.Unmarshal(x.excerpts, &ex); err != nil {
			return nil, nil, false, domain.Wrap(domain.KindInternal, opReads, err, "")
		}
		x.m.Excerpts = make([]graphql.Excerpt, len(ex))
		for j, e := range ex {
			x.m.Excerpts[j] = graphql.Excerpt{DocumentID: e.DocumentID, ChunkIndex: e.ChunkIndex, Score: e.Score}
		}
		msgs = append(msgs, &x.m)
		positions = append(positions, x.pos)
	}
	return msgs, positions, more, nil
}

// AccessToSpace implements graphql.Reads.
func (r *reads) AccessToSpace(ctx context.Context, orgID, spaceID string) ([]graphql.Access, error) {
	return r.access(ctx, `m.organization_id = $1 AND m.space_id = $2`, orgID, spaceID)
}

// AccessOfUser implements graphql.Reads.
func (r *reads) AccessOfUser(ctx context.Context, orgID, userID string) ([]graphql.Access, error) {
	return r.access(ctx, `m.organization_id = $1 AND m.user_id = $2`, orgID, userID)
}

func (r *reads) access(ctx context.Context, where string, args ...any) ([]graphql.Access, error) {
	rows, err := r.pool.Query(ctx, `SELECT m.space_id, m.user_id, m.role FROM space_members m
		JOIN users u ON u.user_id = m.user_id AND NOT u.erased AND u.active
		WHERE `+where+` ORDER BY m.space_id, m.user_id`, args...)
	if err != nil {
		return nil, dbErr(err)
	}
	defer rows.Close()
	out := []graphql.Access{}
	for rows.Next() {
		var a graphql.Access
		var role string
		if err := rows.Scan(&a.SpaceID, &a.UserID, &role); err != nil {
			return nil, dbErr(err)
		}
		a.ID, a.Role = a.SpaceID+":"+a.UserID, schemaSpaceRole(role)
		out = append(out, a)
	}
	return out, dbErr(rows.Err())
}

// AuditLog implements graphql.Reads: newest first; the cursor is the position.
func (r *reads) AuditLog(ctx context.Context, orgID string, f graphql.AuditFilter, p graphql.Page) (*graphql.AuditConnection, error) {
	before := int64(1<<63 - 1)
	if p.After != "" {
		b, err := after(p.After)
		if err != nil {
			return nil, err
		}
		before = b
	}
	q := `SELECT event_id, position, action, actor_id, target_id, space_id, occurred_at FROM audit_log
		WHERE organization_id = $1 AND position < $2`
	args := []any{orgID, before}
	add := func(cond string, v any) {
		args = append(args, v)
		q += " AND " + cond + " $" + strconv.Itoa(len(args))
	}
	if f.ActorID != nil {
		add("actor_id =", *f.ActorID)
	}
	if f.Action != nil {
		add("action =", *f.Action)
	}
	if f.TargetID != nil {
		add("target_id =", *f.TargetID)
	}
	if f.SpaceID != nil {
		add("space_id =", *f.SpaceID)
	}
	if f.From != nil {
		add("occurred_at >=", *f.From)
	}
	if f.To != nil {
		add("occurred_at <", *f.To)
	}
	args = append(args, p.First+1)
	q += " ORDER BY position DESC, prepare_position DESC LIMIT $" + strconv.Itoa(len(args))
	rows, err := r.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, dbErr(err)
	}
	defer rows.Close()
	conn := &graphql.AuditConnection{Edges: []graphql.AuditEdge{}}
	var last int64
	n := 0
	for rows.Next() {
		e, pos, err := scanAudit(rows)
		if err != nil {
			return nil, dbErr(err)
		}
		if n++; n > p.First {
			continue
		}
		last = pos
		conn.Edges = append(conn.Edges, graphql.AuditEdge{Cursor: cursor(pos), Node: e})
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr(err)
	}
	conn.PageInfo = pageInfo(n, p.First, last)
	return conn, nil
}

func scanAudit(row pgx.Row) (*graphql.AuditEntry, int64, error) {
	var e graphql.AuditEntry
	var pos int64
	var at time.Time
	if err := row.Scan(&e.ID, &pos, &e.Action, &e.ActorID, &e.TargetID, &e.SpaceID, &at); err != nil {
		return nil, 0, err
	}
	e.Position, e.OccurredAt = strconv.FormatInt(pos, 10), at.UTC()
	return &e, pos, nil
}

// auditAfter returns an organisation's audit entries after a position, oldest first.
func (r *reads) auditAfter(ctx context.Context, orgID string, from int64, max int) ([]*graphql.AuditEntry, []int64, error) {
	rows, err := r.pool.Query(ctx, `SELECT event_id, position, action, actor_id, target_id, space_id, occurred_at FROM audit_log
		WHERE organization_id = $1 AND position > $2 ORDER BY position, prepare_position LIMIT $3`, orgID, from, max)
	if err != nil {
		return nil, nil, dbErr(err)
	}
	defer rows.Close()
	var out []*graphql.AuditEntry
	var positions []int64
	for rows.Next() {
		e, pos, err := scanAudit(rows)
		if err != nil {
			return nil, nil, dbErr(err)
		}
		out, positions = append(out, e), append(positions, pos)
	}
	return out, positions, dbErr(rows.Err())
}

// APIKeys implements graphql.Reads; the cursor is the creation time in microseconds.
func (r *reads) APIKeys(ctx context.Context, orgID, ownerID string, p graphql.Page) (*graphql.APIKeyConnection, error) {
	from, err := after(p.After)
	if err != nil {
		return nil, err
	}
	rows, err := r.pool.Query(ctx, `SELECT key_id, prefix, owner_kind, owner_id, state, created_at, last_used_at, revoked_at,
			(extract(epoch FROM created_at) * 1000000)::bigint AS c
		FROM api_keys WHERE organization_id = $1 AND ($2 = '' OR (owner_kind = 'USER' AND owner_id = $2))
			AND (extract(epoch FROM created_at) * 1000000)::bigint > $3
		ORDER BY c, key_id LIMIT $4`, orgID, ownerID, from, p.First+1)
	if err != nil {
		return nil, dbErr(err)
	}
	defer rows.Close()
	conn := &graphql.APIKeyConnection{Edges: []graphql.APIKeyEdge{}}
	var last int64
	n := 0
	for rows.Next() {
		var k graphql.APIKey
		var kind, state string
		var c int64
		if err := rows.Scan(&k.ID, &k.Prefix, &kind, &k.OwnerID, &state, &k.CreatedAt, &k.LastUsedAt, &k.RevokedAt, &c); err != nil {
			return nil, dbErr(err)
		}
		if n++; n > p.First {
			continue
		}
		k.OwnerKind, k.State = graphql.APIKeyOwnerKindUser, graphql.APIKeyStateActive
		if kind == domain.KeyOwnerAssistant {
			k.OwnerKind = graphql.APIKeyOwnerKindAssistant
		}
		if state == "revoked" {
			k.State = graphql.APIKeyStateRevoked
		}
		last = c
		conn.Edges = append(conn.Edges, graphql.APIKeyEdge{Cursor: cursor(c), Node: &k})
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr(err)
	}
	conn.PageInfo = pageInfo(n, p.First, last)
	return conn, nil
}

// Search implements graphql.Reads: hybrid search in the space's tenant, with the query
// embedded by the same provider that embedded the documents.
func (r *reads) Search(ctx context.Context, orgID, spaceID, query string, limit int) ([]graphql.SearchHit, error) {
	var ok bool
	if err := r.pool.QueryRow(ctx, `SELECT true FROM spaces WHERE space_id = $1 AND organization_id = $2`, spaceID, orgID).Scan(&ok); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return []graphql.SearchHit{}, nil
		}
		return nil, dbErr(err)
	}
	hits, err := r.search(ctx, spaceID, query, limit)
	if err != nil {
		return nil, err
	}
	out := make([]graphql.SearchHit, len(hits))
	for i, h := range hits {
		out[i] = graphql.SearchHit{ID: h.ChunkID, DocumentID: h.DocumentID, Text: h.Text, Score: h.Score}
	}
	return out, nil
}

func (r *reads) search(ctx context.Context, spaceID, query string, limit int) ([]search.Hit, error) {
	if strings.TrimSpace(query) == "" {
		return nil, domain.E(domain.KindInvalid, "platform.search", "query must not be empty")
	}
	vecs, err := r.emb.Embed(ctx, []string{query})
	if err != nil {
		return nil, err
	}
	hits, err := r.index.Search(ctx, spaceID, query, vecs[0], search.SearchOptions{Limit: limit})
	if err != nil {
		if domain.Is(domain.KindNotFound, err) {
			return nil, nil
		}
		return nil, err
	}
	return hits, nil
}

// ResolveOIDCUser implements auth.OIDCUserResolver: the token's subject is an active user
// id of the organisation, or its e-mail address is an active user's (compared after
// decryption, since addresses are sealed).
func (r *reads) ResolveOIDCUser(ctx context.Context, orgID, issuer, subject, email string) (string, error) {
	const op = "platform.ResolveOIDCUser"
	if domain.ValidateID("subject", subject) == nil {
		if _, active, err := r.OrgRole(ctx, orgID, subject); err != nil {
			return "", err
		} else if active {
			return subject, nil
		}
	}
	if email != "" {
		rows, err := r.pool.Query(ctx, `SELECT user_id, email FROM users WHERE organization_id = $1 AND active AND NOT erased`, orgID)
		if err != nil {
			return "", dbErr(err)
		}
		type cand struct {
			id    string
			email []byte
		}
		var cands []cand
		for rows.Next() {
			var c cand
			if err := rows.Scan(&c.id, &c.email); err != nil {
				rows.Close()
				return "", dbErr(err)
			}
			cands = append(cands, c)
		}
		rows.Close()
		for _, c := range cands {
			e, err := r.open(ctx, c.email)
			if err != nil {
				return "", err
			}
			if e != nil && strings.EqualFold(*e, email) {
				return c.id, nil
			}
		}
	}
	return "", domain.E(domain.KindNotFound, op, "no active user of the organisation has this identity")
}
