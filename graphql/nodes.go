package graphql

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/graphql/generated"
	"github.com/arkiv/arkiv/infra/auth"
	"github.com/arkiv/arkiv/readmodels"
)

// Global ids, node(id:), the connections beside the growing lists and the objects mutation
// payloads return.
//
// The aggregates' ids are random UUIDs, unique across every type already, so they are their
// objects' Node ids as they are (re-encoding them would change the meaning of every id a
// client holds). An Access, a user's access to one space, has the id "<spaceId>:<userId>".
// node(id:) finds the object an id names and answers it only where the field that returns it
// otherwise would: it calls the same checks.

// accessID is the global id of a user's access to a space.
func accessID(spaceID, userID string) string { return spaceID + ":" + userID }

// parseAccessID splits an Access id; ok is false for any other id.
func parseAccessID(id string) (spaceID, userID string, ok bool) {
	spaceID, userID, ok = strings.Cut(id, ":")
	if !ok || domain.ValidateID("space id", spaceID) != nil || domain.ValidateID("user id", userID) != nil {
		return "", "", false
	}
	return spaceID, userID, true
}

// maxNodes bounds nodes(ids:).
const maxNodes = 100

// Node is the resolver for the node field.
func (r queryResolver) Node(ctx context.Context, id string) (readmodels.Node, error) {
	return r.node(ctx, id)
}

