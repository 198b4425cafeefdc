package commands_test

import (
	"encoding/json"
	"testing"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
)

// TestDirectoryStaysInItsOrganisation: organisation A's provider maps a group to a space of
// organisation B; signing A's user in with that group changes nothing in B's space, and A's
// directory cannot apply its groups to B's user. Only the system actor runs the directory.
func TestDirectoryStaysInItsOrganisation(t *testing.T) {
	w := newWorld(t, false)
	ctx, a := w.ctx, w.app
	oa, ob := w.bootstrap("Org A", "admin@a.example"), w.bootstrap("Org B", "admin@b.example")
	spaceA, _ := w.space(oa)
	spaceB, _ := w.space(ob)
	const aud = "api://directory"
	must(a.ConfigureIdentityProvider.Handle(ctx, commands.ConfigureIdentityProvider{Meta: meta(oa.admin), Issuer: w.idp.issuer(),
		Audience: aud, ProofToken: w.proof(oa.admin, aud), GroupRoles: []domain.GroupRole{
			{Group: "g", SpaceID: spaceA, SpaceRole: domain.SpaceRoleEditor},
			{Group: "g", SpaceID: spaceB, SpaceRole: domain.SpaceRoleAdmin},
		}}))(t)
	ua, ub := w.user(oa, domain.OrgRoleUser), w.user(ob, domain.OrgRoleUser)
	bBefore, _ := w.events(domain.StreamPrefixSpace + spaceB)

	sign := commands.SignInWithIdentityProvider{Meta: meta(ua), OrganizationID: oa.id, Issuer: w.idp.issuer(), Audience: aud,
		Subject: "s-a", UserID: ua, Groups: []string{"g"}}
	if _, err := a.SignInWithIdentityProvider.Handle(ctx, sign); !domain.Is(domain.KindForbidden, err) {
		t.Fatalf("a user running the sign-in command: %v", err)
	}
	sign.Meta = meta(domain.SystemActor)
	if r := must(a.SignInWithIdentityProvider.Handle(ctx, sign))(t); r.ID != ua || r.Created {
		t.Fatalf("sign-in %+v", r)
	}
	_, evs := w.events(domain.StreamPrefixSpace + spaceA)
	if added, ok := evs[len(evs)-1].(domain.SpaceMemberAdded); !ok || added.UserID != ua || added.Role != domain.SpaceRoleEditor {
		t.Fatalf("A's space: last event %#v", evs[len(evs)-1])
	}
	if bAfter, _ := w.events(domain.StreamPrefixSpace + spaceB); len(bAfter) != len(bBefore) {
		t.Fatalf("A's directory changed B's space: %d events, had %d", len(bAfter), len(bBefore))
	}
	apply := commands.ApplyDirectoryGroups{Meta: meta(domain.SystemActor), OrganizationID: oa.id, Issuer: w.idp.issuer(), Audience: aud,
		UserID: ub, Groups: []string{"g"}}
	if _, err := a.ApplyDirectoryGroups.Handle(ctx, apply); !domain.Is(domain.KindNotFound, err) {
		t.Fatalf("A's directory on B's user: %v", err)
	}
	// Out of the group: A's space membership goes, as an event naming the provider.
	apply.Meta, apply.UserID, apply.Groups = meta(domain.SystemActor), ua, nil
	must(a.ApplyDirectoryGroups.Handle(ctx, apply))(t)
	recs, evs := w.events(domain.StreamPrefixSpace + spaceA)
	if removed, ok := evs[len(evs)-1].(domain.SpaceMemberRemoved); !ok || removed.UserID != ua {
		t.Fatalf("A's space: last event %#v", evs[len(evs)-1])
	}
	if md := metadataOf(t, recs[len(recs)-1]); md.Reason != commands.DirectoryReason(w.idp.issuer()) || md.Actor != domain.SystemActor {
		t.Fatalf("metadata %+v", md)
	}
	// JIT is off: an unknown person gets no user.
	sign.Meta, sign.UserID, sign.Subject, sign.Email = meta(domain.SystemActor), "", "s-new", "new@a.example"
	if _, err := a.SignInWithIdentityProvider.Handle(ctx, sign); !domain.Is(domain.KindNotFound, err) {
		t.Fatalf("an unknown person with JIT off: %v", err)
	}
}

func metadataOf(t *testing.T, r domain.Recorded) domain.Metadata {
	t.Helper()
	var md domain.Metadata
	if err := json.Unmarshal(r.Metadata, &md); err != nil {
		t.Fatal(err)
	}
	return md
}
