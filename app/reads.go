package app

import (
	"context"
	"strconv"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/graphql"
	"github.com/arkiv/arkiv/readmodels"
)

// reads implements graphql.Reads (and auth.OIDCUserResolver) over readmodels: it calls the
// query side and renders its typed rows as the schema's types, nothing more. Scoping by
// organisation and decryption at query time happen in readmodels.
type reads struct {
	rm *readmodels.Reader
}

func newReads(p *Platform) *reads {
	return &reads{rm: readmodels.New(p.Pool, p.Codec, readmodels.WithSearch(p.Index, p.Embedder))}
}

var _ graphql.Reads = (*reads)(nil)

func rmPage(p graphql.Page) readmodels.Page { return readmodels.Page{First: p.First, After: p.After} }

func pageInfo(p readmodels.PageInfo) *graphql.PageInfo {
	return &graphql.PageInfo{HasNextPage: p.HasNextPage, EndCursor: optional(p.EndCursor)}
}

// optional renders an empty string as null.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// edges renders a connection's edges.
func edges[T, E any](c readmodels.Connection[T], edge func(cursor string, node T) E) []E {
	out := make([]E, len(c.Edges))
	for i, e := range c.Edges {
		out[i] = edge(e.Cursor, e.Node)
	}
	return out
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

func schemaSpaceRole(r domain.SpaceRole) graphql.SpaceRole {
	switch r {
	case domain.SpaceRoleAdmin:
		return graphql.SpaceRoleAdmin
	case domain.SpaceRoleEditor:
		return graphql.SpaceRoleEditor
	}
	return graphql.SpaceRoleViewer
}

// user renders a user; an erased user is not shown at all.
func user(u *readmodels.User) *graphql.User {
	if u == nil || u.Erased {
		return nil
	}
	return &graphql.User{ID: u.ID, Email: u.Email, Name: u.Name, Role: schemaOrgRole(u.Role), Active: u.Active}
}

func space(s readmodels.MemberSpace) *graphql.Space {
	models := make([]string, len(s.Models))
	for i, m := range s.Models {
		models[i] = string(m)
	}
	role := schemaSpaceRole(s.Role)
	return &graphql.Space{ID: s.ID, Name: s.Name, Classification: string(s.Classification), ModelIds: models, MyRole: &role}
}

func document(d readmodels.Document) *graphql.Document {
	return &graphql.Document{ID: d.ID, SpaceID: d.SpaceID, Title: d.Title, ContentType: d.ContentType,
		SizeBytes: int(d.SizeBytes), IngestedBy: d.IngestedBy, IngestedAt: d.IngestedAt}
}

func message(m readmodels.Message) *graphql.Message {
	role := graphql.MessageRoleUser
	if m.Role == readmodels.MessageRoleAssistant {
		role = graphql.MessageRoleAssistant
	}
	ex := make([]graphql.Excerpt, len(m.Excerpts))
	for i, e := range m.Excerpts {
		ex[i] = graphql.Excerpt{DocumentID: e.DocumentID, ChunkIndex: e.ChunkIndex, Score: e.Score}
	}
	return &graphql.Message{ID: m.ID, ConversationID: m.ConversationID, Role: role, AuthorID: m.AuthorID,
		Text: m.Text, SentAt: m.SentAt, InReplyTo: optional(m.InReplyTo), Excerpts: ex}
}

func auditEntry(e readmodels.AuditEntry) *graphql.AuditEntry {
	return &graphql.AuditEntry{ID: e.EventID, Position: strconv.FormatUint(e.Position, 10), Action: e.Action,
		ActorID: optional(e.ActorID), TargetID: optional(e.TargetID), SpaceID: optional(e.SpaceID),
		Outcome: auditOutcome(e.Outcome), OccurredAt: e.OccurredAt.UTC()}
}

// auditOutcome renders a stored audit outcome; auditOutcomes is its inverse, for filters.
func auditOutcome(o string) graphql.AuditOutcome {
	for k, v := range auditOutcomes {
		if v == o {
			return k
		}
	}
	return graphql.AuditOutcomeOk
}

var auditOutcomes = map[graphql.AuditOutcome]string{
	graphql.AuditOutcomeOk:     readmodels.AuditOK,
	graphql.AuditOutcomeDenied: readmodels.AuditDenied,
	graphql.AuditOutcomeFailed: readmodels.AuditFailed,
}

func access(as []readmodels.Access) []graphql.Access {
	out := make([]graphql.Access, len(as))
	for i, a := range as {
		out[i] = graphql.Access{ID: a.SpaceID + ":" + a.UserID, SpaceID: a.SpaceID, UserID: a.UserID, Role: schemaSpaceRole(a.Role)}
	}
	return out
}

// OrgRole implements graphql.Roles.
func (r *reads) OrgRole(ctx context.Context, orgID, userID string) (domain.OrgRole, bool, error) {
	return r.rm.OrgRole(ctx, orgID, userID)
}

// User implements graphql.Reads.
func (r *reads) User(ctx context.Context, orgID, userID string) (*graphql.User, error) {
	u, err := r.rm.User(ctx, orgID, userID)
	return user(u), err
}

// Users implements graphql.Reads.
func (r *reads) Users(ctx context.Context, orgID string, ids []string) ([]*graphql.User, error) {
	us, err := r.rm.Users(ctx, orgID, ids)
	if err != nil {
		return nil, err
	}
	out := make([]*graphql.User, len(us))
	for i, u := range us {
		out[i] = user(u)
	}
	return out, nil
}

// Organization implements graphql.Reads.
func (r *reads) Organization(ctx context.Context, orgID string) (*graphql.Organization, error) {
	o, err := r.rm.Organization(ctx, orgID)
	if err != nil || o == nil {
		return nil, err
	}
	return &graphql.Organization{ID: o.ID, Name: o.Name, Settings: graphql.SettingsToSchema(o.Settings)}, nil
}

// IdentityProviders implements graphql.Reads.
func (r *reads) IdentityProviders(ctx context.Context, orgID string) ([]graphql.IdentityProvider, error) {
	ps, err := r.rm.IdentityProviders(ctx, orgID)
	if err != nil {
		return nil, err
	}
	out := make([]graphql.IdentityProvider, len(ps))
	for i, p := range ps {
		out[i] = graphql.IdentityProvider{Issuer: p.Issuer, Audience: p.Audience, AllowedAmr: p.AllowedAMR,
			AcceptedAcr: p.AcceptedACR, Active: p.Active}
	}
	return out, nil
}

// SpaceRole implements graphql.Reads.
func (r *reads) SpaceRole(ctx context.Context, orgID, spaceID, userID string) (domain.SpaceRole, error) {
	return r.rm.SpaceRole(ctx, orgID, spaceID, userID)
}

// Spaces implements graphql.Reads.
func (r *reads) Spaces(ctx context.Context, orgID, userID string, p graphql.Page) (*graphql.SpaceConnection, error) {
	c, err := r.rm.Spaces(ctx, orgID, userID, rmPage(p))
	if err != nil {
		return nil, err
	}
	return &graphql.SpaceConnection{PageInfo: pageInfo(c.PageInfo), Edges: edges(c, func(cur string, s readmodels.MemberSpace) graphql.SpaceEdge {
		return graphql.SpaceEdge{Cursor: cur, Node: space(s)}
	})}, nil
}

// Space implements graphql.Reads.
func (r *reads) Space(ctx context.Context, orgID, spaceID, userID string) (*graphql.Space, error) {
	s, err := r.rm.SpaceOfMember(ctx, orgID, spaceID, userID)
	if err != nil || s == nil {
		return nil, err
	}
	return space(*s), nil
}

// Members implements graphql.Reads: the members come with their users.
func (r *reads) Members(ctx context.Context, orgID string, spaceIDs []string) ([][]graphql.SpaceMember, error) {
	ms, err := r.rm.Members(ctx, orgID, spaceIDs)
	if err != nil {
		return nil, err
	}
	out := make([][]graphql.SpaceMember, len(ms))
	for i, members := range ms {
		out[i] = make([]graphql.SpaceMember, len(members))
		for j, m := range members {
			out[i][j] = graphql.SpaceMember{ID: m.UserID, Role: schemaSpaceRole(m.Role), User: user(m.User)}
		}
	}
	return out, nil
}

// Assistants implements graphql.Reads.
func (r *reads) Assistants(ctx context.Context, orgID, spaceID string, p graphql.Page) (*graphql.AssistantConnection, error) {
	c, err := r.rm.Assistants(ctx, orgID, spaceID, rmPage(p))
	if err != nil {
		return nil, err
	}
	return &graphql.AssistantConnection{PageInfo: pageInfo(c.PageInfo), Edges: edges(c, func(cur string, a readmodels.Assistant) graphql.AssistantEdge {
		return graphql.AssistantEdge{Cursor: cur, Node: &graphql.Assistant{ID: a.ID, SpaceID: a.SpaceID, Name: a.Name,
			Instructions: a.Instructions, ModelID: string(a.Model), RetentionDays: a.RetentionDays, LogModelPayloads: a.LogModelPayloads}}
	})}, nil
}

// Documents implements graphql.Reads.
func (r *reads) Documents(ctx context.Context, orgID, spaceID string, p graphql.Page) (*graphql.DocumentConnection, error) {
	c, err := r.rm.Documents(ctx, orgID, spaceID, rmPage(p))
	if err != nil {
		return nil, err
	}
	return &graphql.DocumentConnection{PageInfo: pageInfo(c.PageInfo), Edges: edges(c, func(cur string, d readmodels.Document) graphql.DocumentEdge {
		return graphql.DocumentEdge{Cursor: cur, Node: document(d)}
	})}, nil
}

// Document implements graphql.Reads.
func (r *reads) Document(ctx context.Context, orgID, documentID string) (*graphql.Document, error) {
	d, err := r.rm.Document(ctx, orgID, documentID)
	if err != nil || d == nil {
		return nil, err
	}
	return document(*d), nil
}

// DocumentContent implements graphql.Reads.
func (r *reads) DocumentContent(ctx context.Context, orgID, documentID string) (*string, error) {
	return r.rm.DocumentContent(ctx, orgID, documentID)
}

// Conversation implements graphql.Reads.
func (r *reads) Conversation(ctx context.Context, orgID, conversationID string) (*graphql.Conversation, error) {
	c, err := r.rm.Conversation(ctx, orgID, conversationID)
	if err != nil || c == nil {
		return nil, err
	}
	return &graphql.Conversation{ID: c.ID, AssistantID: c.AssistantID, SpaceID: c.SpaceID, StartedBy: c.StartedBy, StartedAt: c.StartedAt}, nil
}

// Messages implements graphql.Reads.
func (r *reads) Messages(ctx context.Context, orgID, conversationID string, p graphql.Page) (*graphql.MessageConnection, error) {
	c, err := r.rm.Messages(ctx, orgID, conversationID, rmPage(p))
	if err != nil {
		return nil, err
	}
	return &graphql.MessageConnection{PageInfo: pageInfo(c.PageInfo), Edges: edges(c, func(cur string, m readmodels.Message) graphql.MessageEdge {
		return graphql.MessageEdge{Cursor: cur, Node: message(m)}
	})}, nil
}

// messagesAfter returns up to limit messages of a conversation recorded after a position,
// oldest first, with their positions (the subscription feed's read).
func (r *reads) messagesAfter(ctx context.Context, orgID, conversationID string, from int64, limit int) ([]*graphql.Message, []int64, error) {
	ms, err := r.rm.MessagesAfter(ctx, orgID, conversationID, from, limit)
	if err != nil {
		return nil, nil, err
	}
	out, positions := make([]*graphql.Message, len(ms)), make([]int64, len(ms))
	for i, m := range ms {
		out[i], positions[i] = message(m), m.Position
	}
	return out, positions, nil
}

// AccessToSpace implements graphql.Reads.
func (r *reads) AccessToSpace(ctx context.Context, orgID, spaceID string) ([]graphql.Access, error) {
	as, err := r.rm.AccessToSpace(ctx, orgID, spaceID)
	return access(as), err
}

// AccessOfUser implements graphql.Reads.
func (r *reads) AccessOfUser(ctx context.Context, orgID, userID string) ([]graphql.Access, error) {
	as, err := r.rm.AccessOfUser(ctx, orgID, userID)
	return access(as), err
}

// AuditLog implements graphql.Reads.
func (r *reads) AuditLog(ctx context.Context, orgID string, f graphql.AuditFilter, p graphql.Page) (*graphql.AuditConnection, error) {
	var rf readmodels.AuditFilter
	for _, x := range []struct {
		dst *string
		src *string
	}{{&rf.ActorID, f.ActorID}, {&rf.Action, f.Action}, {&rf.TargetID, f.TargetID}, {&rf.SpaceID, f.SpaceID}} {
		if x.src != nil {
			*x.dst = *x.src
		}
	}
	if f.Outcome != nil {
		rf.Outcome = auditOutcomes[*f.Outcome]
	}
	if f.From != nil {
		rf.From = *f.From
	}
	if f.To != nil {
		rf.To = *f.To
	}
	c, err := r.rm.AuditLog(ctx, orgID, rf, rmPage(p))
	if err != nil {
		return nil, err
	}
	return &graphql.AuditConnection{PageInfo: pageInfo(c.PageInfo), Edges: edges(c, func(cur string, e readmodels.AuditEntry) graphql.AuditEdge {
		return graphql.AuditEdge{Cursor: cur, Node: auditEntry(e)}
	})}, nil
}

// auditAfter returns up to limit of an organisation's audit entries recorded after a
// position, oldest first, with their positions (the subscription feed's read).
func (r *reads) auditAfter(ctx context.Context, orgID string, from int64, limit int) ([]*graphql.AuditEntry, []int64, error) {
	es, err := r.rm.AuditAfter(ctx, orgID, uint64(max(from, 0)), limit)
	if err != nil {
		return nil, nil, err
	}
	out, positions := make([]*graphql.AuditEntry, len(es)), make([]int64, len(es))
	for i, e := range es {
		out[i], positions[i] = auditEntry(e), int64(e.Position)
	}
	return out, positions, nil
}

// APIKeys implements graphql.Reads.
func (r *reads) APIKeys(ctx context.Context, orgID, ownerID string, p graphql.Page) (*graphql.APIKeyConnection, error) {
	c, err := r.rm.APIKeys(ctx, orgID, ownerID, rmPage(p))
	if err != nil {
		return nil, err
	}
	return &graphql.APIKeyConnection{PageInfo: pageInfo(c.PageInfo), Edges: edges(c, func(cur string, k readmodels.APIKey) graphql.APIKeyEdge {
		n := &graphql.APIKey{ID: k.ID, Prefix: k.Prefix, OwnerKind: graphql.APIKeyOwnerKindUser, OwnerID: k.OwnerID,
			State: graphql.APIKeyStateActive, CreatedAt: k.CreatedAt, LastUsedAt: k.LastUsedAt, RevokedAt: k.RevokedAt}
		if k.OwnerKind == domain.KeyOwnerAssistant {
			n.OwnerKind = graphql.APIKeyOwnerKindAssistant
		}
		if k.State == string(graphql.APIKeyStateRevoked) {
			n.State = graphql.APIKeyStateRevoked
		}
		return graphql.APIKeyEdge{Cursor: cur, Node: n}
	})}, nil
}

// Search implements graphql.Reads.
func (r *reads) Search(ctx context.Context, orgID, spaceID, query string, limit int) ([]graphql.SearchHit, error) {
	hits, err := r.rm.Search(ctx, orgID, spaceID, query, limit)
	if err != nil {
		return nil, err
	}
	out := make([]graphql.SearchHit, len(hits))
	for i, h := range hits {
		out[i] = graphql.SearchHit{ID: h.ChunkID, DocumentID: h.DocumentID, Text: h.Text, Score: h.Score}
	}
	return out, nil
}

// ResolveOIDCUser implements auth.OIDCUserResolver: the token's subject is an active user
// id of the organisation, or its e-mail address is an active user's.
func (r *reads) ResolveOIDCUser(ctx context.Context, orgID, issuer, subject, email string) (string, error) {
	if domain.ValidateID("subject", subject) == nil {
		if _, active, err := r.rm.OrgRole(ctx, orgID, subject); err != nil {
			return "", err
		} else if active {
			return subject, nil
		}
	}
	u, err := r.rm.UserByEmail(ctx, orgID, email)
	if err != nil {
		return "", err
	}
	if u == nil {
		return "", domain.E(domain.KindNotFound, "platform.ResolveOIDCUser", "no active user of the organisation has this identity")
	}
	return u.ID, nil
}