// Nodes is the resolver for the nodes field.
func (r queryResolver) Nodes(ctx context.Context, ids []string) ([]readmodels.Node, error) {
	if len(ids) > maxNodes {
		return nil, domain.Errorf(domain.KindInvalid, "graphql.nodes", "at most %d ids", maxNodes)
	}
	out := make([]readmodels.Node, len(ids))
	for i, id := range ids {
		n, err := r.node(ctx, id)
		if err != nil {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}

// node returns the object id names if the caller may read it through the field that
// returns it otherwise; nil (null) when there is none or they may not.
func (r *Resolver) node(ctx context.Context, id string) (readmodels.Node, error) {
	p, err := userCaller(ctx)
	if err != nil {
		return nil, err
	}
	if spaceID, userID, ok := parseAccessID(id); ok {
		return r.accessNode(ctx, p, spaceID, userID)
	}
	if domain.ValidateID("id", id) != nil {
		return nil, nil
	}
	q := queryResolver{r}
	if id == p.OrganizationID {
		return q.Organization(ctx, nil)
	}
	// Each lookup is scoped to the caller's organisation; the first that finds the id and
	// lets the caller read it answers. Ids are UUIDs, so at most one type has it.
	lookups := []func() (readmodels.Node, error){
		func() (readmodels.Node, error) {
			return nilNode(r.Reads.SpaceOfMember(ctx, p.OrganizationID, id, p.UserID))
		},
		func() (readmodels.Node, error) { return nilNode(q.Document(ctx, id, nil)) },
		func() (readmodels.Node, error) { return nilNode(q.Conversation(ctx, id, nil)) },
		func() (readmodels.Node, error) { return nilNode(r.assistantNode(ctx, p, id)) },
		func() (readmodels.Node, error) { return nilNode(r.userNode(ctx, p, id)) },
		func() (readmodels.Node, error) { return nilNode(r.messageNode(ctx, p, id)) },
		func() (readmodels.Node, error) {
			return nilNode(r.Reads.APIKeyVisibleTo(ctx, p.OrganizationID, p.UserID, id))
		},
		func() (readmodels.Node, error) { return nilNode(r.evidenceNode(ctx, p, id)) },
	}
	for _, look := range lookups {
		n, err := look()
		if err != nil || n != nil {
			return n, err
		}
	}
	return nil, nil
}

// nilNode turns a typed nil pointer into a nil Node, so the lookups can be chained.
func nilNode[T any](v *T, err error) (readmodels.Node, error) {
	if err != nil || v == nil {
		return nil, err
	}
	return v, nil
}

// isAdmin reports whether the caller is an active organisation Admin (as @hasOrgRole checks).
func (r *Resolver) isAdmin(ctx context.Context, p auth.Principal) (bool, error) {
	role, active, err := r.Reads.OrgRole(ctx, p.OrganizationID, p.UserID)
	return err == nil && active && role == domain.OrgRoleAdmin, err
}

// accessNode answers an Access: to a member of its space (Space.memberConnection) and to an
// Admin (whoCanAccess, whose read is recorded as it is there).
func (r *Resolver) accessNode(ctx context.Context, p auth.Principal, spaceID, userID string) (readmodels.Node, error) {
	member, err := r.member(ctx, p, spaceID)
	if err != nil {
		return nil, err
	}
	if !member {
		admin, err := r.isAdmin(ctx, p)
		if err != nil || !admin {
			return nil, err
		}
		if err := r.recordAccessQuery(ctx, spaceID, ""); err != nil {
			return nil, err
		}
	}
	ms, err := r.Reads.Members(ctx, p.OrganizationID, []string{spaceID})
	if err != nil {
		return nil, err
	}
	for _, m := range ms[0] {
		if m.UserID == userID {
			return &readmodels.Access{SpaceID: spaceID, UserID: userID, Role: m.Role}, nil
		}
	}
	return nil, nil
}

// assistantNode answers an assistant to the members of its space (assistants(spaceId:)).
func (r *Resolver) assistantNode(ctx context.Context, p auth.Principal, id string) (*readmodels.Assistant, error) {
	a, err := r.Reads.Assistant(ctx, p.OrganizationID, id)
	if err != nil || a == nil {
		return nil, err
	}
	if ok, err := r.member(ctx, p, a.SpaceID); err != nil || !ok {
		return nil, err
	}
	return a, nil
}

// userNode answers a user to themselves (me), to an Admin (Access.user) and to the members of
// a space the user is a member of (SpaceMember.user).
func (r *Resolver) userNode(ctx context.Context, p auth.Principal, id string) (*readmodels.User, error) {
	u, err := r.Reads.User(ctx, p.OrganizationID, id)
	if err != nil || u == nil || id == p.UserID {
		return u, err
	}
	if admin, err := r.isAdmin(ctx, p); err != nil || admin {
		return u, err
	}
	theirs, err := r.Reads.AccessOfUser(ctx, p.OrganizationID, id)
	if err != nil {
		return nil, err
	}
	for _, a := range theirs {
		if ok, err := r.member(ctx, p, a.SpaceID); err != nil || ok {
			if ok {
				return u, nil
			}
			return nil, err
		}
	}
	return nil, nil
}

// messageNode answers a message to the owner of its conversation (conversation.messages).
func (r *Resolver) messageNode(ctx context.Context, p auth.Principal, id string) (*readmodels.Message, error) {
	m, err := r.Reads.Message(ctx, p.OrganizationID, id)
	if err != nil || m == nil {
		return nil, err
	}
	if c, err := r.ownConversation(ctx, p, m.ConversationID); err != nil || c == nil {
		return nil, err
	}
	return m, nil
}

// evidenceNode answers an evidence export to an Admin (evidenceExport).
func (r *Resolver) evidenceNode(ctx context.Context, p auth.Principal, id string) (*generated.EvidenceExport, error) {
	if r.Evidence == nil {
		return nil, nil
	}
	if admin, err := r.isAdmin(ctx, p); err != nil || !admin {
		return nil, err
	}
	return r.Evidence.Get(ctx, p.OrganizationID, id)
}

// ID is the resolver for Access.id.
func (accessResolver) ID(_ context.Context, obj *readmodels.Access) (string, error) {
	return accessID(obj.SpaceID, obj.UserID), nil
}

// AccessID is the resolver for SpaceMember.accessId.
func (spaceMemberResolver) AccessID(_ context.Context, obj *readmodels.SpaceMember) (string, error) {
	return accessID(obj.SpaceID, obj.UserID), nil
}

// StartCursor renders an empty page's cursor as null.
func (pageInfoResolver) StartCursor(_ context.Context, obj *readmodels.PageInfo) (*string, error) {
	return optional(obj.StartCursor), nil
}

// pageOf cuts a page out of a whole (short) list: the items after the cursor "<kind>:<key>"
// of the item whose key is after, at most first of them.
func pageOf[T any](all []T, pg readmodels.Page, kind string, key func(T) string) (*readmodels.Connection[T], error) {
	start := 0
	if pg.After != "" {
		k, err := readmodels.DecodeCursor(kind, pg.After)
		if err != nil {
			return nil, err
		}
		start = -1
		for i, it := range all {
			if key(it) == k {
				start = i + 1
				break
			}
		}
		if start < 0 {
			return nil, domain.E(domain.KindInvalid, "graphql.page", "after names an item no longer in this list; start over")
		}
	}
	c := &readmodels.Connection[T]{Edges: []readmodels.Edge[T]{}}
	rest := all[start:]
	if len(rest) > pg.First {
		rest, c.PageInfo.HasNextPage = rest[:pg.First], true
	}
	for _, it := range rest {
		c.Edges = append(c.Edges, readmodels.Edge[T]{Cursor: readmodels.EncodeCursor(kind, key(it)), Node: it})
	}
	if n := len(c.Edges); n > 0 {
		c.PageInfo.StartCursor, c.PageInfo.EndCursor = c.Edges[0].Cursor, c.Edges[n-1].Cursor
	}
	return c, nil
}

// WhoCanAccessConnection is the resolver for the whoCanAccessConnection field: whoCanAccess
// paged by user id.
func (r queryResolver) WhoCanAccessConnection(ctx context.Context, spaceID string, first *int, after *string, consistentAt *string, asOf *time.Time) (*readmodels.AccessConnection, error) {
	pg, err := page(first, after, 50)
	if err != nil {
		return nil, err
	}
	all, err := r.WhoCanAccess(ctx, spaceID, consistentAt, asOf)
	if err != nil {
		return nil, err
	}
	return pageOf(all, pg, "access", func(a readmodels.Access) string { return a.UserID })
}

// AccessOfConnection is the resolver for the accessOfConnection field: accessOf paged by
// space id.
func (r queryResolver) AccessOfConnection(ctx context.Context, userID string, first *int, after *string, consistentAt *string, asOf *time.Time) (*readmodels.AccessConnection, error) {
	pg, err := page(first, after, 50)
	if err != nil {
		return nil, err
	}
	all, err := r.AccessOf(ctx, userID, consistentAt, asOf)
	if err != nil {
		return nil, err
	}
	return pageOf(all, pg, "access", func(a readmodels.Access) string { return a.SpaceID })
}

// MemberConnection is the resolver for Space.memberConnection: members paged by user id.
func (r spaceResolver) MemberConnection(ctx context.Context, obj *readmodels.MemberSpace, first *int, after *string) (*readmodels.AccessConnection, error) {
	pg, err := page(first, after, 50)
	if err != nil {
		return nil, err
	}
	ms, err := r.Members(ctx, obj)
	if err != nil {
		return nil, err
	}
	all := make([]readmodels.Access, len(ms))
	for i, m := range ms {
		all[i] = readmodels.Access{SpaceID: obj.ID, UserID: m.UserID, Role: m.Role}
	}
	return pageOf(all, pg, "member", func(a readmodels.Access) string { return a.UserID })
}

// SearchConnection is the resolver for the searchConnection field: search, paged by rank.
func (r queryResolver) SearchConnection(ctx context.Context, spaceID string, query string, first *int, after *string, consistentAt *string) (*generated.SearchConnection, error) {
	n := 10
	if first != nil {
		n = *first
	}
	if n < 1 || n > maxSearchHits {
		return nil, domain.Errorf(domain.KindInvalid, "graphql.searchConnection", "first must be 1 to %d", maxSearchHits)
	}
	skip := 0
	if after != nil && *after != "" {
		k, err := readmodels.DecodeCursor("match", *after)
		if err == nil {
			skip, err = strconv.Atoi(k)
		}
		if err != nil || skip < 1 || skip >= maxSearchHits {
			return nil, domain.E(domain.KindInvalid, "graphql.searchConnection", "after is not a cursor of this list")
		}
	}
	limit := min(skip+n+1, maxSearchHits)
	hits, err := r.Search(ctx, spaceID, query, &limit, consistentAt)
	if err != nil {
		return nil, err
	}
	out := &generated.SearchConnection{Edges: []generated.SearchEdge{}, PageInfo: &readmodels.PageInfo{}}
	if skip >= len(hits) {
		return out, nil
	}
	rest := hits[skip:]
	if len(rest) > n {
		rest, out.PageInfo.HasNextPage = rest[:n], true
	}
	for i := range rest {
		out.Edges = append(out.Edges, generated.SearchEdge{Cursor: readmodels.EncodeCursor("match", strconv.Itoa(skip+i+1)),
			Score: rest[i].Score, Node: &rest[i]})
	}
	if k := len(out.Edges); k > 0 {
		out.PageInfo.StartCursor, out.PageInfo.EndCursor = out.Edges[0].Cursor, out.Edges[k-1].Cursor
	}
	return out, nil
}

// maxSearchHits bounds a search over all its pages.
const maxSearchHits = 50

// Node is the resolver for MutationResult.node: the object the mutation created or changed,
// once the read models have reached its position, as node(id:) answers it.
func (r mutationResultResolver) Node(ctx context.Context, obj *generated.MutationResult) (readmodels.Node, error) {
	id := obj.ID
	if fc := graphql.GetFieldContext(ctx); fc != nil && fc.Parent != nil && fc.Parent.Field.Field != nil {
		switch name := fc.Parent.Field.Name; name {
		case "deleteSpace", "deleteAssistant", "deleteDocument", "requestErasure", "restoreErasure":
			// The object is gone (or is an erasure order, which is no node).
			return nil, nil
		case "addSpaceMember", "changeSpaceRole":
			if in, ok := fc.Parent.Args["input"]; ok {
				if sp, us := inputIDs(in); sp != "" && us != "" {
					id = accessID(sp, us)
				}
			}
		}
	}
	if err := r.consistent(ctx, &obj.Position); err != nil {
		return nil, err
	}
	return r.node(ctx, id)
}

// inputIDs returns the spaceId and userId of a member mutation's input.
func inputIDs(in any) (spaceID, userID string) {
	switch v := in.(type) {
	case generated.AddSpaceMemberInput:
		return v.SpaceID, v.UserID
	case *generated.AddSpaceMemberInput:
		return v.SpaceID, v.UserID
	case generated.ChangeSpaceRoleInput:
		return v.SpaceID, v.UserID
	case *generated.ChangeSpaceRoleInput:
		return v.SpaceID, v.UserID
	}
	return "", ""
}

// APIKey is the resolver for CreateApiKeyPayload.apiKey.
func (r createAPIKeyPayloadResolver) APIKey(ctx context.Context, obj *generated.CreateAPIKeyPayload) (*readmodels.APIKey, error) {
	p, err := userCaller(ctx)
	if err != nil {
		return nil, err
	}
	if err := r.consistent(ctx, &obj.Position); err != nil {
		return nil, err
	}
	return r.Reads.APIKeyVisibleTo(ctx, p.OrganizationID, p.UserID, obj.ID)
}

// User is the resolver for SetPasswordPayload.user.
func (r setPasswordPayloadResolver) User(ctx context.Context, obj *generated.SetPasswordPayload) (*readmodels.User, error) {
	if err := r.consistent(ctx, obj.Position); err != nil {
		return nil, err
	}
	n, err := r.node(ctx, obj.ID)
	if u, ok := n.(*readmodels.User); ok {
		return u, err
	}
	return nil, err
}

// ID is the resolver for AllowedModelInput.id (deprecated for modelId).
func (allowedModelInputResolver) ID(_ context.Context, obj *domain.AllowedModel, data *string) error {
	return setModelID(obj, data)
}

// ModelID is the resolver for AllowedModelInput.modelId.
func (allowedModelInputResolver) ModelID(_ context.Context, obj *domain.AllowedModel, data *string) error {
	return setModelID(obj, data)
}

// setModelID sets an allow-list entry's id from id or modelId, refusing two different ones.
func setModelID(obj *domain.AllowedModel, data *string) error {
	if data == nil {
		return nil
	}
	if obj.ID != "" && string(obj.ID) != *data {
		return domain.E(domain.KindInvalid, "graphql.allowedModel", "id and modelId name different models; give modelId only")
	}
	obj.ID = domain.ModelID(*data)
	return nil
}
