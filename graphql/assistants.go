package graphql

import (
	"context"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/graphql/generated"
	"github.com/arkiv/arkiv/readmodels"
)

// The assistants of a space.

// Assistants is the resolver for the assistants field.
func (r queryResolver) Assistants(ctx context.Context, spaceID string, first *int, after *string, consistentAt *string) (*readmodels.AssistantConnection, error) {
	p, err := userCaller(ctx)
	if err != nil {
		return nil, err
	}
	pg, err := page(first, after, 50)
	if err != nil {
		return nil, err
	}
	if err := r.consistent(ctx, consistentAt); err != nil {
		return nil, err
	}
	if ok, err := r.member(ctx, p, spaceID); err != nil || !ok {
		return empty[readmodels.Assistant](), err
	}
	c, err := r.Reads.Assistants(ctx, p.OrganizationID, spaceID, pg)
	return &c, err
}

// oneModel returns the model of an input that names it by model (ID) or by the deprecated
// modelId (String): one of them, or both alike.
func oneModel(model, modelID *string) (string, error) {
	switch {
	case model != nil && modelID != nil && *model != *modelID:
		return "", domain.E(domain.KindInvalid, "graphql.model", "model and modelId name different models; give model only")
	case model != nil:
		return *model, nil
	case modelID != nil:
		return *modelID, nil
	}
	return "", domain.E(domain.KindInvalid, "graphql.model", "model is required")
}

func assistantSpec(name, instructions, model string, retention *int, logPayloads *bool) domain.AssistantSpec {
	spec := domain.AssistantSpec{Name: name, Instructions: instructions, Model: domain.ModelID(model)}
	if retention != nil {
		spec.RetentionDays = *retention
	}
	if logPayloads != nil {
		spec.LogModelPayloads = *logPayloads
	}
	return spec
}

// CreateAssistant is the resolver for the createAssistant field.
func (r mutationResolver) CreateAssistant(ctx context.Context, input generated.CreateAssistantInput) (*generated.MutationResult, error) {
	model, err := oneModel(input.Model, input.ModelID)
	if err != nil {
		return nil, err
	}
	return run(ctx, r.App.CreateAssistant, func(m commands.Meta) commands.CreateAssistant {
		return commands.CreateAssistant{Meta: m, SpaceID: input.SpaceID,
			Spec: assistantSpec(input.Name, input.Instructions, model, input.RetentionDays, input.LogModelPayloads)}
	})
}

// UpdateAssistant is the resolver for the updateAssistant field.
func (r mutationResolver) UpdateAssistant(ctx context.Context, input generated.UpdateAssistantInput) (*generated.MutationResult, error) {
	model, err := oneModel(input.Model, input.ModelID)
	if err != nil {
		return nil, err
	}
	return run(ctx, r.App.UpdateAssistant, func(m commands.Meta) commands.UpdateAssistant {
		return commands.UpdateAssistant{Meta: m, AssistantID: input.AssistantID,
			Spec: assistantSpec(input.Name, input.Instructions, model, input.RetentionDays, input.LogModelPayloads)}
	})
}

// DeleteAssistant is the resolver for the deleteAssistant field.
func (r mutationResolver) DeleteAssistant(ctx context.Context, id string) (*generated.MutationResult, error) {
	return run(ctx, r.App.DeleteAssistant, func(m commands.Meta) commands.DeleteAssistant {
		return commands.DeleteAssistant{Meta: m, AssistantID: id}
	})
}

// Assistant implements generated.ResolverRoot.
func (r *Resolver) Assistant() generated.AssistantResolver { return assistantResolver{r} }

type assistantResolver struct{ *Resolver }

// CreatedBy is the resolver for Assistant.createdBy: null for an assistant projected before
// owners were recorded.
func (assistantResolver) CreatedBy(_ context.Context, obj *readmodels.Assistant) (*string, error) {
	return optional(obj.CreatedBy), nil
}

// UpdatedBy is the resolver for Assistant.updatedBy.
func (assistantResolver) UpdatedBy(_ context.Context, obj *readmodels.Assistant) (*string, error) {
	return optional(obj.UpdatedBy), nil
}
