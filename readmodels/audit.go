package readmodels

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/arkiv/arkiv/domain"
	"github.com/jackc/pgx/v5"
)

// AuditEntry is one event of the organisation's log as the audit log shows it: ids only, no
// personal data.
type AuditEntry struct {
	EventID    string
	Position   uint64
	OccurredAt time.Time
	// Action is the event type, e.g. "space.member_added.v1".
	Action string
	// ActorID is the pseudonymous id of the user who caused it ("" for none).
	ActorID string
	// TargetType and TargetID name the aggregate the event is about ("space", "<id>"); for
	// a denial, what was refused.
	TargetType string
	TargetID   string
	// Outcome is AuditOK, AuditDenied (a refused command, a model invocation the model
	// policy refused) or AuditFailed (a refused local login, a model invocation that ended in
	// an error or a timeout).
	Outcome        string
	OrganizationID string
	SpaceID        string
	// Subject is the data subject the entry is about ("user:<id>"), "" for none.
	Subject string
	// ReasonCode is a denial's or failed login's reason code (domain.ReasonCode), "".
	ReasonCode string
	// Detail is the entry's readable detail (roles before and after, a settings diff, a
	// grace window…), nil when it has none or it was shredded.
	Detail map[string]string
	// DetailShredded reports that the entry had a detail that audit retention or erasure
	// has made unreadable; the skeleton above stays.
	DetailShredded bool
}

// The outcomes of audit entries.
const (
	AuditOK     = "ok"
	AuditDenied = "denied"
	AuditFailed = "failed"
)

// AuditFilter selects audit entries; every non-empty field must match. From is inclusive,
// To exclusive. Outcome is AuditOK, AuditDenied or AuditFailed.
type AuditFilter struct {
	ActorID  string
	Action   string
	TargetID string
	SpaceID  string
	Outcome  string
	From     time.Time
	To       time.Time
}

