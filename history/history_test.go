package history_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/arkiv/arkiv/app/apptest"
	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/history"
	"github.com/arkiv/arkiv/infra/auth"
	"github.com/arkiv/arkiv/infra/clocktest"
	"github.com/arkiv/arkiv/infra/keyring"
	"github.com/arkiv/arkiv/projections"
	"github.com/arkiv/arkiv/projections/engine"
	"github.com/arkiv/arkiv/readmodels"
)

type uuids struct{}

func (uuids) NewID() string { return uuid.NewString() }

// The fixed ids of the scripted history: spaces and users sort in this order.
const (
	S1 = "00000000-0000-4000-8000-000000000051"
	S2 = "00000000-0000-4000-8000-000000000052"
	U1 = "00000000-0000-4000-8000-0000000000b1"
	U2 = "00000000-0000-4000-8000-0000000000b2"
	U3 = "00000000-0000-4000-8000-0000000000b3"
	X1 = "00000000-0000-4000-8000-0000000000c1"
	E1 = "00000000-0000-4000-8000-0000000000e1"
)

// script is the 100-day life of one organisation, written through the commands on a clock
// moved forward day by day, so every event's business time is the day it belongs to.
type script struct {
	t     *testing.T
	f     *apptest.Fixture
	clock *clocktest.Clock
	app   *commands.App
	codec *keyring.EventCodec
	reg   *domain.Registry
	base  time.Time // day 0, 00:00 of the script
	org   string
	admin string
	// idp is the identity provider the script configures and removes.
	idp *idp
}

