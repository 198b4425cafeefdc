// Package apptest gives projection and query tests a scripted world over the real stack: an
// embedded event store and a read-model database of their own, the projection engine's log
// over them, and a fixed event stream (ids, times and, with the plaintext codec, envelopes are
// the same on every run) covering every read model and an erasure cycle.
package apptest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/arkiv/arkiv/app/eventlog"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/esdbwatermill"
	"github.com/arkiv/arkiv/infra/eventstore/eventstoretest"
	"github.com/arkiv/arkiv/infra/keyring"
	"github.com/arkiv/arkiv/infra/pgtest"
	"github.com/arkiv/arkiv/infra/postgres"
	"github.com/arkiv/arkiv/projections/engine"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Quiet is a logger that discards everything.
var Quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// Fixture is one test's world: its own embedded event store and read-model database.
type Fixture struct {
	T     *testing.T
	Ctx   context.Context
	ES    *eventstoretest.Env
	Pool  *pgxpool.Pool
	PGURL string
	Log   *eventlog.Log
}

// NewFixture starts an embedded event store and a migrated read-model database for t.
func NewFixture(t *testing.T) *Fixture {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	f := &Fixture{T: t, Ctx: ctx, ES: eventstoretest.New(t), PGURL: pgtest.NewDatabase(t)}
	if err := postgres.Migrate(ctx, f.PGURL); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, f.PGURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	f.Pool = pool
	f.Log = eventlog.New(f.ES.Store.Client(), esdbwatermill.Options{Logger: Quiet})
	return f
}

// Runner returns a runner over ps with a short batch wait.
func (f *Fixture) Runner(ps []engine.Projection) *engine.Runner {
	f.T.Helper()
	r, err := engine.NewRunner(engine.Config{Pool: f.Pool, Log: f.Log, Projections: ps, Logger: Quiet,
		BatchWait: 5 * time.Millisecond, RetryInitial: 10 * time.Millisecond})
	if err != nil {
		f.T.Fatal(err)
	}
	return r
}

// Run runs r until the test ends.
func (f *Fixture) Run(r *engine.Runner) {
	ctx, cancel := context.WithCancel(f.Ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	f.T.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			f.T.Errorf("runner: %v", err)
		}
	})
}

// WaitHead waits until the named projections have passed the head of the log.
func (f *Fixture) WaitHead(names ...string) {
	f.T.Helper()
	head, err := f.Log.Head(f.Ctx)
	if err != nil || head == nil {
		f.T.Fatalf("head: %v %v", head, err)
	}
	w := engine.NewWaiter(f.Pool, Quiet)
	defer w.Close()
	if err := w.WaitFor(f.Ctx, names, head.Commit, 30*time.Second); err != nil {
		f.T.Fatal(err)
	}
}

