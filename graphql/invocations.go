package graphql

import (
	"context"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/graphql/generated"
	"github.com/arkiv/arkiv/readmodels"
)

// What was sent to models.

// ModelInvocations is the resolver for the modelInvocations field. The
// ViewModelInvocations command authorises the read again and records it, with its filter
// and justification, before the invocations are read.
func (r queryResolver) ModelInvocations(ctx context.Context, filter *generated.ModelInvocationFilter, justification *string, first *int, after *string, consistentAt *string) (*readmodels.ModelInvocationConnection, error) {
	m, p, err := meta(ctx)
	if err != nil {
		return nil, err
	}
	pg, err := page(first, after, 20)
	if err != nil {
		return nil, err
	}
	var f readmodels.ModelInvocationFilter
	if filter != nil {
		f.AssistantID, f.SpaceID, f.UserID = deref(filter.AssistantID), deref(filter.SpaceID), deref(filter.UserID)
		if filter.From != nil {
			f.From = *filter.From
		}
		if filter.To != nil {
			f.To = *filter.To
		}
	}
	if err := r.consistent(ctx, consistentAt); err != nil {
		return nil, err
	}
	if _, err := r.App.ViewModelInvocations.Handle(ctx, commands.ViewModelInvocations{Meta: m, AssistantID: f.AssistantID,
		SpaceID: f.SpaceID, UserID: f.UserID, From: f.From, To: f.To, Justification: deref(justification)}); err != nil {
		return nil, err
	}
	c, err := r.Reads.ModelInvocations(ctx, p.OrganizationID, f, pg)
	return &c, err
}

// Region is the resolver for ModelInvocation.region: null when the model was not on the
// allow-list.
func (modelInvocationResolver) Region(_ context.Context, obj *readmodels.ModelInvocation) (*domain.Region, error) {
	if obj.Region == "" {
		return nil, nil
	}
	return &obj.Region, nil
}

// Error is the resolver for ModelInvocation.error.
func (modelInvocationResolver) Error(_ context.Context, obj *readmodels.ModelInvocation) (*string, error) {
	return optional(obj.Error), nil
}

// RequestSha256 is the resolver for ModelInvocation.requestSha256.
func (modelInvocationResolver) RequestSha256(_ context.Context, obj *readmodels.ModelInvocation) (*string, error) {
	return optional(obj.RequestSHA256), nil
}

// Position is the resolver for ModelInvocation.position.
func (modelInvocationResolver) Position(_ context.Context, obj *readmodels.ModelInvocation) (string, error) {
	return position(obj.Position), nil
}
