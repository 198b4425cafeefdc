package graphql

import (
	"context"
	"sync"

	"github.com/arkiv/arkiv/domain"
)

// requestCache holds what one request learns once and reuses: the caller's organisation
// role and the request's loaders.
type requestCache struct {
	mu        sync.Mutex
	loaders   *Loaders
	roleKnown bool
	role      domain.OrgRole
	active    bool
}

type requestCacheKey struct{}

func withRequestCache(ctx context.Context) context.Context {
	return context.WithValue(ctx, requestCacheKey{}, &requestCache{})
}

func requestCacheFrom(ctx context.Context) *requestCache {
	c, _ := ctx.Value(requestCacheKey{}).(*requestCache)
	return c
}
