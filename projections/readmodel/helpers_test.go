package readmodel_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/esdbwatermill"
	"github.com/arkiv/arkiv/infra/eventstore/eventstoretest"
	"github.com/arkiv/arkiv/infra/keyring"
	"github.com/arkiv/arkiv/infra/pgtest"
	"github.com/arkiv/arkiv/infra/postgres"
	"github.com/arkiv/arkiv/projections"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// fixture is one test's world: its own embedded event store and read-model database.
type fixture struct {
	t     *testing.T
	ctx   context.Context
	es    *eventstoretest.Env
	pool  *pgxpool.Pool
	pgURL string
	log   *esdbwatermill.Log
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	f := &fixture{t: t, ctx: ctx, es: eventstoretest.New(t), pgURL: pgtest.NewDatabase(t)}
	if err := postgres.Migrate(ctx, f.pgURL); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, f.pgURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	f.pool = pool
	f.log = esdbwatermill.NewLog(f.es.Store.Client(), esdbwatermill.Options{Logger: quiet})
	return f
}

// runner returns a runner over ps with a short batch wait.
func (f *fixture) runner(ps []projections.Projection) *projections.Runner {
	f.t.Helper()
	r, err := projections.NewRunner(projections.Config{Pool: f.pool, Log: f.log, Projections: ps, Logger: quiet,
		BatchWait: 5 * time.Millisecond, RetryInitial: 10 * time.Millisecond})
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

// run runs r until the test ends.
func (f *fixture) run(r *projections.Runner) {
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	f.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			f.t.Errorf("runner: %v", err)
		}
	})
}

// waitHead waits until the named projections have passed the head of the log.
func (f *fixture) waitHead(names ...string) {
	f.t.Helper()
	head, err := f.log.Head(f.ctx)
	if err != nil || head == nil {
		f.t.Fatalf("head: %v %v", head, err)
	}
	w := projections.NewWaiter(f.pool, quiet)
	defer w.Close()
	if err := w.WaitFor(f.ctx, names, head.Commit, 30*time.Second); err != nil {
		f.t.Fatal(err)
	}
}

