package commands_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/auth"
	"github.com/arkiv/arkiv/infra/clocktest"
	"github.com/arkiv/arkiv/infra/eventstore/eventstoretest"
	"github.com/arkiv/arkiv/infra/keyring"
	"github.com/arkiv/arkiv/infra/pgtest"
	"github.com/google/uuid"
)

// world is a complete write side for one test: the embedded event store through the
// official client, the real keyring (or its plaintext codec) and every handler.
type world struct {
	t     *testing.T
	ctx   context.Context
	env   *eventstoretest.Env
	codec commands.Codec
	reg   *domain.Registry
	clock *clocktest.Clock
	deps  commands.Deps
	app   *commands.App
	// idp issues proof-of-control tokens (w.proof).
	idp *proofIdP
}

// proof returns a proof-of-control token the world's identity provider issued to user for
// audience.
func (w *world) proof(user, audience string) string { return w.idp.token(w.t, user, audience) }

type uuids struct{}

func (uuids) NewID() string { return uuid.NewString() }

func newWorld(t *testing.T, encrypt bool) *world {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	w := &world{t: t, ctx: ctx, env: eventstoretest.New(t), clock: &clocktest.Clock{}, reg: domain.NewRegistry()}
	if err := domain.RegisterEvents(w.reg); err != nil {
		t.Fatal(err)
	}
	if encrypt {
		kek, err := keyring.LoadOrCreateKEKFile(filepath.Join(t.TempDir(), "kek.json"))
		if err != nil {
			t.Fatal(err)
		}
		k, err := keyring.Open(ctx, pgtest.NewPool(t), kek, w.clock, keyring.WithoutListener())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(k.Close)
		w.codec = keyring.NewCodec(k)
	} else {
		w.codec = keyring.NewPlainCodec()
	}
	w.idp = startProofIdP(t)
	w.deps = commands.Deps{Store: w.env.Store, Codec: w.codec, Clock: w.clock, IDs: uuids{}, Events: w.reg,
		Proofs: proofs{auth.NewProofVerifier(nil, w.clock)}}
	app, err := commands.NewApp(w.deps, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	w.app = app
	return w
}

func meta(actor string) commands.Meta {
	return commands.Meta{CommandID: uuid.NewString(), ActorID: actor}
}

// must turns a result and an error into a function that fails t on the error:
// must(h.Handle(ctx, c))(t).
func must[R any](r R, err error) func(testing.TB) R {
	return func(t testing.TB) R {
		t.Helper()
		if err != nil {
			t.Fatalf("%v (%s)", err, domain.KindOf(err))
		}
		return r
	}
}

// org is a bootstrapped organisation with two allow-listed models.
type org struct {
	id, admin, key string
}

func (w *world) bootstrap(name, email string) org {
	w.t.Helper()
	b := must(w.app.Bootstrap.Handle(w.ctx, commands.Bootstrap{CommandID: uuid.NewString(),
		OrganizationName: name, AdminEmail: email, AdminName: "Admin " + name}))(w.t)
	s := domain.DefaultOrganizationSettings()
	s.Models = []domain.AllowedModel{
		{ID: "llm-a", Endpoint: "https://llm.example.se/v1", Region: domain.RegionSE, MaxClassification: domain.ClassRestricted},
		{ID: "llm-b", Endpoint: "https://llm.example.eu/v1", Region: domain.RegionEU, MaxClassification: domain.ClassConfidential},
	}
	must(w.app.ChangeOrganizationSettings.Handle(w.ctx, commands.ChangeOrganizationSettings{Meta: meta(b.AdminUserID), Settings: s}))(w.t)
	return org{id: b.OrganizationID, admin: b.AdminUserID, key: b.APIKey}
}

func (w *world) user(o org, role domain.OrgRole) string {
	w.t.Helper()
	id := uuid.NewString()
	must(w.app.RegisterUser.Handle(w.ctx, commands.RegisterUser{Meta: meta(o.admin), UserID: id,
		Email: "u" + id[:8] + "@example.se", Name: "User " + id[:8], Role: role}))(w.t)
	return id
}

// space creates a space (admin is its Space Admin) with llm-a enabled and an assistant.
func (w *world) space(o org) (space, assistant string) {
	w.t.Helper()
	space = must(w.app.CreateSpace.Handle(w.ctx, commands.CreateSpace{Meta: meta(o.admin), Name: "Space", Classification: domain.ClassInternal}))(w.t).ID
	must(w.app.EnableSpaceModels.Handle(w.ctx, commands.EnableSpaceModels{Meta: meta(o.admin), SpaceID: space, Models: []domain.ModelID{"llm-a"}}))(w.t)
	assistant = must(w.app.CreateAssistant.Handle(w.ctx, commands.CreateAssistant{Meta: meta(o.admin), SpaceID: space,
		Spec: domain.AssistantSpec{Name: "Helper", Instructions: "Be brief.", Model: "llm-a", LogModelPayloads: true}}))(w.t).ID
	return space, assistant
}

// events loads and decodes a stream.
func (w *world) events(stream string) ([]domain.Recorded, []domain.Event) {
	w.t.Helper()
	recs, _, err := w.env.Store.Load(w.ctx, stream)
	if err != nil {
		w.t.Fatal(err)
	}
	out := make([]domain.Event, len(recs))
	for i, r := range recs {
		p, err := w.reg.New(r.Type)
		if err != nil {
			w.t.Fatal(err)
		}
		if err := w.codec.Decode(w.ctx, r.EventID, r.Data, p); err != nil {
			w.t.Fatalf("decode %s: %v", r.Type, err)
		}
		out[i] = must(domain.Deref(p))(w.t)
	}
	return recs, out
}

// denial finds the access.denied event the command appended to an organisation's log.
func (w *world) denial(orgID, commandID string) (domain.AccessDenied, bool) {
	w.t.Helper()
	recs, evs := w.events(domain.AccessStream(orgID))
	for i := len(recs) - 1; i >= 0; i-- {
		var m domain.Metadata
		if err := json.Unmarshal(recs[i].Metadata, &m); err != nil {
			w.t.Fatal(err)
		}
		if d, ok := evs[i].(domain.AccessDenied); ok && m.CommandID == commandID {
			return d, true
		}
	}
	return domain.AccessDenied{}, false
}
