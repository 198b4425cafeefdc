package graphql

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// Page is a connection's paging arguments: at most First items after the cursor After.
type Page struct {
	First int
	After string
}

// page validates first (1 to 100, default def) and after.
func page(first *int, after *string, def int) (Page, error) {
	p := Page{First: def}
	if first != nil {
		p.First = *first
	}
	if p.First < 1 || p.First > 100 {
		return p, domain.E(domain.KindInvalid, "graphql.page", "first must be 1 to 100")
	}
	if after != nil {
		p.After = *after
	}
	return p, nil
}

// Reads is the query side the resolvers need, over the read models (readmodels/). Every
// method is scoped to one organisation: rows of another organisation are never returned.
// Sealed fields are decrypted at query time; an erased field comes back nil, and an erased
// object (document, user, conversation, space, and the messages of an erased conversation or
// author) is not returned at all. A message whose text alone is unreadable (erased or past
// retention) is listed with Text nil, as the schema says. A missing object is (nil, nil), not
// an error.
type Reads interface {
	Roles
	// User returns a user of the organisation.
	User(ctx context.Context, orgID, userID string) (*User, error)
	// Users returns users of the organisation by id, aligned with ids (nil where unknown).
	Users(ctx context.Context, orgID string, ids []string) ([]*User, error)
	// Organization returns the organisation with its current settings.
	Organization(ctx context.Context, orgID string) (*Organization, error)
	// IdentityProviders returns the organisation's identity providers in the order they
	// were first configured.
	IdentityProviders(ctx context.Context, orgID string) ([]IdentityProvider, error)
	// SpaceRole returns userID's role in a live space of the organisation (none when not a
	// member or when the space does not exist there).
	SpaceRole(ctx context.Context, orgID, spaceID, userID string) (domain.SpaceRole, error)
	// Spaces returns the live spaces of the organisation userID is a member of, by name
	// (then id), with userID's role as MyRole.
	Spaces(ctx context.Context, orgID, userID string, p Page) (*SpaceConnection, error)
	// Space returns a live space of the organisation that userID is a member of, with their
	// role as MyRole; nil when they are not a member.
	Space(ctx context.Context, orgID, spaceID, userID string) (*Space, error)
	// Members returns the members of spaces with their users, aligned with spaceIDs, each
	// ordered by user id.
	Members(ctx context.Context, orgID string, spaceIDs []string) ([][]SpaceMember, error)
	// Assistants returns the live assistants of a space.
	Assistants(ctx context.Context, orgID, spaceID string, p Page) (*AssistantConnection, error)
	// Documents returns the live documents of a space, without content.
	Documents(ctx context.Context, orgID, spaceID string, p Page) (*DocumentConnection, error)
	// Document returns a live document of the organisation, without content.
	Document(ctx context.Context, orgID, documentID string) (*Document, error)
	// DocumentContent returns a live document's decrypted text.
	DocumentContent(ctx context.Context, orgID, documentID string) (*string, error)
	// Conversation returns a conversation of the organisation.
	Conversation(ctx context.Context, orgID, conversationID string) (*Conversation, error)
	// Messages returns a conversation's messages, oldest first.
	Messages(ctx context.Context, orgID, conversationID string, p Page) (*MessageConnection, error)
	// AccessToSpace returns who can access a space: its members with their roles.
	AccessToSpace(ctx context.Context, orgID, spaceID string) ([]Access, error)
	// AccessOfUser returns the spaces a user can access with their roles.
	AccessOfUser(ctx context.Context, orgID, userID string) ([]Access, error)
	// AuditLog returns the organisation's audit entries matching f, newest first.
	AuditLog(ctx context.Context, orgID string, f AuditFilter, p Page) (*AuditConnection, error)
	// APIKeys returns the organisation's API keys, only ownerID's when ownerID is not empty.
	APIKeys(ctx context.Context, orgID, ownerID string, p Page) (*APIKeyConnection, error)
	// Search runs a hybrid search over a space's documents.
	Search(ctx context.Context, orgID, spaceID, query string, limit int) ([]SearchHit, error)
}
