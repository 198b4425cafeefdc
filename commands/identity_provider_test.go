package commands_test

import (
	"reflect"
	"testing"

	"github.com/google/uuid"

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

// TestBackfillReservations: a pair and an address recorded before reservation streams
// existed (simulated by appending the legacy events directly) are unreserved, so another
// organisation could claim the pair and a second user take the address; the backfill
// reserves both for their first holders, once, and afterwards both are refused.
func TestBackfillReservations(t *testing.T) {
	w := newWorld(t, false)
	ctx, a := w.ctx, w.app
	o := w.bootstrap("Org A", "admin@a.example")
	b := w.bootstrap("Org B", "admin@b.example")
	const aud = "api://legacy"
	must(a.ConfigureIdentityProvider.Handle(ctx, commands.ConfigureIdentityProvider{Meta: meta(o.admin), Issuer: w.idp.issuer(),
		Audience: aud, ProofToken: w.proof(o.admin, aud)}))(t)
	appendRaw := func(stream string, expected int64, e domain.Event) {
		t.Helper()
		id := uuid.NewString()
		data, err := w.codec.Encode(ctx, id, e)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.env.Store.Append(ctx, stream, expected, []domain.Proposed{{EventID: id, Type: e.EventName(), Data: data,
			Metadata: []byte(`{"actor":"system","organization":"` + o.id + `","commandId":"` + id + `","schemaVersion":1}`)}}); err != nil {
			t.Fatal(err)
		}
	}
	// The pair as it was before reservations: configured, but no stream holds it.
	claim := domain.NewIdentityProviderClaim(w.idp.issuer(), aud)
	recs, _ := w.events(claim.Stream())
	appendRaw(claim.Stream(), int64(len(recs)-1), domain.IdentityProviderReleased{OrganizationID: o.id, Issuer: w.idp.issuer(), Audience: aud})
	// A user registered before e-mail reservations.
	legacy := uuid.NewString()
	appendRaw(domain.StreamPrefixUser+legacy, domain.NoStream, domain.UserRegistered{UserID: legacy, OrganizationID: o.id,
		Email: domain.Seal("legacy@a.example", domain.UserSubject(legacy)), Name: domain.Seal("Legacy", domain.UserSubject(legacy)), Role: domain.OrgRoleUser})

	backfill := commands.BackfillReservations{OrganizationID: o.id, Pairs: [][2]string{{w.idp.issuer(), aud}}, UserIDs: []string{o.admin, legacy}}
	if _, err := a.BackfillReservations.Handle(ctx, commands.BackfillReservations{Meta: meta(o.admin), OrganizationID: o.id}); !domain.Is(domain.KindForbidden, err) {
		t.Fatalf("an Admin running the backfill: %v", err)
	}
	backfill.Meta = meta(domain.SystemActor)
	r := must(a.BackfillReservations.Handle(ctx, backfill))(t)
	if r.Pairs != 1 || r.Emails != 1 || r.Conflicts != 0 {
		t.Fatalf("backfill %+v, want the pair and the legacy address (the Admin's is reserved already)", r)
	}
	backfill.Meta = meta(domain.SystemActor)
	if again := must(a.BackfillReservations.Handle(ctx, backfill))(t); again != (commands.BackfillResult{}) {
		t.Fatalf("a second backfill %+v, want nothing", again)
	}
	if _, err := a.ConfigureIdentityProvider.Handle(ctx, commands.ConfigureIdentityProvider{Meta: meta(b.admin), Issuer: w.idp.issuer(),
		Audience: aud, ProofToken: w.proof(b.admin, aud)}); !domain.Is(domain.KindConflict, err) {
		t.Fatalf("B claiming the backfilled pair: %v", err)
	}
	if _, err := a.RegisterUser.Handle(ctx, commands.RegisterUser{Meta: meta(o.admin), Email: "Legacy@a.example", Name: "Second",
		Role: domain.OrgRoleUser}); !domain.Is(domain.KindConflict, err) {
		t.Fatalf("a second user with the legacy address: %v", err)
	}
}
