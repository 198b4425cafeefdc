package processmanagers_test

import (
	"context"
	"github.com/arkiv/arkiv/infra/clocktest"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/arkiv/arkiv/app/eventlog"
	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/esdbwatermill"
	"github.com/arkiv/arkiv/infra/eventstore/eventstoretest"
	"github.com/arkiv/arkiv/infra/keyring"
	"github.com/arkiv/arkiv/infra/pgtest"
	"github.com/arkiv/arkiv/infra/postgres"
	"github.com/arkiv/arkiv/projections/processmanagers"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
)

type uuids struct{}

func (uuids) NewID() string { return uuid.NewString() }

// world is a complete platform for one test: the embedded event store through the official
// client, the real keyring and codec, every command handler, and a read-model database.
type world struct {
	t      *testing.T
	ctx    context.Context
	env    *eventstoretest.Env
	clock  *clocktest.Clock
	kr     *keyring.Keyring
	codec  *keyring.EventCodec
	reg    *domain.Registry
	app    *commands.App
	pool   *pgxpool.Pool
	logger *slog.Logger
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	w := &world{t: t, ctx: ctx, env: eventstoretest.New(t), clock: &clocktest.Clock{}, reg: domain.NewRegistry(),
		logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := domain.RegisterEvents(w.reg); err != nil {
		t.Fatal(err)
	}
	kek, err := keyring.LoadOrCreateKEKFile(filepath.Join(t.TempDir(), "kek.json"))
	if err != nil {
		t.Fatal(err)
	}
	w.kr, err = keyring.Open(ctx, pgtest.NewPool(t), kek, w.clock, keyring.WithoutListener())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.kr.Close)
	w.codec = keyring.NewCodec(w.kr)
	w.app, err = commands.NewApp(commands.Deps{Store: w.env.Store, Codec: w.codec, Clock: w.clock, IDs: uuids{}, Events: w.reg}, w.logger)
	if err != nil {
		t.Fatal(err)
	}
	dsn := pgtest.NewDatabase(t)
	if err := postgres.Migrate(ctx, dsn); err != nil {
		t.Fatal(err)
	}
	w.pool, err = pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.pool.Close)
	return w
}

// manager is a running process manager; stop ends it and waits.
type manager struct {
	*processmanagers.Manager
	stop func()
}

func (w *world) start() *manager {
	w.t.Helper()
	m, err := processmanagers.New(processmanagers.Deps{Pool: w.pool,
		Log: eventlog.New(w.env.Store.Client(), esdbwatermill.Options{Logger: w.logger}), Keyring: w.kr,
		App: w.app, Clock: w.clock, Logger: w.logger, ErasureInterval: time.Hour, RetentionInterval: time.Hour})
	if err != nil {
		w.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(w.ctx)
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				w.t.Errorf("manager stopped with %v", err)
			}
		})
	}
	w.t.Cleanup(stop)
	return &manager{Manager: m, stop: stop}
}

func meta(actor string) commands.Meta {
	return commands.Meta{CommandID: uuid.NewString(), ActorID: actor}
}

func must[R any](r R, err error) func(testing.TB) R {
	return func(t testing.TB) R {
		t.Helper()
		if err != nil {
			t.Fatalf("%v (%s)", err, domain.KindOf(err))
		}
		return r
	}
}

// org is a bootstrapped organisation with one allow-listed model.
type org struct{ id, admin string }

func (w *world) bootstrap() org {
	w.t.Helper()
	id := uuid.NewString()
	b := must(w.app.Bootstrap.Handle(w.ctx, commands.Bootstrap{CommandID: uuid.NewString(),
		OrganizationName: "Region Norr", AdminEmail: "admin-" + id[:8] + "@norr.example", AdminName: "Admin"}))(w.t)
	s := domain.DefaultOrganizationSettings()
	s.Models = []domain.AllowedModel{{ID: "llm-a", Endpoint: "https://llm.example.se/v1", Region: domain.RegionSE, MaxClassification: domain.ClassRestricted}}
	must(w.app.ChangeOrganizationSettings.Handle(w.ctx, commands.ChangeOrganizationSettings{Meta: meta(b.AdminUserID), Settings: s}))(w.t)
	return org{id: b.OrganizationID, admin: b.AdminUserID}
}

// space creates a space administered by o.admin, with llm-a and an assistant keeping
// messages retentionDays days (0: the organisation's default) and logging model payloads.
func (w *world) space(o org, retentionDays int) (space, assistant string) {
	w.t.Helper()
	space = must(w.app.CreateSpace.Handle(w.ctx, commands.CreateSpace{Meta: meta(o.admin), Name: "Space", Classification: domain.ClassInternal}))(w.t).ID
	must(w.app.EnableSpaceModels.Handle(w.ctx, commands.EnableSpaceModels{Meta: meta(o.admin), SpaceID: space, Models: []domain.ModelID{"llm-a"}}))(w.t)
	assistant = must(w.app.CreateAssistant.Handle(w.ctx, commands.CreateAssistant{Meta: meta(o.admin), SpaceID: space,
		Spec: domain.AssistantSpec{Name: "Helper", Instructions: "Be brief.", Model: "llm-a", RetentionDays: retentionDays,
			LogModelPayloads: true}}))(w.t).ID
	return space, assistant
}

func (w *world) document(o org, space, text string) string {
	w.t.Helper()
	return must(w.app.IngestDocument.Handle(w.ctx, commands.IngestDocument{Meta: meta(o.admin), SpaceID: space,
		Title: "Policy", ContentType: "text/plain", Text: text}))(w.t).ID
}

