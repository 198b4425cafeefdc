package graphql

import (
	"context"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/graphql/generated"
	"github.com/arkiv/arkiv/readmodels"
)

// Erasure orders, deleted items, legal holds and erasure certificates.

// RequestErasure is the resolver for the requestErasure field.
func (r mutationResolver) RequestErasure(ctx context.Context, input generated.RequestErasureInput) (*generated.MutationResult, error) {
	return run(ctx, r.App.RequestErasure, func(m commands.Meta) commands.RequestErasure {
		return commands.RequestErasure{Meta: m, SubjectType: input.SubjectType, SubjectID: input.SubjectID, GraceDays: input.GraceDays,
			LegalBasis: deref(input.LegalBasis)}
	})
}

// RestoreErasure is the resolver for the restoreErasure field.
func (r mutationResolver) RestoreErasure(ctx context.Context, id string) (*generated.MutationResult, error) {
	return run(ctx, r.App.RestoreErasure, func(m commands.Meta) commands.RestoreErasure {
		return commands.RestoreErasure{Meta: m, ErasureID: id}
	})
}

// RestoreDeletedItem is the resolver for the restoreDeletedItem field: the same command,
// which authorizes a space's Admins by their role in the erasure's space.
func (r mutationResolver) RestoreDeletedItem(ctx context.Context, id string) (*generated.MutationResult, error) {
	return r.RestoreErasure(ctx, id)
}

// DeleteConversation is the resolver for the deleteConversation field.
func (r mutationResolver) DeleteConversation(ctx context.Context, id string) (*generated.MutationResult, error) {
	return run(ctx, r.App.DeleteConversation, func(m commands.Meta) commands.DeleteConversation {
		return commands.DeleteConversation{Meta: m, ConversationID: id}
	})
}

// PlaceLegalHold is the resolver for the placeLegalHold field.
func (r mutationResolver) PlaceLegalHold(ctx context.Context, input generated.PlaceLegalHoldInput) (*generated.MutationResult, error) {
	return run(ctx, r.App.PlaceLegalHold, func(m commands.Meta) commands.PlaceLegalHold {
		return commands.PlaceLegalHold{Meta: m, SubjectType: input.SubjectType, SubjectID: input.SubjectID, Reason: input.Reason}
	})
}

// LiftLegalHold is the resolver for the liftLegalHold field.
func (r mutationResolver) LiftLegalHold(ctx context.Context, input generated.LiftLegalHoldInput) (*generated.MutationResult, error) {
	return run(ctx, r.App.LiftLegalHold, func(m commands.Meta) commands.LiftLegalHold {
		return commands.LiftLegalHold{Meta: m, HoldID: input.HoldID, Reason: input.Reason}
	})
}

// DeletedItems is the resolver for the deletedItems field: organisation Admins see every
// pending erasure of the organisation, a space's Admins those of their space.
func (r queryResolver) DeletedItems(ctx context.Context, spaceID *string, first *int, consistentAt *string) ([]readmodels.DeletedItem, error) {
	const op = "graphql.deletedItems"
	p, err := userCaller(ctx)
	if err != nil {
		return nil, err
	}
	if err := r.consistent(ctx, consistentAt); err != nil {
		return nil, err
	}
	limit := 100
	if first != nil {
		if *first < 1 || *first > readmodels.MaxDeletedItems {
			return nil, domain.Errorf(domain.KindInvalid, op, "first must be 1 to %d", readmodels.MaxDeletedItems)
		}
		limit = *first
	}
	role, active, err := roleOf(ctx, r.Reads, p.OrganizationID, p.UserID)
	if err != nil {
		return nil, err
	}
	if !active {
		return nil, domain.E(domain.KindUnauthenticated, op, "user is not active")
	}
	if role != domain.OrgRoleAdmin {
		if spaceID == nil {
			recordDenial(ctx, r.App, p.UserID)
			return nil, domain.E(domain.KindForbidden, op, "only organisation Admins list every deleted item; a space's Admins give its spaceId")
		}
		if domain.ValidateID("space id", *spaceID) != nil {
			return nil, domain.E(domain.KindInvalid, op, "space id must be a lower-case UUID")
		}
		sr, err := r.Reads.SpaceRole(ctx, p.OrganizationID, *spaceID, p.UserID)
		if err != nil {
			return nil, err
		}
		if sr != domain.SpaceRoleAdmin {
			recordDenial(ctx, r.App, p.UserID)
			// A deleted space has no members any more: its former Admins are not asked
			// here, the organisation's Admins restore it.
			return nil, domain.E(domain.KindForbidden, op, "only the space's Admins and organisation Admins list its deleted items")
		}
	}
	return r.Reads.DeletedItems(ctx, p.OrganizationID, spaceID, limit)
}

// LegalHolds is the resolver for the legalHolds field.
func (r queryResolver) LegalHolds(ctx context.Context, includeLifted *bool, consistentAt *string) ([]readmodels.LegalHold, error) {
	p, err := r.reader(ctx, consistentAt)
	if err != nil {
		return nil, err
	}
	return r.Reads.LegalHolds(ctx, p.OrganizationID, includeLifted != nil && *includeLifted)
}

// ErasureCertificate is the resolver for the erasureCertificate field.
func (r queryResolver) ErasureCertificate(ctx context.Context, id string, consistentAt *string) (*readmodels.ErasureCertificate, error) {
	p, err := r.reader(ctx, consistentAt)
	if err != nil {
		return nil, err
	}
	if domain.ValidateID("erasure id", id) != nil {
		return nil, domain.E(domain.KindInvalid, "graphql.erasureCertificate", "erasure id must be a lower-case UUID")
	}
	return r.Reads.ErasureCertificate(ctx, p.OrganizationID, id)
}

// LegalHold is the resolver for Document.legalHold.
func (r documentResolver) LegalHold(ctx context.Context, obj *readmodels.Document) (*readmodels.LegalHold, error) {
	return r.Reads.LegalHoldOn(ctx, obj.OrganizationID, domain.SubjectDocument, obj.ID)
}

// LegalHold is the resolver for Space.legalHold.
func (r spaceResolver) LegalHold(ctx context.Context, obj *readmodels.MemberSpace) (*readmodels.LegalHold, error) {
	return r.Reads.LegalHoldOn(ctx, obj.OrganizationID, domain.SubjectSpace, obj.ID)
}

// LegalHold is the resolver for Conversation.legalHold.
func (r conversationResolver) LegalHold(ctx context.Context, obj *readmodels.Conversation) (*readmodels.LegalHold, error) {
	return r.Reads.LegalHoldOn(ctx, obj.OrganizationID, domain.SubjectConversation, obj.ID)
}
