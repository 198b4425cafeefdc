package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// RegisterUser adds a user to the actor's organisation (Admins). E-mail addresses are
// unique within an organisation (compared as NewEmail normalises them).
type RegisterUser struct {
	Meta
	// UserID is the new user's id; empty derives one from the command id.
	UserID string
	Email  string
	Name   string
	Role   domain.OrgRole
}

// registerUser runs RegisterUser; Result.ID is the user's id.
func (x *executor) registerUser(ctx context.Context, c RegisterUser) (Result, error) {
	id := orDefault(c.UserID, DerivedID(c.CommandID, "user"))
	return x.run(ctx, c.Meta, spec{
		cmd:    domain.CmdRegisterUser,
		target: func(act actor) domain.Aggregate { return domain.NewUser(id) },
		create: true,
		decide: func(ctx context.Context, act actor, t domain.Aggregate) error {
			if err := t.(*domain.User).Register(act.org, c.Email, c.Name, c.Role); err != nil {
				return err // invalid, or the user exists: nothing reserved
			}
			// The address is reserved before the user's stream is appended; a reservation
			// whose user append then fails names a user id nobody else can take.
			return x.reserveEmail(ctx, act.meta, act.id, act.org, id, c.Email)
		},
	})
}

// reserveEmail reserves email (normalised) in org for user, appending to the reservation
// stream with its revision as the expected one: an address another user of the
// organisation holds is a conflict.
func (x *executor) reserveEmail(ctx context.Context, m Meta, actorID, org, user, email string) error {
	mail, err := domain.NewEmail(email)
	if err != nil {
		return err
	}
	r := domain.NewEmailReservation(org, mail)
	recs, err := x.load(ctx, r)
	if err != nil {
		return err
	}
	if err := r.Reserve(org, user); err != nil {
		return err
	}
	if len(r.Changes()) == 0 {
		return nil
	}
	_, err = x.append(ctx, m, actorID, r, recs)
	return err
}
