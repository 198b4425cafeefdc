package commands

import (
	"context"
	"regexp"

	"github.com/arkiv/arkiv/domain"
)

// RecordDenial records in the organisation's access log (access.denied.v1) that the API
// refused the actor an operation before any command ran: the schema's role directive found
// their organisation role insufficient. Such refusals are audited like those inside
// commands. Every authenticated user may record their own denials.
type RecordDenial struct {
	Meta
	// Operation is the refused GraphQL field, e.g. "Mutation.grantOrgRole"; it is the
	// denial's command.
	Operation string
}

// operationName is a GraphQL "Type.field" coordinate.
var operationName = regexp.MustCompile(`^[A-Z][A-Za-z0-9_]{0,63}\.[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// recordDenial runs RecordDenial. It returns the KindForbidden error for the refused
// operation, as deny does for commands, carrying the cause when the denial could not be
// recorded; a deactivated actor is unauthenticated (and that refusal is recorded instead).
func (x *executor) recordDenial(ctx context.Context, c RecordDenial) (Result, error) {
	const op = string(domain.CmdRecordDenial)
	if !operationName.MatchString(c.Operation) {
		return Result{}, domain.E(domain.KindInvalid, op, "operation must be a GraphQL Type.field name")
	}
	act, err := x.loadActor(ctx, c.Meta, domain.CmdRecordDenial)
	if err != nil {
		return Result{}, err
	}
	if act.system {
		return Result{}, domain.E(domain.KindForbidden, op, "the system actor has no API denials")
	}
	cmd := domain.Command(c.Operation)
	return Result{ID: act.id}, x.deny(ctx, c.Meta, act, cmd, domain.AccessStream(act.org), act.org, domain.SpaceRoleNone, domain.ReasonRole)
}
