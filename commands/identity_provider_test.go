package commands_test

import (
	"reflect"
	"testing"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
)

// TestIdentityProviders: an Admin configures an identity provider (recorded on the
// organisation's stream, a retry appends nothing), updates its MFA claims, is refused bad
// input with INVALID and nothing recorded, removes it, and gets NOT_FOUND for a pair the
// organisation does not have; a Creator is refused with an access-denied event.
func TestIdentityProviders(t *testing.T) {
	w := newWorld(t, false)
	ctx, a := w.ctx, w.app
	o := w.bootstrap("Org", "admin@org.example")
	stream := domain.StreamPrefixOrganization + o.id
	count := func() int {
		recs, _ := w.events(stream)
		return len(recs)
	}
	before := count()

	c := commands.ConfigureIdentityProvider{Meta: meta(o.admin), Issuer: w.idp.issuer(),
		Audience: "api://arkiv", AllowedAMR: []string{"mfa", "hwk"}, ProofToken: w.proof(o.admin, "api://arkiv")}
	first := must(a.ConfigureIdentityProvider.Handle(ctx, c))(t)
	if again := must(a.ConfigureIdentityProvider.Handle(ctx, c))(t); again != first || first.ID != o.id {
		t.Fatalf("retry %+v, first %+v, want the organisation's id", again, first)
	}
	c.Meta = meta(o.admin)
	must(a.ConfigureIdentityProvider.Handle(ctx, c))(t) // same configuration, new command: nothing to record
	if n := count(); n != before+2 {
		t.Fatalf("%d events after one configuration, want %d", n, before+2)
	}
	_, evs := w.events(stream)
	want := domain.IdentityProviderConfigured{OrganizationID: o.id, Issuer: c.Issuer, Audience: c.Audience,
		AllowedAMR: []string{"mfa", "hwk"}, AcceptedACR: []string{}}
	if !reflect.DeepEqual(evs[len(evs)-2], want) {
		t.Fatalf("recorded %#v, want %#v", evs[len(evs)-2], want)
	}
	if si, ok := evs[len(evs)-1].(domain.IdentityProviderSignInConfigured); !ok || si.ConfiguredBy != o.admin || si.JustInTime ||
		si.DisplayName != "Identity provider" {
		t.Fatalf("recorded %#v, want the sign-in settings (JIT off)", evs[len(evs)-1])
	}

	c.Meta, c.AllowedAMR, c.AcceptedACR = meta(o.admin), nil, []string{"urn:example:mfa"}
	must(a.ConfigureIdentityProvider.Handle(ctx, c))(t)
	for _, bad := range []commands.ConfigureIdentityProvider{
		{Issuer: "http://login.example.se/tenant-a", Audience: "api://arkiv"},
		{Issuer: "https://login.example.se/tenant-a", Audience: ""},
		{Issuer: "https://login.example.se/tenant-a", Audience: "x", AllowedAMR: []string{"mfa", "mfa"}},
	} {
		bad.Meta = meta(o.admin)
		if _, err := a.ConfigureIdentityProvider.Handle(ctx, bad); !domain.Is(domain.KindInvalid, err) {
			t.Errorf("%+v: want INVALID, got %v", bad, err)
		}
	}
	if n := count(); n != before+3 {
		t.Fatalf("%d events, want %d", n, before+3)
	}

	creator := w.user(o, domain.OrgRoleCreator)
	m := meta(creator)
	_, err := a.RemoveIdentityProvider.Handle(ctx, commands.RemoveIdentityProvider{Meta: m, Issuer: c.Issuer, Audience: c.Audience})
	w.expectDenied(domain.CmdRemoveIdentityProvider, o.id, creator, m, err, domain.ReasonRole)

	must(a.RemoveIdentityProvider.Handle(ctx, commands.RemoveIdentityProvider{Meta: meta(o.admin), Issuer: c.Issuer, Audience: c.Audience}))(t)
	_, evs = w.events(stream)
	if got := evs[len(evs)-1]; !reflect.DeepEqual(got, domain.IdentityProviderRemoved{OrganizationID: o.id, Issuer: c.Issuer, Audience: c.Audience}) {
		t.Fatalf("recorded %#v", got)
	}
	if _, err := a.RemoveIdentityProvider.Handle(ctx, commands.RemoveIdentityProvider{Meta: meta(o.admin), Issuer: c.Issuer, Audience: c.Audience}); !domain.Is(domain.KindNotFound, err) {
		t.Fatalf("removing twice: %v", err)
	}
}
