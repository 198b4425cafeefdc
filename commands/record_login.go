package commands

import (
	"context"
	"regexp"

	"github.com/arkiv/arkiv/domain"
)

// RecordLogin records the outcome of a local login in the organisation's access log
// (access.login_failed.v1 or access.login_succeeded.v1). Only the system actor runs it, on
// behalf of authentication: the person logging in is not authenticated yet (or not at all).
// It holds no login name and no address: the caller passes digests.
type RecordLogin struct {
	Meta
	OrganizationID string
	// UserID is the user who logged in; empty records a failed login.
	UserID string
	// LoginDigest is the hex HMAC-SHA-256 of the organisation and the normalised login.
	LoginDigest string
	// Reason is why the login failed (a lower-case token); empty for a success.
	Reason string
	// RemoteIPDigest is a keyed pseudonym of the client address (hex, optional).
	RemoteIPDigest string
}

var (
	hexDigest   = regexp.MustCompile(`^[0-9a-f]{32,128}$`)
	reasonToken = regexp.MustCompile(`^[a-z][a-z_]{0,39}$`)
)

// recordLogin runs RecordLogin; Result.ID is the organisation's id. An organisation that
// does not exist is NOT_FOUND and nothing is appended, so logins against made-up
// organisations do not create access logs.
func (x *executor) recordLogin(ctx context.Context, c RecordLogin) (Result, error) {
	const op = string(domain.CmdRecordLogin)
	if err := domain.ValidateID("organisation id", c.OrganizationID); err != nil {
		return Result{}, err
	}
	if !hexDigest.MatchString(c.LoginDigest) || (c.RemoteIPDigest != "" && !hexDigest.MatchString(c.RemoteIPDigest)) {
		return Result{}, domain.E(domain.KindInvalid, op, "digests must be lower-case hex")
	}
	if (c.UserID == "") == (c.Reason == "") {
		return Result{}, domain.E(domain.KindInvalid, op, "a login outcome has either a user (success) or a reason (failure)")
	}
	if c.UserID != "" {
		if err := domain.ValidateID("user id", c.UserID); err != nil {
			return Result{}, err
		}
	} else if !reasonToken.MatchString(c.Reason) {
		return Result{}, domain.E(domain.KindInvalid, op, "reason must be a lower-case token")
	}
	act, err := x.loadActor(ctx, c.Meta, domain.CmdRecordLogin)
	if err != nil {
		return Result{}, err
	}
	org := domain.NewOrganization(c.OrganizationID)
	if _, err := x.load(ctx, org); err != nil {
		return Result{}, err
	}
	if org.OrganizationID() == "" {
		return Result{}, domain.E(domain.KindNotFound, op, "organisation not found")
	}
	if act.system {
		act.org = org.OrganizationID()
	}
	if err := x.authorize(ctx, c.Meta, act, domain.CmdRecordLogin, org, nil); err != nil {
		return Result{}, err
	}
	now := x.d.Clock.Now().UTC()
	var ev domain.Event = domain.LoginFailed{OrganizationID: org.OrganizationID(), LoginDigest: c.LoginDigest,
		Reason: c.Reason, RemoteIPDigest: c.RemoteIPDigest, FailedAt: now}
	if c.UserID != "" {
		ev = domain.LoginSucceeded{OrganizationID: org.OrganizationID(), UserID: c.UserID, LoginDigest: c.LoginDigest,
			RemoteIPDigest: c.RemoteIPDigest, SucceededAt: now}
	}
	pos, err := x.appendAccess(ctx, c.Meta, act, ev, "")
	if err != nil {
		return Result{}, err
	}
	return Result{ID: org.ID(), Position: pos}, nil
}