// Dump returns every row of tables as sorted JSON lines, table by table.
func Dump(t *testing.T, ctx context.Context, pool *pgxpool.Pool, tables []string) string {
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

// Script appends hand-written events with fixed ids and times, so that what the projections
// make of them is the same on every run.
type Script struct {
	t     *testing.T
	ctx   context.Context
	f     *Fixture
	codec *keyring.EventCodec
	n     int
	revs  map[string]int64
	base  time.Time
}

var scriptNS = uuid.MustParse("0d7c3a52-95e4-4b6f-8d43-3f0f6f3f7a11")

// NewScript returns a script appending to f's store, encoding with codec.
func NewScript(f *Fixture, codec *keyring.EventCodec) *Script {
	return &Script{t: f.T, ctx: f.Ctx, f: f, codec: codec, revs: map[string]int64{},
		base: time.Date(2026, 3, 3, 9, 0, 0, 0, time.UTC)}
}

// Emit appends evs to stream, as actor, in org (and space).
func (s *Script) Emit(stream, actor, org, space string, evs ...domain.Event) uint64 {
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
	p, err := s.f.ES.Store.Append(s.ctx, stream, rev, proposed)
	if err != nil {
		s.t.Fatal(err)
	}
	s.revs[stream] = rev + int64(len(evs))
	return p
}

// The fixed ids of the scripted world.
const (
	OrgA      = "00000000-0000-4000-8000-00000000000a"
	OrgB      = "00000000-0000-4000-8000-00000000000b"
	AdminA    = "00000000-0000-4000-8000-0000000000a1"
	UserA     = "00000000-0000-4000-8000-0000000000a2"
	UserA3    = "00000000-0000-4000-8000-0000000000a3"
	AdminB    = "00000000-0000-4000-8000-0000000000b1"
	SpaceA    = "00000000-0000-4000-8000-00000000005a"
	SpaceA2   = "00000000-0000-4000-8000-00000000005b"
	SpaceB    = "00000000-0000-4000-8000-00000000005c"
	AssistA   = "00000000-0000-4000-8000-0000000000c1"
	AssistA2  = "00000000-0000-4000-8000-0000000000c2"
	DocA      = "00000000-0000-4000-8000-0000000000d1"
	DocA2     = "00000000-0000-4000-8000-0000000000d2"
	DocB      = "00000000-0000-4000-8000-0000000000d3"
	ConvA     = "00000000-0000-4000-8000-0000000000e1"
	MsgA1     = "00000000-0000-4000-8000-0000000000f1"
	MsgA2     = "00000000-0000-4000-8000-0000000000f2"
	KeyA      = "00000000-0000-4000-8000-000000000101"
	KeyA2     = "00000000-0000-4000-8000-000000000102"
	Erasure1  = "00000000-0000-4000-8000-000000000201"
	Erasure2  = "00000000-0000-4000-8000-000000000202"
	Erasure3  = "00000000-0000-4000-8000-000000000203"
	HashOfKey = "3b5d5c3712955042212316173ccf37be800b2e2f6e1c3e5e8b9e7c6d4a1f0e2d"
)

// World appends a small organisation's life: users, spaces, members, assistants, documents,
// a conversation, API keys, denials and an erasure cycle of a document and of a user.
func (s *Script) World() {
	t0 := s.base
	settings := domain.DefaultOrganizationSettings()
	settings.Models = []domain.AllowedModel{{ID: "llm-a", Endpoint: "https://llm.example.se/v1", Region: domain.RegionSE, MaxClassification: domain.ClassRestricted}}
	for _, o := range []struct{ id, admin, name string }{{OrgA, AdminA, "Kommun A"}, {OrgB, AdminB, "Kommun B"}} {
		s.Emit("org-"+o.id, o.admin, o.id, "", domain.OrganizationCreated{OrganizationID: o.id,
			Name: domain.Seal(o.name, domain.OrganizationSubject(o.id)), Settings: domain.DefaultOrganizationSettings()})
		s.Emit("user-"+o.admin, o.admin, o.id, "", domain.UserRegistered{UserID: o.admin, OrganizationID: o.id,
			Email: domain.Seal("admin@"+o.id[len(o.id)-2:]+".se", domain.UserSubject(o.admin)),
			Name:  domain.Seal("Admin "+o.name, domain.UserSubject(o.admin)), Role: domain.OrgRoleAdmin})
	}
	s.Emit("org-"+OrgA, AdminA, OrgA, "", domain.OrganizationSettingsChanged{OrganizationID: OrgA, Settings: settings})
	for _, u := range []string{UserA, UserA3} {
		s.Emit("user-"+u, AdminA, OrgA, "", domain.UserRegistered{UserID: u, OrganizationID: OrgA,
			Email: domain.Seal(u[len(u)-2:]+"@a.se", domain.UserSubject(u)), Name: domain.Seal("User "+u[len(u)-2:], domain.UserSubject(u)),
			Role: domain.OrgRoleUser})
	}
	s.Emit("user-"+UserA3, AdminA, OrgA, "", domain.UserRoleChanged{UserID: UserA3, Role: domain.OrgRoleCreator})
	for _, sp := range []struct{ id, org, admin string }{{SpaceA, OrgA, AdminA}, {SpaceA2, OrgA, AdminA}, {SpaceB, OrgB, AdminB}} {
		s.Emit("space-"+sp.id, sp.admin, sp.org, sp.id,
			domain.SpaceCreated{SpaceID: sp.id, OrganizationID: sp.org, Name: domain.Seal("Space "+sp.id[len(sp.id)-2:], domain.SpaceSubject(sp.id)),
				Classification: domain.ClassInternal, CreatedBy: sp.admin},
			domain.SpaceMemberAdded{SpaceID: sp.id, UserID: sp.admin, Role: domain.SpaceRoleAdmin})
	}
	s.Emit("space-"+SpaceA, AdminA, OrgA, SpaceA,
		domain.SpaceMemberAdded{SpaceID: SpaceA, UserID: UserA, Role: domain.SpaceRoleViewer},
		domain.SpaceMemberAdded{SpaceID: SpaceA, UserID: UserA3, Role: domain.SpaceRoleViewer},
		domain.SpaceMemberRoleChanged{SpaceID: SpaceA, UserID: UserA3, Role: domain.SpaceRoleEditor},
		domain.SpaceModelsEnabled{SpaceID: SpaceA, Models: []domain.ModelID{"llm-a"}})
	s.Emit("space-"+SpaceA2, AdminA, OrgA, SpaceA2, domain.SpaceMemberAdded{SpaceID: SpaceA2, UserID: UserA, Role: domain.SpaceRoleViewer})
	s.Emit("space-"+SpaceA2, AdminA, OrgA, SpaceA2, domain.SpaceMemberRemoved{SpaceID: SpaceA2, UserID: UserA})
	sub := domain.SpaceSubject(SpaceA)
	s.Emit("assistant-"+AssistA, AdminA, OrgA, SpaceA, domain.AssistantCreated{AssistantID: AssistA, OrganizationID: OrgA, SpaceID: SpaceA,
		Name: domain.Seal("Helper", sub), Instructions: domain.Seal("Be brief.", sub), Model: "llm-a", RetentionDays: 30})
	s.Emit("assistant-"+AssistA, AdminA, OrgA, SpaceA, domain.AssistantUpdated{AssistantID: AssistA,
		Name: domain.Seal("Helper 2", sub), Instructions: domain.Seal("Be briefer.", sub), Model: "llm-a", RetentionDays: 60, LogModelPayloads: true})
	s.Emit("assistant-"+AssistA2, AdminA, OrgA, SpaceA, domain.AssistantCreated{AssistantID: AssistA2, OrganizationID: OrgA, SpaceID: SpaceA,
		Name: domain.Seal("Gone", sub), Instructions: domain.Seal("", sub), Model: "llm-a"})
	s.Emit("assistant-"+AssistA2, AdminA, OrgA, SpaceA, domain.AssistantDeleted{AssistantID: AssistA2})
	for _, d := range []struct{ id, org, space, text string }{
		{DocA, OrgA, SpaceA, "Första delen. "}, {DocA2, OrgA, SpaceA, "Ska bort."}, {DocB, OrgB, SpaceB, "Annan kommun."},
	} {
		subs := []domain.Subject{domain.DocumentSubject(d.id), domain.SpaceSubject(d.space)}
		s.Emit("document-"+d.id, AdminA, d.org, d.space,
			domain.DocumentIngested{DocumentID: d.id, OrganizationID: d.org, SpaceID: d.space, Title: domain.Seal("Doc "+d.id[len(d.id)-2:], subs...),
				ContentType: "text/plain", SizeBytes: 2 * len(d.text), ChunkCount: 2, IngestedBy: AdminA},
			domain.DocumentTextChunkAdded{DocumentID: d.id, Index: 0, Text: domain.Seal(d.text, subs...)},
			domain.DocumentTextChunkAdded{DocumentID: d.id, Index: 1, Text: domain.Seal(d.text, subs...)})
	}
	s.Emit("document-"+DocA2, AdminA, OrgA, SpaceA, domain.DocumentDeleted{DocumentID: DocA2})
	s.Emit("conversation-"+ConvA, UserA, OrgA, SpaceA, domain.ConversationStarted{ConversationID: ConvA, OrganizationID: OrgA,
		SpaceID: SpaceA, AssistantID: AssistA, StartedBy: UserA})
	csubs := []domain.Subject{domain.UserSubject(UserA), domain.ConversationSubject(ConvA), domain.RetentionBucket(AssistA, t0)}
	s.Emit("conversation-"+ConvA, UserA, OrgA, SpaceA,
		domain.MessageSent{ConversationID: ConvA, MessageID: MsgA1, Author: UserA, Text: domain.Seal("Hej?", csubs...), SentAt: t0},
		domain.AssistantReplyRecorded{ConversationID: ConvA, MessageID: MsgA2, InReplyTo: MsgA1, Text: domain.Seal("Hej!", csubs...),
			Excerpts: []domain.ExcerptRef{{DocumentID: DocA, ChunkIndex: 0, Score: 0.5}}, RecordedAt: t0})
	for _, k := range []string{KeyA, KeyA2} {
		s.Emit("apikey-"+k, AdminA, OrgA, "", domain.APIKeyCreated{KeyID: k, OrganizationID: OrgA, OwnerKind: domain.KeyOwnerUser,
			OwnerID: map[string]string{KeyA: UserA, KeyA2: AdminA}[k], Prefix: "arkiv_" + k[len(k)-8:],
			Hash: HashOfKey[:60] + k[len(k)-4:], CreatedBy: AdminA})
	}
	s.Emit("apikey-"+KeyA2, AdminA, OrgA, "", domain.APIKeyUsed{KeyID: KeyA2, UsedAt: t0.Add(time.Hour)})
	s.Emit("apikey-"+KeyA2, AdminA, OrgA, "", domain.APIKeyRevoked{KeyID: KeyA2, RevokedBy: AdminA})
	s.Emit("access-"+OrgA, UserA, OrgA, "", domain.AccessDenied{Actor: UserA, Command: domain.CmdDeleteSpace, TargetStream: "space-" + SpaceA,
		OrgRole: domain.OrgRoleUser, SpaceRole: domain.SpaceRoleViewer, Reason: domain.ReasonRole, DeniedAt: t0})
	s.Emit("access-"+OrgA, UserA, OrgA, "", domain.DocumentViewed{Viewer: UserA, DocumentID: DocA, SpaceID: SpaceA, ViewedAt: t0})
	// Erase document A, restore it, erase it again and complete.
	s.Emit("erasure-"+Erasure1, AdminA, OrgA, "", domain.ErasureRequested{ErasureID: Erasure1, OrganizationID: OrgA,
		SubjectType: domain.SubjectDocument, SubjectID: DocA, GraceDays: 14, RequestedBy: AdminA, RequestedAt: t0, EffectiveAt: t0})
	s.Emit("erasure-"+Erasure1, AdminA, OrgA, "", domain.ErasureRestored{ErasureID: Erasure1, RestoredBy: AdminA, RestoredAt: t0})
	// Erase user A3 (pending): personal fields and memberships go.
	s.Emit("erasure-"+Erasure2, AdminA, OrgA, "", domain.ErasureRequested{ErasureID: Erasure2, OrganizationID: OrgA,
		SubjectType: domain.SubjectUser, SubjectID: UserA3, GraceDays: 14, RequestedBy: AdminA, RequestedAt: t0, EffectiveAt: t0})
	s.Emit("user-"+UserA, AdminA, OrgA, "", domain.UserDeactivated{UserID: UserA})
	// Erase space A2 and complete: it never comes back.
	s.Emit("erasure-"+Erasure3, AdminA, OrgA, "", domain.ErasureRequested{ErasureID: Erasure3, OrganizationID: OrgA,
		SubjectType: domain.SubjectSpace, SubjectID: SpaceA2, RequestedBy: AdminA, RequestedAt: t0, EffectiveAt: t0})
	s.Emit("erasure-"+Erasure3, AdminA, OrgA, "", domain.ErasureCompleted{ErasureID: Erasure3, SubjectType: domain.SubjectSpace,
		SubjectID: SpaceA2, CompletedBy: AdminA, CompletedAt: t0})
	// Identity providers: A configures a pair; B configures the same pair later, which keeps
	// routing to A; A replaces its MFA claims, adds a second pair and removes it.
	none := []string{}
	s.Emit("org-"+OrgA, AdminA, OrgA, "", domain.IdentityProviderConfigured{OrganizationID: OrgA, Issuer: IdPIssuer,
		Audience: IdPAudience, AllowedAMR: none, AcceptedACR: none})
	s.Emit("org-"+OrgB, AdminB, OrgB, "", domain.IdentityProviderConfigured{OrganizationID: OrgB, Issuer: IdPIssuer,
		Audience: IdPAudience, AllowedAMR: []string{"mfa"}, AcceptedACR: none})
	s.Emit("org-"+OrgA, AdminA, OrgA, "",
		domain.IdentityProviderConfigured{OrganizationID: OrgA, Issuer: IdPIssuer, Audience: IdPAudience,
			AllowedAMR: []string{"mfa", "hwk"}, AcceptedACR: []string{"urn:example:loa:3"}},
		domain.IdentityProviderConfigured{OrganizationID: OrgA, Issuer: IdPIssuer, Audience: "api://second", AllowedAMR: none, AcceptedACR: none},
		domain.IdentityProviderRemoved{OrganizationID: OrgA, Issuer: IdPIssuer, Audience: "api://second"})
	// A refused local login, recorded by the system actor.
	s.Emit("access-"+OrgA, domain.SystemActor, OrgA, "", domain.LoginFailed{OrganizationID: OrgA,
		LoginDigest: HashOfKey, Reason: "bad_password", FailedAt: t0})
	// Audit streams: A adds a webhook (its secret sealed) and a syslog destination, moves the
	// webhook's endpoint (the secret stays) and removes the syslog one.
	hook := domain.AuditStream{Kind: domain.AuditStreamWebhook, Format: domain.AuditFormatOCSF, Endpoint: "https://siem.example.se/hook"}
	s.Emit(domain.StreamPrefixAuditStream+StreamHook, AdminA, OrgA, "", domain.AuditStreamConfigured{StreamID: StreamHook,
		OrganizationID: OrgA, Config: hook, Secret: domain.Seal("whsec_c2VjcmV0", domain.OrganizationSubject(OrgA)), ConfiguredBy: AdminA})
	s.Emit(domain.StreamPrefixAuditStream+StreamSyslog, AdminA, OrgA, "", domain.AuditStreamConfigured{StreamID: StreamSyslog,
		OrganizationID: OrgA, Config: domain.AuditStream{Kind: domain.AuditStreamSyslog, Format: domain.AuditFormatCEF,
			Endpoint: "siem.example.se:6514", IncludeDetail: true}, ConfiguredBy: AdminA})
	hook.Endpoint = "https://siem2.example.se/hook"
	s.Emit(domain.StreamPrefixAuditStream+StreamHook, AdminA, OrgA, "", domain.AuditStreamConfigured{StreamID: StreamHook,
		OrganizationID: OrgA, Config: hook, ConfiguredBy: AdminA})
	s.Emit(domain.StreamPrefixAuditStream+StreamSyslog, AdminA, OrgA, "", domain.AuditStreamRemoved{StreamID: StreamSyslog,
		OrganizationID: OrgA, RemovedBy: AdminA})
}

// The audit-stream destinations of the scripted world.
const (
	StreamHook   = "00000000-0000-4000-8000-000000000901"
	StreamSyslog = "00000000-0000-4000-8000-000000000902"
)

// The identity provider both organisations of the scripted world configure (A first).
const (
	IdPIssuer   = "https://login.example.se/tenant/v2.0"
	IdPAudience = "api://arkiv"
)
