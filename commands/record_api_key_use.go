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

// recordAPIKeyUse runs RecordAPIKeyUse.
func (x *executor) recordAPIKeyUse(ctx context.Context, c RecordAPIKeyUse) (Result, error) {
	if err := domain.ValidateID("API key id", c.KeyID); err != nil {
		return Result{}, err
	}
	return x.run(ctx, c.Meta, spec{
		cmd:    domain.CmdRecordAPIKeyUse,
		target: func(act actor) domain.Aggregate { return domain.NewAPIKey(c.KeyID) },
		decide: func(_ context.Context, act actor, t domain.Aggregate) error {
			return t.(*domain.APIKey).RecordUse(x.d.Clock.Now().UTC())
		},
	})
}
