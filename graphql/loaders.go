package graphql

import (
	"context"
	"time"

	"github.com/vikstrous/dataloadgen"

	"github.com/arkiv/arkiv/readmodels"
)

// Loaders batch the reads that nested fields repeat: the users and the members of spaces.
// One set lives per request (loadersFor), so nothing is cached across callers.
type Loaders struct {
	Users   *dataloadgen.Loader[string, *readmodels.User]
	Members *dataloadgen.Loader[string, []readmodels.SpaceMember]
}

// newLoaders returns the loaders of one request of a caller of orgID.
func newLoaders(reads *readmodels.Reader, orgID string) *Loaders {
	wait := dataloadgen.WithWait(200 * time.Microsecond)
	return &Loaders{
		Users: dataloadgen.NewLoader(func(ctx context.Context, ids []string) ([]*readmodels.User, []error) {
			users, err := reads.Users(ctx, orgID, ids)
			if err != nil {
				return nil, []error{err}
			}
			for i, u := range users {
				users[i] = visible(u)
			}
			return users, nil
		}, wait),
		Members: dataloadgen.NewLoader(func(ctx context.Context, ids []string) ([][]readmodels.SpaceMember, []error) {
			members, err := reads.Members(ctx, orgID, ids)
			if err != nil {
				return nil, []error{err}
			}
			return members, nil
		}, wait),
	}
}

// loadersFor returns the request's loaders, creating them on first use for the caller's
// organisation.
func loadersFor(ctx context.Context, r *Resolver) (*Loaders, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if c := requestCacheFrom(ctx); c != nil {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.loaders == nil {
			c.loaders = newLoaders(r.Reads, p.OrganizationID)
		}
		return c.loaders, nil
	}
	return newLoaders(r.Reads, p.OrganizationID), nil
}

func userLoader(ctx context.Context, r *Resolver, id string) (*readmodels.User, error) {
	l, err := loadersFor(ctx, r)
	if err != nil {
		return nil, err
	}
	return l.Users.Load(ctx, id)
}

func membersLoader(ctx context.Context, r *Resolver, spaceID string) ([]readmodels.SpaceMember, error) {
	l, err := loadersFor(ctx, r)
	if err != nil {
		return nil, err
	}
	return l.Members.Load(ctx, spaceID)
}
