package graphql

import (
	"context"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/graphql/generated"
)

// Erasure orders.

// RequestErasure is the resolver for the requestErasure field.
func (r mutationResolver) RequestErasure(ctx context.Context, input generated.RequestErasureInput) (*generated.MutationResult, error) {
	return run(ctx, r.App.RequestErasure, func(m commands.Meta) commands.RequestErasure {
		return commands.RequestErasure{Meta: m, SubjectType: input.SubjectType, SubjectID: input.SubjectID, GraceDays: input.GraceDays}
	})
}

// RestoreErasure is the resolver for the restoreErasure field.
func (r mutationResolver) RestoreErasure(ctx context.Context, id string) (*generated.MutationResult, error) {
	return run(ctx, r.App.RestoreErasure, func(m commands.Meta) commands.RestoreErasure {
		return commands.RestoreErasure{Meta: m, ErasureID: id}
	})
}