// AuditLog returns the organisation's audit entries matching f, newest first.
func (r *Reader) AuditLog(ctx context.Context, orgID string, f AuditFilter, p Page) (Connection[AuditEntry], error) {
	const op = "readmodels.AuditLog"
	limit, err := p.limit()
	if err != nil {
		return Connection[AuditEntry]{}, err
	}
	where := []string{"organization_id = $1"}
	args := []any{orgID}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if key, err := decodeCursor("audit", p.After); err != nil {
		return Connection[AuditEntry]{}, err
	} else if key != "" {
		c, pr, ok := strings.Cut(key, "/")
		cn, err1 := strconv.ParseInt(c, 10, 64)
		pn, err2 := strconv.ParseInt(pr, 10, 64)
		if !ok || err1 != nil || err2 != nil {
			return Connection[AuditEntry]{}, domain.E(domain.KindInvalid, op, "after is not a cursor of this list")
		}
		args = append(args, cn, pn)
		where = append(where, "(position, prepare_position) < ($"+strconv.Itoa(len(args)-1)+", $"+strconv.Itoa(len(args))+")")
	}
	if f.ActorID != "" {
		add("actor_id = ?", f.ActorID)
	}
	if f.Action != "" {
		add("action = ?", f.Action)
	}
	if f.TargetID != "" {
		add("target_id = ?", f.TargetID)
	}
	if f.SpaceID != "" {
		add("space_id = ?", f.SpaceID)
	}
	switch f.Outcome {
	case "":
	case AuditOK, AuditDenied, AuditFailed:
		add("outcome = ?", f.Outcome)
	default:
		return Connection[AuditEntry]{}, domain.E(domain.KindInvalid, op, "outcome must be ok, denied or failed")
	}
	if !f.From.IsZero() {
		add("occurred_at >= ?", f.From)
	}
	if !f.To.IsZero() {
		add("occurred_at < ?", f.To)
	}
	args = append(args, limit+1)
	out, prepares, err := r.audit(ctx, op, strings.Join(where, " AND ")+`
		ORDER BY position DESC, prepare_position DESC LIMIT $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return Connection[AuditEntry]{}, err
	}
	prep := map[string]int64{}
	for i, e := range out {
		prep[e.EventID] = prepares[i]
	}
	return connection(out, limit, func(e AuditEntry) string {
		return encodeCursor("audit", strconv.FormatUint(e.Position, 10)+"/"+strconv.FormatInt(prep[e.EventID], 10))
	}), nil
}

// AuditAfter returns up to limit of the organisation's audit entries recorded after log
// position after, oldest first: what an audit subscription has not delivered yet.
func (r *Reader) AuditAfter(ctx context.Context, orgID string, after uint64, limit int) ([]AuditEntry, error) {
	const op = "readmodels.AuditAfter"
	if err := checkLimit(op, limit); err != nil {
		return nil, err
	}
	out, _, err := r.audit(ctx, op, `organization_id = $1 AND position > $2 ORDER BY position, prepare_position LIMIT $3`,
		orgID, int64(after), limit)
	return out, err
}

// LastAuditPosition returns the log position of the organisation's latest audit entry, 0
// when it has none: where an audit subscription starts.
func (r *Reader) LastAuditPosition(ctx context.Context, orgID string) (uint64, error) {
	var last int64
	_, err := one(ctx, r.pool, "readmodels.LastAuditPosition", `SELECT coalesce(max(position), 0) FROM audit_log
		WHERE organization_id = $1`, []any{orgID}, &last)
	return uint64(last), err
}

// audit reads audit entries WHERE tail (conditions, order and limit), with each entry's
// prepare position.
func (r *Reader) audit(ctx context.Context, op, tail string, args ...any) ([]AuditEntry, []int64, error) {
	rows, err := r.pool.Query(ctx, `SELECT event_id, position, prepare_position, occurred_at, action, coalesce(actor_id, ''),
			coalesce(target_type, ''), coalesce(target_id, ''), outcome, coalesce(organization_id, ''), coalesce(space_id, ''),
			coalesce(subject, ''), coalesce(reason_code, ''), coalesce(detail, '')
		FROM audit_log WHERE `+tail, args...)
	if err != nil {
		return nil, nil, pgErr(op, err)
	}
	defer rows.Close()
	var out []AuditEntry
	var prepares []int64
	for rows.Next() {
		var e AuditEntry
		var c, pr int64
		var detail string
		if err := rows.Scan(&e.EventID, &c, &pr, &e.OccurredAt, &e.Action, &e.ActorID, &e.TargetType, &e.TargetID,
			&e.Outcome, &e.OrganizationID, &e.SpaceID, &e.Subject, &e.ReasonCode, &detail); err != nil {
			return nil, nil, pgErr(op, err)
		}
		if err := r.openDetail(ctx, &e, detail); err != nil {
			return nil, nil, err
		}
		e.Position = uint64(c)
		out = append(out, e)
		prepares = append(prepares, pr)
	}
	return out, prepares, pgErr(op, rows.Err())
}

// openDetail decrypts an entry's sealed detail into e.Detail, or marks it shredded.
func (r *Reader) openDetail(ctx context.Context, e *AuditEntry, envelope string) error {
	if envelope == "" {
		return nil
	}
	plain, redacted, err := r.opener.OpenField(ctx, e.EventID, domain.AuditDetailPath, envelope)
	if domain.Is(domain.KindErased, err) || (err == nil && redacted) {
		e.DetailShredded = true
		return nil
	}
	if err != nil {
		return err
	}
	var d map[string]string
	if err := json.Unmarshal([]byte(plain), &d); err != nil {
		return domain.Wrap(domain.KindInternal, "readmodels.audit_detail", err, "audit detail is not a JSON object")
	}
	e.Detail = d
	return nil
}

// AccessDenial is one refused command.
type AccessDenial struct {
	EventID              string
	Position             uint64
	OccurredAt           time.Time
	ActorID              string
	Command              domain.Command
	TargetType           string
	TargetID             string
	TargetOrganizationID string
	OrgRole              domain.OrgRole
	SpaceRole            domain.SpaceRole
	Reason               string
}

// AccessDenials returns the organisation's refused commands, newest first.
func (r *Reader) AccessDenials(ctx context.Context, orgID string, p Page) (Connection[AccessDenial], error) {
	const op = "readmodels.AccessDenials"
	limit, err := p.limit()
	if err != nil {
		return Connection[AccessDenial]{}, err
	}
	before, err := positionCursor("denied", p.After)
	if err != nil {
		return Connection[AccessDenial]{}, err
	}
	if before < 0 {
		before = 1<<63 - 1
	}
	rows, err := r.pool.Query(ctx, `SELECT event_id, position, occurred_at, actor_id, command, coalesce(target_type, ''),
			coalesce(target_id, ''), coalesce(target_organization_id, ''), org_role, space_role, reason
		FROM access_denied WHERE organization_id = $1 AND position < $2 ORDER BY position DESC LIMIT $3`,
		orgID, before, limit+1)
	if err != nil {
		return Connection[AccessDenial]{}, pgErr(op, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (AccessDenial, error) {
		var d AccessDenial
		var c int64
		err := row.Scan(&d.EventID, &c, &d.OccurredAt, &d.ActorID, &d.Command, &d.TargetType, &d.TargetID,
			&d.TargetOrganizationID, &d.OrgRole, &d.SpaceRole, &d.Reason)
		d.Position = uint64(c)
		return d, err
	})
	if err != nil {
		return Connection[AccessDenial]{}, pgErr(op, err)
	}
	return connection(out, limit, func(d AccessDenial) string { return posCursor("denied", int64(d.Position)) }), nil
}

// APIKey is an API key without its secret (only its hash is stored, and not returned).
type APIKey struct {
	ID             string
	OrganizationID string
	Prefix         string
	// OwnerKind is domain.KeyOwnerUser or domain.KeyOwnerAssistant.
	OwnerKind string
	OwnerID   string
	// State is APIKeyActive or APIKeyRevoked.
	State      string
	CreatedAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// The states of an API key.
const (
	APIKeyActive  = "ACTIVE"
	APIKeyRevoked = "REVOKED"
)

// APIKeysVisibleTo returns the API keys a user of the organisation may list, oldest first:
// every key of the organisation for an active Admin, only the user's own keys for anyone
// else (a deactivated Admin included).
func (r *Reader) APIKeysVisibleTo(ctx context.Context, orgID, userID string, p Page) (Connection[APIKey], error) {
	role, active, err := r.OrgRole(ctx, orgID, userID)
	if err != nil {
		return Connection[APIKey]{}, err
	}
	owner := userID
	if active && role == domain.OrgRoleAdmin {
		owner = ""
	}
	return r.APIKeys(ctx, orgID, owner, p)
}

// APIKeys returns the organisation's API keys, only ownerID's when ownerID is not empty,
// oldest first.
func (r *Reader) APIKeys(ctx context.Context, orgID, ownerID string, p Page) (Connection[APIKey], error) {
	const op = "readmodels.APIKeys"
	limit, err := p.limit()
	if err != nil {
		return Connection[APIKey]{}, err
	}
	after, err := decodeCursor("apikey", p.After)
	if err != nil {
		return Connection[APIKey]{}, err
	}
	// Keys are ordered by (created_at, key_id); the cursor holds both.
	var afterAt time.Time
	var afterID string
	if after != "" {
		at, id, ok := strings.Cut(after, "|")
		t, perr := time.Parse(time.RFC3339Nano, at)
		if !ok || perr != nil {
			return Connection[APIKey]{}, domain.E(domain.KindInvalid, op, "after is not a cursor of this list")
		}
		afterAt, afterID = t, id
	}
	rows, err := r.pool.Query(ctx, `SELECT key_id, organization_id, prefix, owner_kind, owner_id, upper(state),
			created_at, last_used_at, revoked_at
		FROM api_keys WHERE organization_id = $1 AND ($2 = '' OR owner_id = $2)
			AND ($3 = '' OR (created_at, key_id) > ($4, $3))
		ORDER BY created_at, key_id LIMIT $5`, orgID, ownerID, afterID, afterAt, limit+1)
	if err != nil {
		return Connection[APIKey]{}, pgErr(op, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[APIKey])
	if err != nil {
		return Connection[APIKey]{}, pgErr(op, err)
	}
	return connection(out, limit, func(k APIKey) string {
		return encodeCursor("apikey", k.CreatedAt.UTC().Format(time.RFC3339Nano)+"|"+k.ID)
	}), nil
}

// SearchIndex is what Search needs of the search index (infra/search, through the
// composition root): a hybrid query within one space's tenant returning at most limit hits,
// best first, with ChunkID, DocumentID, ChunkIndex, Text and Score set.
type SearchIndex interface {
	SearchChunks(ctx context.Context, spaceID, query string, vector []float32, limit int) ([]SearchHit, error)
}

// Embedder embeds the query; infra/embedding's Provider implements it.
type Embedder interface {
	Embed(ctx context.Context, texts []string) ([][]float32, error)
}

// spaceEmbedder is an Embedder under the model policy: it checks and records each call for
// the space the text comes from, refusing with KindForbidden.
type spaceEmbedder interface {
	EmbedFor(ctx context.Context, spaceID, documentID, purpose string, texts []string) ([][]float32, error)
}

type searcher struct {
	ix  SearchIndex
	emb Embedder
}

// WithSearch enables Search over ix, embedding queries with emb.
func WithSearch(ix SearchIndex, emb Embedder) Option {
	return func(r *Reader) { r.search = &searcher{ix: ix, emb: emb} }
}

// SearchHit is one search result: a chunk of a document.
type SearchHit struct {
	ChunkID    string
	DocumentID string
	ChunkIndex int
	Text       string
	Score      float64
}

// Search runs a hybrid (BM25 + vector) search over the documents of a live space of the
// organisation, in that space's tenant only; a space of another organisation has no hits.
// Without WithSearch it is KindUnavailable.
func (r *Reader) Search(ctx context.Context, orgID, spaceID, query string, limit int) ([]SearchHit, error) {
	const op = "readmodels.Search"
	if r.search == nil {
		return nil, domain.E(domain.KindUnavailable, op, "search is not configured")
	}
	if strings.TrimSpace(query) == "" {
		return nil, domain.E(domain.KindInvalid, op, "the query must not be empty")
	}
	if err := checkLimit(op, limit); err != nil {
		return nil, err
	}
	var exists bool
	if err := r.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM spaces WHERE organization_id = $1 AND space_id = $2)`,
		orgID, spaceID).Scan(&exists); err != nil {
		return nil, pgErr(op, err)
	}
	if !exists {
		return []SearchHit{}, nil
	}
	var vecs [][]float32
	var err error
	if se, ok := r.search.emb.(spaceEmbedder); ok {
		vecs, err = se.EmbedFor(ctx, spaceID, "", domain.EmbeddingForQuery, []string{query})
	} else {
		vecs, err = r.search.emb.Embed(ctx, []string{query})
	}
	if domain.Is(domain.KindForbidden, err) {
		return nil, err
	}
	if err != nil {
		return nil, domain.Wrap(domain.KindUnavailable, op, err, "embed the query")
	}
	hits, err := r.search.ix.SearchChunks(ctx, spaceID, query, vecs[0], limit)
	if hits == nil && err == nil {
		hits = []SearchHit{}
	}
	return hits, err
}

