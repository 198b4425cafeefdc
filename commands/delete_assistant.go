package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// DeleteAssistant deletes an assistant (Space Admins): an erasure order, hidden at once,
// restorable for the organisation's grace window. An assistant's settings are sealed under
// its space, so completion purges what was derived from it; its conversations stay with
// their owners.
type DeleteAssistant struct {
	Meta
	AssistantID string
	// LegalBasis is why, if said.
	LegalBasis string
}

// deleteAssistant runs DeleteAssistant; Result.ID is the erasure's id.
func (x *executor) deleteAssistant(ctx context.Context, c DeleteAssistant) (Result, error) {
	return x.orderErasure(ctx, c.Meta, domain.CmdDeleteAssistant, domain.SubjectAssistant, c.AssistantID, nil, c.LegalBasis, nil)
}
