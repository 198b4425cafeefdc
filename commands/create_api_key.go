package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// CreateAPIKey issues an API key for a user or an assistant of the actor's organisation
// (Admins). Only the key's SHA-256 and prefix are stored; the secret is returned once.
type CreateAPIKey struct {
	Meta
	// KeyID is the key's id; empty derives one from the command id.
	KeyID string
	// OwnerKind is domain.KeyOwnerUser or domain.KeyOwnerAssistant.
	OwnerKind string
	OwnerID   string
}

// APIKeyResult is the outcome of CreateAPIKey. Secret is empty when the command was a retry
// of one already applied: a secret is shown only once.
type APIKeyResult struct {
	KeyID    string
	Secret   string
	Prefix   string
	Position uint64
}

// createAPIKey runs CreateAPIKey.
func (x *executor) createAPIKey(ctx context.Context, c CreateAPIKey) (APIKeyResult, error) {
	if err := domain.ValidateID("key owner id", c.OwnerID); err != nil {
		return APIKeyResult{}, err
	}
	secret, prefix, hash, err := domain.GenerateAPIKey(x.d.Random)
	if err != nil {
		return APIKeyResult{}, err
	}
	id := orDefault(c.KeyID, DerivedID(c.CommandID, "apikey"))
	decided := false
	res, err := x.run(ctx, c.Meta, spec{
		cmd:    domain.CmdCreateAPIKey,
		target: func(act actor) domain.Aggregate { return domain.NewAPIKey(id) },
		create: true,
		decide: func(ctx context.Context, act actor, t domain.Aggregate) error {
			if err := x.checkKeyOwner(ctx, act, c.OwnerKind, c.OwnerID); err != nil {
				return err
			}
			decided = true
			return t.(*domain.APIKey).Create(act.org, c.OwnerKind, c.OwnerID, prefix, hash, act.id)
		},
	})
	if err != nil {
		return APIKeyResult{}, err
	}
	out := APIKeyResult{KeyID: res.ID, Position: res.Position}
	if decided {
		out.Secret, out.Prefix = secret, prefix
	}
	return out, nil
}

// checkKeyOwner checks that a key's owner is a live user or assistant of the organisation.
func (x *executor) checkKeyOwner(ctx context.Context, act actor, kind, owner string) error {
	switch kind {
	case domain.KeyOwnerUser:
		u := domain.NewUser(owner)
		if err := x.loadSameOrg(ctx, act, u, "user"); err != nil {
			return err
		}
		if !u.Active() {
			return domain.E(domain.KindNotFound, "apikey.owner", "user not found")
		}
	case domain.KeyOwnerAssistant:
		a := domain.NewAssistant(owner)
		if err := x.loadSameOrg(ctx, act, a, "assistant"); err != nil {
			return err
		}
		if !a.Live() {
			return domain.E(domain.KindNotFound, "apikey.owner", "assistant not found")
		}
	default:
		return domain.E(domain.KindInvalid, "apikey.owner", "key owner kind must be USER or ASSISTANT")
	}
	return nil
}