// APIKeyVisibleTo returns one API key of the organisation as APIKeysVisibleTo would list it
// to userID: any key for an active Admin, only their own for anyone else; nil otherwise.
func (r *Reader) APIKeyVisibleTo(ctx context.Context, orgID, userID, keyID string) (*APIKey, error) {
	const op = "readmodels.APIKeyVisibleTo"
	role, active, err := r.OrgRole(ctx, orgID, userID)
	if err != nil {
		return nil, err
	}
	owner := userID
	if active && role == domain.OrgRoleAdmin {
		owner = ""
	}
	rows, err := r.pool.Query(ctx, `SELECT key_id, organization_id, prefix, owner_kind, owner_id, upper(state),
			created_at, last_used_at, revoked_at
		FROM api_keys WHERE organization_id = $1 AND ($2 = '' OR owner_id = $2) AND key_id = $3`, orgID, owner, keyID)
	if err != nil {
		return nil, pgErr(op, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[APIKey])
	if err != nil || len(out) == 0 {
		return nil, pgErr(op, err)
	}
	return &out[0], nil
}

// EventOfOrganization reports whether the audit log holds the event eventID as one of the
// organisation's (false for another organisation's event, an unknown one, or one past audit
// retention).
func (r *Reader) EventOfOrganization(ctx context.Context, orgID, eventID string) (bool, error) {
	var n int
	found, err := one(ctx, r.pool, "readmodels.EventOfOrganization",
		`SELECT 1 FROM audit_log WHERE event_id = $1 AND organization_id = $2`, []any{eventID, orgID}, &n)
	return found, err
}
