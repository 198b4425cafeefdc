package commands_test

import (
	"testing"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
)

// TestScimPushes: SCIM pushes run only as the system actor for a live token of the named
// organisation; a token of organisation A names nothing of B, a revoked one nothing at all;
// the secret is shown once, stored as its hash, and authenticates only its organisation.
func TestScimPushes(t *testing.T) {
	w := newWorld(t, true)
	a := w.bootstrap("Org SA", "admin@sa.example")
	b := w.bootstrap("Org SB", "admin@sb.example")
	tokA := must(w.app.CreateScimToken.Handle(w.ctx, commands.CreateScimToken{Meta: meta(a.admin), Name: "Entra"}))(t)
	tokB := must(w.app.CreateScimToken.Handle(w.ctx, commands.CreateScimToken{Meta: meta(b.admin), Name: "Okta"}))(t)
	if tokA.Secret == "" || domain.ScimTokenOrganization(tokA.Secret) != a.id {
		t.Fatalf("token of A = %+v", tokA)
	}
	_, evs := w.events(domain.StreamPrefixScim + a.id)
	if c, ok := evs[0].(domain.ScimTokenCreated); !ok || c.Hash != domain.HashAPIKey(tokA.Secret) || c.CreatedBy != a.admin {
		t.Fatalf("first event %#v", evs[0])
	}
	auth := must(w.app.AuthenticateScim(w.ctx, tokA.Secret))(t)
	if auth.OrganizationID != a.id || auth.TokenID != tokA.TokenID {
		t.Fatalf("AuthenticateScim = %+v", auth)
	}
	// A token of B pretending to be of A: the organisation part is A's, the hash is B's.
	forged := "arkivscim_" + a.id + tokB.Secret[len("arkivscim_")+36:]
	if _, err := w.app.AuthenticateScim(w.ctx, forged); !domain.Is(domain.KindUnauthenticated, err) {
		t.Fatalf("B's secret under A's organisation: %v", err)
	}

	sys := func() commands.Meta { return meta(domain.SystemActor) }
	put := func(m commands.Meta, org, tok string) error {
		_, err := w.app.ScimPutUser.Handle(w.ctx, commands.ScimPutUser{Meta: m,
			ScimTarget: commands.ScimTarget{OrganizationID: org, TokenID: tok}, UserName: "ada@sa.example", Active: true})
		return err
	}
	if err := put(meta(a.admin), a.id, tokA.TokenID); !domain.Is(domain.KindForbidden, err) {
		t.Fatalf("an Admin pushing: %v", err)
	}
	if err := put(sys(), b.id, tokA.TokenID); !domain.Is(domain.KindUnauthenticated, err) {
		t.Fatalf("A's token pushing into B: %v", err)
	}
	uid := must(w.app.ScimPutUser.Handle(w.ctx, commands.ScimPutUser{Meta: sys(),
		ScimTarget: commands.ScimTarget{OrganizationID: a.id, TokenID: tokA.TokenID}, UserName: "ada@sa.example", Active: true}))(t).ID
	// B's token cannot delete or deactivate A's user.
	if _, err := w.app.ScimDeleteUser.Handle(w.ctx, commands.ScimDeleteUser{Meta: sys(),
		ScimTarget: commands.ScimTarget{OrganizationID: b.id, TokenID: tokB.TokenID}, UserID: uid}); !domain.Is(domain.KindNotFound, err) {
		t.Fatalf("B deleting A's user: %v", err)
	}
	if _, err := w.app.ScimPutUser.Handle(w.ctx, commands.ScimPutUser{Meta: sys(),
		ScimTarget: commands.ScimTarget{OrganizationID: b.id, TokenID: tokB.TokenID}, UserID: uid, UserName: "ada@sa.example"}); !domain.Is(domain.KindNotFound, err) {
		t.Fatalf("B deactivating A's user: %v", err)
	}
	u := domain.NewUser(uid)
	_, uevs := w.events(u.Stream())
	if len(uevs) != 1 {
		t.Fatalf("A's user has %d events, want only the registration", len(uevs))
	}
	// Revoked: refused.
	must(w.app.RevokeScimToken.Handle(w.ctx, commands.RevokeScimToken{Meta: meta(a.admin), TokenID: tokA.TokenID}))(t)
	if _, err := w.app.AuthenticateScim(w.ctx, tokA.Secret); !domain.Is(domain.KindUnauthenticated, err) {
		t.Fatalf("revoked token: %v", err)
	}
	if err := put(sys(), a.id, tokA.TokenID); !domain.Is(domain.KindUnauthenticated, err) {
		t.Fatalf("revoked token pushing: %v", err)
	}
}