// chat starts a conversation of o.admin with the assistant and sends one message.
func (w *world) chat(o org, assistant, text string) (conversation, message string) {
	w.t.Helper()
	conversation = must(w.app.StartConversation.Handle(w.ctx, commands.StartConversation{Meta: meta(o.admin), AssistantID: assistant}))(w.t).ID
	return conversation, w.say(o, conversation, text)
}

func (w *world) say(o org, conversation, text string) string {
	w.t.Helper()
	return must(w.app.SendMessage.Handle(w.ctx, commands.SendMessage{Meta: meta(o.admin), ConversationID: conversation, Text: text}))(w.t).ID
}

// invoke records a model call with logged payloads for a message.
func (w *world) invoke(o org, conversation, message, response string) string {
	w.t.Helper()
	return must(w.app.RecordModelInvocation.Handle(w.ctx, commands.RecordModelInvocation{Meta: meta(o.admin), ConversationID: conversation,
		Invocation: domain.ModelInvocation{MessageID: message, Model: "llm-a", Region: domain.RegionSE, RequestPayload: "{}",
			ResponsePayload: response, PromptTokens: 3, CompletionTokens: 2, LatencyMillis: 40, Outcome: domain.OutcomeOK}}))(w.t).ID
}

// response returns the decoded response payload of a model invocation.
func (w *world) response(conversation, invocation string) domain.Sealed {
	w.t.Helper()
	for _, e := range w.events(domain.StreamPrefixConversation + conversation) {
		if m, ok := e.(domain.ModelInvocationRecorded); ok && m.InvocationID == invocation {
			return m.ResponsePayload
		}
	}
	w.t.Fatalf("conversation %s has no invocation %s", conversation, invocation)
	return domain.Sealed{}
}

// events loads and decodes a stream with the keyring codec.
func (w *world) events(stream string) []domain.Event {
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
	return out
}

// title returns the decoded title of a document.
func (w *world) title(document string) domain.Sealed {
	w.t.Helper()
	for _, e := range w.events(domain.StreamPrefixDocument + document) {
		if d, ok := e.(domain.DocumentIngested); ok {
			return d.Title
		}
	}
	w.t.Fatalf("document %s has no ingested event", document)
	return domain.Sealed{}
}

// message returns the decoded text of a message of a conversation.
func (w *world) message(conversation, message string) domain.Sealed {
	w.t.Helper()
	for _, e := range w.events(domain.StreamPrefixConversation + conversation) {
		if m, ok := e.(domain.MessageSent); ok && m.MessageID == message {
			return m.Text
		}
	}
	w.t.Fatalf("conversation %s has no message %s", conversation, message)
	return domain.Sealed{}
}

// orgName returns the decoded name of an organisation.
func (w *world) orgName(o org) domain.Sealed {
	w.t.Helper()
	return w.events(domain.StreamPrefixOrganization + o.id)[0].(domain.OrganizationCreated).Name
}

// email returns the decoded e-mail address of a user.
func (w *world) email(user string) domain.Sealed {
	w.t.Helper()
	return w.events(domain.StreamPrefixUser + user)[0].(domain.UserRegistered).Email
}

// user registers a user of o.
func (w *world) user(o org) string {
	w.t.Helper()
	id := uuid.NewString()
	must(w.app.RegisterUser.Handle(w.ctx, commands.RegisterUser{Meta: meta(o.admin), UserID: id,
		Email: "u" + id[:8] + "@example.se", Name: "User", Role: domain.OrgRoleUser}))(w.t)
	return id
}

// erasureRow returns the manager's state and restore error of an erasure.
func (w *world) erasureRow(id string) (state, restoreError string) {
	w.t.Helper()
	if err := w.pool.QueryRow(w.ctx, `SELECT state, restore_error FROM pm_erasures WHERE erasure_id = $1`, id).Scan(&state, &restoreError); err != nil {
		return "", ""
	}
	return state, restoreError
}

// snapshot renders the managers' tables, for comparing states.
func (w *world) snapshot() string {
	w.t.Helper()
	var out string
	err := w.pool.QueryRow(w.ctx, `SELECT concat_ws(' | ',
		(SELECT string_agg(subject || '/' || kind || '/' || coalesce(space_id, ''), ',' ORDER BY subject) FROM pm_subjects),
		(SELECT string_agg(erasure_id || '/' || state || '/' || restore_error, ',' ORDER BY erasure_id) FROM pm_erasures),
		(SELECT string_agg(erasure_id || '/' || subject, ',' ORDER BY erasure_id, subject) FROM pm_erasure_targets),
		(SELECT string_agg(organization_id || '/' || message_retention_days || '/' || model_log_retention_days, ',') FROM pm_retention_orgs),
		(SELECT string_agg(assistant_id || '/' || retention_days, ',' ORDER BY assistant_id) FROM pm_retention_assistants),
		(SELECT string_agg(subject || '/' || coalesce(destroyed_at::text, ''), ',' ORDER BY subject) FROM pm_retention_buckets))`).Scan(&out)
	if err != nil {
		w.t.Fatal(err)
	}
	return out
}

// eventually polls cond until it holds or 15 s have passed.
func (w *world) eventually(what string, cond func() bool) {
	w.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			w.t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func redacted(s domain.Sealed) bool { return s.Redacted && s.Plain == "" }

// count returns how many events of a stream have the given type.
func (w *world) count(stream, typ string) int {
	w.t.Helper()
	recs, _, err := w.env.Store.Load(w.ctx, stream)
	if err != nil {
		w.t.Fatal(err)
	}
	n := 0
	for _, r := range recs {
		if r.Type == typ {
			n++
		}
	}
	return n
}
