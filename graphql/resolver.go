// Package graphql holds Arkiv's GraphQL resolvers: thin translations from the schema in
// schema.graphql to commands/ and readmodels/. gqlgen generates the rest of the package.
package graphql

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/auth"
	"github.com/arkiv/arkiv/readmodels"
)

// Resolver is the root resolver; it holds the use cases and read models resolvers call.
type Resolver struct {
	// Version is the server's version string.
	Version string
	// App runs the commands (mutations).
	App *commands.App
	// Reads answers the queries, scoped to the caller's organisation.
	Reads Reads
	// Sessions performs local logins, logouts and password changes.
	Sessions Sessions
	// Waiter lets a query wait until the read models have reached a log position.
	Waiter Waiter
	// Projections names the read-model projections a consistentAt query waits for.
	Projections []string
	// Replies carries the tokens of replies to replyStream subscribers; nil disables
	// streaming.
	Replies *ReplyBroker
	// Invocations reads what was sent to models (readmodels.Reader).
	Invocations Invocations
	// Feed delivers new messages and audit entries to subscriptions.
	Feed Feed
	// ConsistencyBound bounds how long a query waits for consistentAt (default 5 s).
	ConsistencyBound time.Duration
	// Clock tells the time; default the wall clock.
	Clock interface{ Now() time.Time }
	// Log receives resolver failures without personal data.
	Log *slog.Logger
}

// Sessions is what the API needs of local accounts (infra/auth.Authenticator).
type Sessions interface {
	Login(ctx context.Context, orgID, login, password, remoteIP string) (token string, idle time.Duration, err error)
	Logout(ctx context.Context, token string) error
	SetPassword(ctx context.Context, orgID, userID, login, password string) error
	AuthenticateToken(ctx context.Context, token string) (auth.Principal, error)
}

// Waiter waits until the named projections have applied the event at a commit position
// (engine.Waiter).
type Waiter interface {
	WaitFor(ctx context.Context, names []string, position uint64, bound time.Duration) error
}

// Invocations is the query side of what was sent to models (readmodels.Reader). The caller
// has recorded the read (commands.ViewModelInvocations) first.
type Invocations interface {
	ModelInvocations(ctx context.Context, orgID string, f readmodels.ModelInvocationFilter, p readmodels.Page) (readmodels.Connection[readmodels.ModelInvocation], error)
}

// Feed delivers what subscriptions stream. Each subscribe call returns a channel that is
// closed when ctx ends; the caller has been authorised already.
type Feed interface {
	// Messages streams the messages recorded in a conversation from now on.
	Messages(ctx context.Context, orgID, conversationID string) (<-chan *Message, error)
	// Audit streams the audit entries of an organisation from now on.
	Audit(ctx context.Context, orgID string) (<-chan *AuditEntry, error)
}

// caller returns the authenticated principal of the request.
func caller(ctx context.Context) (auth.Principal, error) {
	p, ok := auth.FromContext(ctx)
	if !ok || p.OrganizationID == "" {
		return auth.Principal{}, domain.E(domain.KindUnauthenticated, "graphql.caller", "authentication required")
	}
	return p, nil
}

// userCaller returns the principal of a request made by a user (not an assistant's key).
func userCaller(ctx context.Context) (auth.Principal, error) {
	p, err := caller(ctx)
	if err != nil {
		return p, err
	}
	if p.UserID == "" {
		return p, domain.E(domain.KindForbidden, "graphql.caller", "an assistant's API key cannot run this operation")
	}
	return p, nil
}

// meta returns the metadata of a command run for the calling user: a fresh command id and
// the user as the actor.
func meta(ctx context.Context) (commands.Meta, auth.Principal, error) {
	p, err := userCaller(ctx)
	if err != nil {
		return commands.Meta{}, p, err
	}
	id := uuid.NewString()
	return commands.Meta{CommandID: id, ActorID: p.UserID, CorrelationID: id}, p, nil
}

// position renders a commit position.
func position(p uint64) string { return strconv.FormatUint(p, 10) }

// result turns a command's result into the mutation payload.
func result(r commands.Result, err error) (*MutationResult, error) {
	if err != nil {
		return nil, err
	}
	return &MutationResult{ID: r.ID, Position: position(r.Position)}, nil
}

func (r *Resolver) now() time.Time {
	if r.Clock != nil {
		return r.Clock.Now()
	}
	return time.Now()
}

// consistent waits until the read models have reached the position a client passed
// as consistentAt; nil waits for nothing.
func (r *Resolver) consistent(ctx context.Context, at *string) error {
	if at == nil || *at == "" {
		return nil
	}
	pos, err := strconv.ParseUint(*at, 10, 64)
	if err != nil {
		return domain.E(domain.KindInvalid, "graphql.consistentAt", "consistentAt must be a position returned by a mutation")
	}
	bound := r.ConsistencyBound
	if bound <= 0 {
		bound = 5 * time.Second
	}
	if r.Waiter == nil {
		return domain.E(domain.KindUnavailable, "graphql.consistentAt", "read-your-writes is not available")
	}
	return r.Waiter.WaitFor(ctx, r.Projections, pos, bound)
}
