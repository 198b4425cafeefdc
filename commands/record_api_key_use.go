package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// RecordAPIKeyUse records that a key authenticated a request; the authentication layer
// runs it as the user the key authenticated.
type RecordAPIKeyUse struct {
	Meta
	KeyID string
}

// RecordAPIKeyUseHandler handles RecordAPIKeyUse.
type RecordAPIKeyUseHandler struct{ x *executor }

// NewRecordAPIKeyUseHandler returns the handler; it refuses nil dependencies.
func NewRecordAPIKeyUseHandler(d Deps) (*RecordAPIKeyUseHandler, error) {
	x, err := newExecutor(d)
	if err != nil {
		return nil, err
	}
	return &RecordAPIKeyUseHandler{x}, nil
}

// Handle runs the command.
func (h *RecordAPIKeyUseHandler) Handle(ctx context.Context, c RecordAPIKeyUse) (Result, error) {
	if err := domain.ValidateID("API key id", c.KeyID); err != nil {
		return Result{}, err
	}
	return h.x.run(ctx, c.Meta, spec{
		cmd:    domain.CmdRecordAPIKeyUse,
		target: func(act actor) domain.Aggregate { return domain.NewAPIKey(c.KeyID) },
		decide: func(_ context.Context, act actor, t domain.Aggregate) error {
			return t.(*domain.APIKey).RecordUse(h.x.d.Clock.Now().UTC())
		},
	})
}
