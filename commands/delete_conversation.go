package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// DeleteConversation deletes a conversation (its owner, or an Admin of its space): an
// erasure order, hidden at once, restorable for the organisation's grace window, then
// shredded.
type DeleteConversation struct {
	Meta
	ConversationID string
	// LegalBasis is why, if said.
	LegalBasis string
}

// deleteConversation runs DeleteConversation; Result.ID is the erasure's id.
func (x *executor) deleteConversation(ctx context.Context, c DeleteConversation) (Result, error) {
	return x.orderErasure(ctx, c.Meta, domain.CmdDeleteConversation, domain.SubjectConversation, c.ConversationID, nil, c.LegalBasis,
		func(ctx context.Context, act actor, s erasable) error {
			if act.id == s.owner {
				return nil
			}
			sp := domain.NewSpace(s.space)
			if _, err := x.load(ctx, sp); err != nil {
				return err
			}
			if sp.RoleOf(act.id) == domain.SpaceRoleAdmin {
				return nil
			}
			return domain.E(domain.KindForbidden, string(domain.CmdDeleteConversation), "only the conversation's owner or a space Admin may delete it")
		})
}