// dump returns every row of tables as sorted JSON lines, table by table.
func dump(t *testing.T, ctx context.Context, pool *pgxpool.Pool, tables []string) string {
	t.Helper()
	var b strings.Builder
	for _, tb := range tables {
		fmt.Fprintf(&b, "== %s\n", tb)
		rows, err := pool.Query(ctx, `SELECT row_to_json(t)::text AS j FROM `+tb+` t ORDER BY j`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			b.WriteString(s)
			b.WriteByte('\n')
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

// script appends hand-written events with fixed ids and times, so that what the projections
// make of them is the same on every run.
type script struct {
	t     *testing.T
	ctx   context.Context
	f     *fixture
	codec *keyring.EventCodec
	n     int
	revs  map[string]int64
	base  time.Time
}

var scriptNS = uuid.MustParse("0d7c3a52-95e4-4b6f-8d43-3f0f6f3f7a11")

func newScript(f *fixture, codec *keyring.EventCodec) *script {
	return &script{t: f.t, ctx: f.ctx, f: f, codec: codec, revs: map[string]int64{},
		base: time.Date(2026, 3, 3, 9, 0, 0, 0, time.UTC)}
}

// emit appends evs to stream, as actor, in org (and space).
func (s *script) emit(stream, actor, org, space string, evs ...domain.Event) uint64 {
	s.t.Helper()
	var proposed []domain.Proposed
	for _, e := range evs {
		s.n++
		id := uuid.NewSHA1(scriptNS, []byte(fmt.Sprint(s.n))).String()
		data, err := s.codec.Encode(s.ctx, id, e)
		if err != nil {
			s.t.Fatal(err)
		}
		md, err := json.Marshal(domain.Metadata{Actor: actor, Organization: org, Space: space, CommandID: id,
			SchemaVersion: 1, OccurredAt: s.base.Add(time.Duration(s.n) * time.Minute)})
		if err != nil {
			s.t.Fatal(err)
		}
		proposed = append(proposed, domain.Proposed{EventID: id, Type: e.EventName(), Data: data, Metadata: md})
	}
	rev, ok := s.revs[stream]
	if !ok {
		rev = domain.NoStream
	}
	p, err := s.f.es.Store.Append(s.ctx, stream, rev, proposed)
	if err != nil {
		s.t.Fatal(err)
	}
	s.revs[stream] = rev + int64(len(evs))
	return p
}

// fixed ids of the scripted world.
const (
	orgA      = "00000000-0000-4000-8000-00000000000a"
	orgB      = "00000000-0000-4000-8000-00000000000b"
	adminA    = "00000000-0000-4000-8000-0000000000a1"
	userA     = "00000000-0000-4000-8000-0000000000a2"
	userA3    = "00000000-0000-4000-8000-0000000000a3"
	adminB    = "00000000-0000-4000-8000-0000000000b1"
	spaceA    = "00000000-0000-4000-8000-00000000005a"
	spaceA2   = "00000000-0000-4000-8000-00000000005b"
	spaceB    = "00000000-0000-4000-8000-00000000005c"
	assistA   = "00000000-0000-4000-8000-0000000000c1"
	assistA2  = "00000000-0000-4000-8000-0000000000c2"
	docA      = "00000000-0000-4000-8000-0000000000d1"
	docA2     = "00000000-0000-4000-8000-0000000000d2"
	docB      = "00000000-0000-4000-8000-0000000000d3"
	convA     = "00000000-0000-4000-8000-0000000000e1"
	msgA1     = "00000000-0000-4000-8000-0000000000f1"
	msgA2     = "00000000-0000-4000-8000-0000000000f2"
	keyA      = "00000000-0000-4000-8000-000000000101"
	keyA2     = "00000000-0000-4000-8000-000000000102"
	erasure1  = "00000000-0000-4000-8000-000000000201"
	erasure2  = "00000000-0000-4000-8000-000000000202"
	erasure3  = "00000000-0000-4000-8000-000000000203"
	hashOfKey = "3b5d5c3712955042212316173ccf37be800b2e2f6e1c3e5e8b9e7c6d4a1f0e2d"
)

// world appends a small organisation's life: users, spaces, members, assistants, documents,
// a conversation, API keys, denials and an erasure cycle of a document and of a user.
func (s *script) world() {
	t0 := s.base
	settings := domain.DefaultOrganizationSettings()
	settings.Models = []domain.AllowedModel{{ID: "llm-a", Endpoint: "https://llm.example.se/v1", Region: domain.RegionSE, MaxClassification: domain.ClassRestricted}}
	for _, o := range []struct{ id, admin, name string }{{orgA, adminA, "Kommun A"}, {orgB, adminB, "Kommun B"}} {
		s.emit("org-"+o.id, o.admin, o.id, "", domain.OrganizationCreated{OrganizationID: o.id,
			Name: domain.Seal(o.name, domain.OrganizationSubject(o.id)), Settings: domain.DefaultOrganizationSettings()})
		s.emit("user-"+o.admin, o.admin, o.id, "", domain.UserRegistered{UserID: o.admin, OrganizationID: o.id,
			Email: domain.Seal("admin@"+o.id[len(o.id)-2:]+".se", domain.UserSubject(o.admin)),
			Name:  domain.Seal("Admin "+o.name, domain.UserSubject(o.admin)), Role: domain.OrgRoleAdmin})
	}
	s.emit("org-"+orgA, adminA, orgA, "", domain.OrganizationSettingsChanged{OrganizationID: orgA, Settings: settings})
	for _, u := range []string{userA, userA3} {
		s.emit("user-"+u, adminA, orgA, "", domain.UserRegistered{UserID: u, OrganizationID: orgA,
			Email: domain.Seal(u[len(u)-2:]+"@a.se", domain.UserSubject(u)), Name: domain.Seal("User "+u[len(u)-2:], domain.UserSubject(u)),
			Role: domain.OrgRoleUser})
	}
	s.emit("user-"+userA3, adminA, orgA, "", domain.UserRoleChanged{UserID: userA3, Role: domain.OrgRoleCreator})
	for _, sp := range []struct{ id, org, admin string }{{spaceA, orgA, adminA}, {spaceA2, orgA, adminA}, {spaceB, orgB, adminB}} {
		s.emit("space-"+sp.id, sp.admin, sp.org, sp.id,
			domain.SpaceCreated{SpaceID: sp.id, OrganizationID: sp.org, Name: domain.Seal("Space "+sp.id[len(sp.id)-2:], domain.SpaceSubject(sp.id)),
				Classification: domain.ClassInternal, CreatedBy: sp.admin},
			domain.SpaceMemberAdded{SpaceID: sp.id, UserID: sp.admin, Role: domain.SpaceRoleAdmin})
	}
	s.emit("space-"+spaceA, adminA, orgA, spaceA,
		domain.SpaceMemberAdded{SpaceID: spaceA, UserID: userA, Role: domain.SpaceRoleViewer},
		domain.SpaceMemberAdded{SpaceID: spaceA, UserID: userA3, Role: domain.SpaceRoleViewer},
		domain.SpaceMemberRoleChanged{SpaceID: spaceA, UserID: userA3, Role: domain.SpaceRoleEditor},
		domain.SpaceModelsEnabled{SpaceID: spaceA, Models: []domain.ModelID{"llm-a"}})
	s.emit("space-"+spaceA2, adminA, orgA, spaceA2, domain.SpaceMemberAdded{SpaceID: spaceA2, UserID: userA, Role: domain.SpaceRoleViewer})
	s.emit("space-"+spaceA2, adminA, orgA, spaceA2, domain.SpaceMemberRemoved{SpaceID: spaceA2, UserID: userA})
	sub := domain.SpaceSubject(spaceA)
	s.emit("assistant-"+assistA, adminA, orgA, spaceA, domain.AssistantCreated{AssistantID: assistA, OrganizationID: orgA, SpaceID: spaceA,
		Name: domain.Seal("Helper", sub), Instructions: domain.Seal("Be brief.", sub), Model: "llm-a", RetentionDays: 30})
	s.emit("assistant-"+assistA, adminA, orgA, spaceA, domain.AssistantUpdated{AssistantID: assistA,
		Name: domain.Seal("Helper 2", sub), Instructions: domain.Seal("Be briefer.", sub), Model: "llm-a", RetentionDays: 60, LogModelPayloads: true})
	s.emit("assistant-"+assistA2, adminA, orgA, spaceA, domain.AssistantCreated{AssistantID: assistA2, OrganizationID: orgA, SpaceID: spaceA,
		Name: domain.Seal("Gone", sub), Instructions: domain.Seal("", sub), Model: "llm-a"})
	s.emit("assistant-"+assistA2, adminA, orgA, spaceA, domain.AssistantDeleted{AssistantID: assistA2})
	for _, d := range []struct{ id, org, space, text string }{
		{docA, orgA, spaceA, "Första delen. "}, {docA2, orgA, spaceA, "Ska bort."}, {docB, orgB, spaceB, "Annan kommun."},
	} {
		subs := []domain.Subject{domain.DocumentSubject(d.id), domain.SpaceSubject(d.space)}
		s.emit("document-"+d.id, adminA, d.org, d.space,
			domain.DocumentIngested{DocumentID: d.id, OrganizationID: d.org, SpaceID: d.space, Title: domain.Seal("Doc "+d.id[len(d.id)-2:], subs...),
				ContentType: "text/plain", SizeBytes: 2 * len(d.text), ChunkCount: 2, IngestedBy: adminA},
			domain.DocumentTextChunkAdded{DocumentID: d.id, Index: 0, Text: domain.Seal(d.text, subs...)},
			domain.DocumentTextChunkAdded{DocumentID: d.id, Index: 1, Text: domain.Seal(d.text, subs...)})
	}
	s.emit("document-"+docA2, adminA, orgA, spaceA, domain.DocumentDeleted{DocumentID: docA2})
	s.emit("conversation-"+convA, userA, orgA, spaceA, domain.ConversationStarted{ConversationID: convA, OrganizationID: orgA,
		SpaceID: spaceA, AssistantID: assistA, StartedBy: userA})
	csubs := []domain.Subject{domain.UserSubject(userA), domain.ConversationSubject(convA), domain.RetentionBucket(assistA, t0)}
	s.emit("conversation-"+convA, userA, orgA, spaceA,
		domain.MessageSent{ConversationID: convA, MessageID: msgA1, Author: userA, Text: domain.Seal("Hej?", csubs...), SentAt: t0},
		domain.AssistantReplyRecorded{ConversationID: convA, MessageID: msgA2, InReplyTo: msgA1, Text: domain.Seal("Hej!", csubs...),
			Excerpts: []domain.ExcerptRef{{DocumentID: docA, ChunkIndex: 0, Score: 0.5}}, RecordedAt: t0})
	for _, k := range []string{keyA, keyA2} {
		s.emit("apikey-"+k, adminA, orgA, "", domain.APIKeyCreated{KeyID: k, OrganizationID: orgA, OwnerKind: domain.KeyOwnerUser,
			OwnerID: map[string]string{keyA: userA, keyA2: adminA}[k], Prefix: "arkiv_" + k[len(k)-8:],
			Hash: hashOfKey[:60] + k[len(k)-4:], CreatedBy: adminA})
	}
	s.emit("apikey-"+keyA2, adminA, orgA, "", domain.APIKeyUsed{KeyID: keyA2, UsedAt: t0.Add(time.Hour)})
	s.emit("apikey-"+keyA2, adminA, orgA, "", domain.APIKeyRevoked{KeyID: keyA2, RevokedBy: adminA})
	s.emit("access-"+orgA, userA, orgA, "", domain.AccessDenied{Actor: userA, Command: domain.CmdDeleteSpace, TargetStream: "space-" + spaceA,
		OrgRole: domain.OrgRoleUser, SpaceRole: domain.SpaceRoleViewer, Reason: domain.ReasonRole, DeniedAt: t0})
	s.emit("access-"+orgA, userA, orgA, "", domain.DocumentViewed{Viewer: userA, DocumentID: docA, SpaceID: spaceA, ViewedAt: t0})
	// Erase document A, restore it, erase it again and complete.
	s.emit("erasure-"+erasure1, adminA, orgA, "", domain.ErasureRequested{ErasureID: erasure1, OrganizationID: orgA,
		SubjectType: domain.SubjectDocument, SubjectID: docA, GraceDays: 14, RequestedBy: adminA, RequestedAt: t0, EffectiveAt: t0})
	s.emit("erasure-"+erasure1, adminA, orgA, "", domain.ErasureRestored{ErasureID: erasure1, RestoredBy: adminA, RestoredAt: t0})
	// Erase user A3 (pending): personal fields and memberships go.
	s.emit("erasure-"+erasure2, adminA, orgA, "", domain.ErasureRequested{ErasureID: erasure2, OrganizationID: orgA,
		SubjectType: domain.SubjectUser, SubjectID: userA3, GraceDays: 14, RequestedBy: adminA, RequestedAt: t0, EffectiveAt: t0})
	s.emit("user-"+userA, adminA, orgA, "", domain.UserDeactivated{UserID: userA})
	// Erase space A2 and complete: it never comes back.
	s.emit("erasure-"+erasure3, adminA, orgA, "", domain.ErasureRequested{ErasureID: erasure3, OrganizationID: orgA,
		SubjectType: domain.SubjectSpace, SubjectID: spaceA2, RequestedBy: adminA, RequestedAt: t0, EffectiveAt: t0})
	s.emit("erasure-"+erasure3, adminA, orgA, "", domain.ErasureCompleted{ErasureID: erasure3, SubjectType: domain.SubjectSpace,
		SubjectID: spaceA2, CompletedBy: adminA, CompletedAt: t0})
}