func newScript(t *testing.T) *script {
	f := apptest.NewFixture(t)
	s := &script{t: t, f: f, clock: &clocktest.Clock{}, codec: keyring.NewPlainCodec(), reg: domain.NewRegistry()}
	if err := domain.RegisterEvents(s.reg); err != nil {
		t.Fatal(err)
	}
	s.idp = newIDP(t)
	app, err := commands.NewApp(commands.Deps{Store: f.ES.Store, Codec: s.codec, Clock: s.clock, IDs: uuids{}, Events: s.reg,
		Proofs: proofs{auth.NewProofVerifier(nil, s.clock)}},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	s.app = app
	s.base = s.clock.Now().Truncate(24 * time.Hour).Add(24 * time.Hour)
	return s
}

// day moves the clock to 01:00 of day d.
func (s *script) day(d int) {
	s.clock.Advance(s.base.Add(time.Duration(d)*24*time.Hour + time.Hour).Sub(s.clock.Now()))
}

// noon is 12:00 of day d: the instants the answers are checked at.
func (s *script) noon(d int) time.Time {
	return s.base.Add(time.Duration(d)*24*time.Hour + 12*time.Hour)
}

func (s *script) meta() commands.Meta {
	return commands.Meta{CommandID: uuid.NewString(), ActorID: s.admin}
}

func do[C, R any](s *script, h commands.Handler[C, R], c C) {
	s.t.Helper()
	if _, err := h.Handle(s.f.Ctx, c); err != nil {
		s.t.Fatalf("%T: %v", c, err)
	}
}

var (
	modelSE = domain.AllowedModel{ID: "llm-se", Endpoint: "https://llm.example.se/v1", Region: domain.RegionSE, MaxClassification: domain.ClassRestricted}
	modelEU = domain.AllowedModel{ID: "llm-eu", Endpoint: "https://llm.example.eu/v1", Region: domain.RegionEU, MaxClassification: domain.ClassConfidential}
)

const audience = "api://arkiv"

// run writes the history: members added, roles changed, models enabled and disabled,
// settings changed, an identity provider configured and removed, a user deactivated, a user
// erased and a space deleted.
func (s *script) run() {
	settings := domain.DefaultOrganizationSettings()
	settings.Models = []domain.AllowedModel{modelSE}
	s.day(0)
	b, err := s.app.Bootstrap.Handle(s.f.Ctx, commands.Bootstrap{CommandID: uuid.NewString(), OrganizationName: "Kommun",
		AdminEmail: "admin@kommun.se", AdminName: "Admin", Settings: &settings})
	if err != nil {
		s.t.Fatal(err)
	}
	s.org, s.admin = b.OrganizationID, b.AdminUserID
	s.day(1)
	for _, u := range []struct {
		id   string
		role domain.OrgRole
	}{{U1, domain.OrgRoleUser}, {U2, domain.OrgRoleUser}, {U3, domain.OrgRoleCreator}} {
		do(s, s.app.RegisterUser, commands.RegisterUser{Meta: s.meta(), UserID: u.id, Email: u.id[34:] + "@kommun.se", Name: "User " + u.id[34:], Role: u.role})
	}
	s.day(2)
	do(s, s.app.CreateSpace, commands.CreateSpace{Meta: s.meta(), SpaceID: S1, Name: "Socialtjänst", Classification: domain.ClassInternal})
	do(s, s.app.AddSpaceMember, commands.AddSpaceMember{Meta: s.meta(), SpaceID: S1, UserID: U1, Role: domain.SpaceRoleViewer})
	s.day(5)
	do(s, s.app.AddSpaceMember, commands.AddSpaceMember{Meta: s.meta(), SpaceID: S1, UserID: U2, Role: domain.SpaceRoleEditor})
	s.day(10)
	settings.Models = []domain.AllowedModel{modelSE, modelEU}
	settings.Password.MinLength = 14
	do(s, s.app.ChangeOrganizationSettings, commands.ChangeOrganizationSettings{Meta: s.meta(), Settings: settings})
	s.day(12)
	do(s, s.app.EnableSpaceModels, commands.EnableSpaceModels{Meta: s.meta(), SpaceID: S1, Models: []domain.ModelID{"llm-se", "llm-eu"}})
	s.day(15)
	do(s, s.app.ChangeSpaceMemberRole, commands.ChangeSpaceMemberRole{Meta: s.meta(), SpaceID: S1, UserID: U1, Role: domain.SpaceRoleEditor})
	s.day(20)
	do(s, s.app.CreateSpace, commands.CreateSpace{Meta: s.meta(), SpaceID: S2, Name: "Skola", Classification: domain.ClassConfidential})
	do(s, s.app.AddSpaceMember, commands.AddSpaceMember{Meta: s.meta(), SpaceID: S2, UserID: U1, Role: domain.SpaceRoleViewer})
	do(s, s.app.AddSpaceMember, commands.AddSpaceMember{Meta: s.meta(), SpaceID: S2, UserID: U3, Role: domain.SpaceRoleAdmin})
	s.day(25)
	do(s, s.app.CreateAssistant, commands.CreateAssistant{Meta: s.meta(), AssistantID: X1, SpaceID: S1,
		Spec: domain.AssistantSpec{Name: "Hjälp", Model: "llm-se", RetentionDays: 30}})
	s.day(30)
	do(s, s.app.ConfigureIdentityProvider, commands.ConfigureIdentityProvider{Meta: s.meta(), Issuer: s.idp.srv.URL, Audience: audience,
		ProofToken: s.idp.proof(s.t, s.admin, audience, s.clock.Now())})
	s.day(40)
	do(s, s.app.UpdateAssistant, commands.UpdateAssistant{Meta: s.meta(), AssistantID: X1,
		Spec: domain.AssistantSpec{Name: "Hjälp", Model: "llm-eu", RetentionDays: 60, LogModelPayloads: true}})
	s.day(45)
	do(s, s.app.EnableSpaceModels, commands.EnableSpaceModels{Meta: s.meta(), SpaceID: S1, Models: []domain.ModelID{"llm-eu"}})
	s.day(50)
	do(s, s.app.RemoveSpaceMember, commands.RemoveSpaceMember{Meta: s.meta(), SpaceID: S1, UserID: U2})
	s.day(55)
	settings.MFARequired = false
	settings.DefaultMessageRetentionDays = 180
	do(s, s.app.ChangeOrganizationSettings, commands.ChangeOrganizationSettings{Meta: s.meta(), Settings: settings})
	s.day(60)
	do(s, s.app.DeactivateUser, commands.DeactivateUser{Meta: s.meta(), UserID: U3})
	s.day(70)
	grace := 14
	do(s, s.app.RequestErasure, commands.RequestErasure{Meta: s.meta(), ErasureID: E1, SubjectType: domain.SubjectUser, SubjectID: U1, GraceDays: &grace})
	s.day(85)
	do(s, s.app.CompleteErasure, commands.CompleteErasure{Meta: commands.Meta{CommandID: uuid.NewString(), ActorID: domain.SystemActor}, ErasureID: E1})
	s.day(90)
	do(s, s.app.DeleteSpace, commands.DeleteSpace{Meta: s.meta(), SpaceID: S2})
	s.day(95)
	do(s, s.app.RemoveIdentityProvider, commands.RemoveIdentityProvider{Meta: s.meta(), Issuer: s.idp.srv.URL, Audience: audience})
	s.day(100)
}

// answers are every as-of answer the test looks at, at one instant.
type answers struct {
	Who      map[string][]history.Access
	Of       map[string][]history.Access
	Settings history.Settings
	Spaces   map[string]*history.Space
	X1       *history.Assistant
}

func (s *script) answers(st *history.State) answers {
	a := answers{Who: map[string][]history.Access{}, Of: map[string][]history.Access{}, Spaces: map[string]*history.Space{},
		Settings: st.Settings(), X1: st.Assistant(X1)}
	for _, sp := range []string{S1, S2} {
		a.Who[sp], a.Spaces[sp] = st.WhoCanAccess(sp), st.Space(sp)
	}
	for _, u := range []string{s.admin, U1, U2, U3} {
		a.Of[u] = st.AccessOf(u)
	}
	return a
}

func acc(space, user string, role domain.SpaceRole) history.Access {
	return history.Access{SpaceID: space, UserID: user, Role: role}
}

// accs is an expected answer, in the answers' order: by space, then user.
func accs(as ...history.Access) []history.Access {
	sort.Slice(as, func(i, j int) bool {
		if as[i].SpaceID != as[j].SpaceID {
			return as[i].SpaceID < as[j].SpaceID
		}
		return as[i].UserID < as[j].UserID
	})
	return as
}

func models(ids ...domain.ModelID) []domain.ModelID { return append([]domain.ModelID{}, ids...) }

// check is one hand-written expectation at noon of a day.
type check struct {
	day  int
	what string
	test func(a answers) bool
}

func TestAsOfAnswersOverAHundredDays(t *testing.T) {
	s := newScript(t)
	s.run()
	A := func() string { return s.admin }
	none := []history.Access{}
	checks := []check{
		{-1, "no organisation before day 0", func(a answers) bool { return !a.Settings.Exists && len(a.Of[A()]) == 0 }},
		{0, "created with one model, EU only, MFA required", func(a answers) bool {
			return a.Settings.Exists && reflect.DeepEqual(a.Settings.Settings.Models, []domain.AllowedModel{modelSE}) &&
				a.Settings.Settings.EUOnly && a.Settings.Settings.MFARequired && a.Spaces[S1] == nil &&
				reflect.DeepEqual(a.Who[S1], none)
		}},
		{2, "S1 created: its creator and a viewer", func(a answers) bool {
			return reflect.DeepEqual(a.Who[S1], accs(acc(S1, A(), domain.SpaceRoleAdmin), acc(S1, U1, domain.SpaceRoleViewer))) &&
				a.Spaces[S1].Classification == domain.ClassInternal && len(a.Spaces[S1].Models) == 0
		}},
		{5, "an editor added", func(a answers) bool {
			return reflect.DeepEqual(a.Who[S1], accs(acc(S1, A(), domain.SpaceRoleAdmin), acc(S1, U1, domain.SpaceRoleViewer),
				acc(S1, U2, domain.SpaceRoleEditor)))
		}},
		{10, "a second model allowed, longer passwords", func(a answers) bool {
			return reflect.DeepEqual(a.Settings.Settings.Models, []domain.AllowedModel{modelSE, modelEU}) &&
				a.Settings.Settings.Password.MinLength == 14 && len(a.Spaces[S1].Models) == 0
		}},
		{12, "both models enabled in S1", func(a answers) bool {
			return reflect.DeepEqual(a.Spaces[S1].Models, models("llm-eu", "llm-se"))
		}},
		{15, "U1 promoted to editor", func(a answers) bool {
			return reflect.DeepEqual(a.Of[U1], accs(acc(S1, U1, domain.SpaceRoleEditor)))
		}},
		{20, "S2 created with U1 and U3", func(a answers) bool {
			return reflect.DeepEqual(a.Of[U1], accs(acc(S1, U1, domain.SpaceRoleEditor), acc(S2, U1, domain.SpaceRoleViewer))) &&
				reflect.DeepEqual(a.Who[S2], accs(acc(S2, A(), domain.SpaceRoleAdmin), acc(S2, U1, domain.SpaceRoleViewer),
					acc(S2, U3, domain.SpaceRoleAdmin))) && a.X1 == nil
		}},
		{25, "the assistant on llm-se, 30 days, no payload logging", func(a answers) bool {
			return a.X1 != nil && a.X1.Model == "llm-se" && a.X1.RetentionDays == 30 && !a.X1.LogModelPayloads &&
				len(a.Settings.IdentityProviders) == 0
		}},
		{30, "an identity provider configured", func(a answers) bool {
			return len(a.Settings.IdentityProviders) == 1 && a.Settings.IdentityProviders[0].Issuer == s.idp.srv.URL
		}},
		{40, "the assistant moved to llm-eu, 60 days, logging payloads", func(a answers) bool {
			return a.X1.Model == "llm-eu" && a.X1.RetentionDays == 60 && a.X1.LogModelPayloads &&
				reflect.DeepEqual(a.Spaces[S1].Models, models("llm-eu", "llm-se"))
		}},
		{45, "llm-se disabled in S1", func(a answers) bool { return reflect.DeepEqual(a.Spaces[S1].Models, models("llm-eu")) }},
		{50, "U2 removed from S1", func(a answers) bool {
			return reflect.DeepEqual(a.Who[S1], accs(acc(S1, A(), domain.SpaceRoleAdmin), acc(S1, U1, domain.SpaceRoleEditor))) &&
				reflect.DeepEqual(a.Of[U2], none) && a.Settings.Settings.MFARequired
		}},
		{55, "MFA no longer required, 180 days of messages", func(a answers) bool {
			return !a.Settings.Settings.MFARequired && a.Settings.Settings.DefaultMessageRetentionDays == 180
		}},
		{60, "U3 deactivated: a member of S2 without access", func(a answers) bool {
			return reflect.DeepEqual(a.Who[S2], accs(acc(S2, A(), domain.SpaceRoleAdmin), acc(S2, U1, domain.SpaceRoleViewer))) &&
				reflect.DeepEqual(a.Of[U3], none) && len(a.Spaces[S2].Members) == 3
		}},
		{70, "U1's erasure requested: hidden at once", func(a answers) bool {
			return reflect.DeepEqual(a.Who[S1], accs(acc(S1, A(), domain.SpaceRoleAdmin))) &&
				reflect.DeepEqual(a.Of[U1], none) && len(a.Spaces[S2].Members) == 2
		}},
		{85, "U1 erased for good", func(a answers) bool {
			return reflect.DeepEqual(a.Of[U1], none) && reflect.DeepEqual(a.Who[S2], accs(acc(S2, A(), domain.SpaceRoleAdmin)))
		}},
		{90, "S2 deleted", func(a answers) bool {
			return a.Spaces[S2] == nil && reflect.DeepEqual(a.Of[A()], accs(acc(S1, A(), domain.SpaceRoleAdmin))) &&
				len(a.Settings.IdentityProviders) == 1
		}},
		{95, "the identity provider removed", func(a answers) bool {
			return len(a.Settings.IdentityProviders) == 0 && a.X1 != nil
		}},
	}
	rep, err := history.NewReplayer(s.f.ES.Store, s.codec, s.reg)
	if err != nil {
		t.Fatal(err)
	}
	asOf := func(d int) answers {
		t.Helper()
		st, err := rep.At(s.f.Ctx, s.org, s.noon(d))
		if err != nil {
			t.Fatal(err)
		}
		return s.answers(st)
	}
	before := map[int]string{}
	for _, c := range checks {
		a := asOf(c.day)
		if !c.test(a) {
			j, _ := json.MarshalIndent(a, "", " ")
			t.Errorf("day %d: %s: got\n%s", c.day, c.what, j)
		}
		// The cache agrees with the fold read straight from the log.
		st, err := history.Fold(s.f.Ctx, s.f.ES.Store, s.codec, s.reg, s.org, s.noon(c.day))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := mustJSON(t, s.answers(st)), mustJSON(t, a); got != want {
			t.Errorf("day %d: Fold = %s, Replayer = %s", c.day, got, want)
		}
		before[c.day] = mustJSON(t, a)
	}

	// Now is the read models' present: project, rebuild every projection, and both agree
	// with the fold at now; the answers of the past are what they were.
	r := s.f.Runner([]engine.Projection{projections.NewReadModel(s.f.ES.Store)})
	s.f.Run(r)
	s.f.WaitHead(projections.NameReadModel)
	reads := readmodels.New(s.f.Pool, s.codec)
	compareNow := func(when string) {
		t.Helper()
		now := asOf(100)
		for _, sp := range []string{S1, S2} {
			rm, err := reads.AccessToSpace(s.f.Ctx, s.org, sp)
			if err != nil {
				t.Fatal(err)
			}
			if got := fromReadModel(rm); !reflect.DeepEqual(got, now.Who[sp]) {
				t.Errorf("%s: whoCanAccess(%s): read model %v, fold %v", when, sp, got, now.Who[sp])
			}
		}
		for _, u := range []string{s.admin, U1, U2, U3} {
			rm, err := reads.AccessOfUser(s.f.Ctx, s.org, u)
			if err != nil {
				t.Fatal(err)
			}
			if got := fromReadModel(rm); !reflect.DeepEqual(got, now.Of[u]) {
				t.Errorf("%s: accessOf(%s): read model %v, fold %v", when, u, got, now.Of[u])
			}
		}
	}
	compareNow("projected")
	if err := r.RebuildAll(s.f.Ctx, nil); err != nil {
		t.Fatal(err)
	}
	compareNow("rebuilt")
	for _, c := range checks {
		if mustJSON(t, asOf(c.day)) != before[c.day] {
			t.Errorf("day %d: the answer changed after the rebuild", c.day)
		}
	}
}

func fromReadModel(rm []readmodels.Access) []history.Access {
	out := []history.Access{}
	for _, a := range rm {
		out = append(out, history.Access{SpaceID: a.SpaceID, UserID: a.UserID, Role: a.Role})
	}
	return out
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	j, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(j)
}
