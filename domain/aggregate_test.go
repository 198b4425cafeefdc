package domain

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// scenario is one given/when/then case: replay given, run when, expect then (or an error of
// kind fails, by its code).
type scenario struct {
	name  string
	given []Event
	when  func(Aggregate) error
	then  []Event
	fails string
}

func run(t *testing.T, newAgg func() Aggregate, cases []scenario) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := newAgg()
			Replay(a, c.given, int64(len(c.given))-1)
			err := c.when(a)
			if c.fails != "" {
				if err == nil {
					t.Fatalf("want %s error, got none; recorded %#v", c.fails, a.Changes())
				}
				if got := KindOf(err).String(); got != c.fails {
					t.Fatalf("want %s, got %s: %v", c.fails, got, err)
				}
				if len(a.Changes()) != 0 {
					t.Fatalf("a failed decision recorded %d events", len(a.Changes()))
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if !reflect.DeepEqual(a.Changes(), c.then) {
				t.Fatalf("recorded\n%#v\nwant\n%#v", a.Changes(), c.then)
			}
		})
	}
}

const (
	org1  = "00000000-0000-4000-8000-000000000001"
	user1 = "00000000-0000-4000-8000-0000000000a1"
	user2 = "00000000-0000-4000-8000-0000000000a2"
	spc1  = "00000000-0000-4000-8000-0000000000b1"
	ast1  = "00000000-0000-4000-8000-0000000000c1"
	doc1  = "00000000-0000-4000-8000-0000000000d1"
	conv1 = "00000000-0000-4000-8000-0000000000e1"
	msg1  = "00000000-0000-4000-8000-0000000000f1"
	msg2  = "00000000-0000-4000-8000-0000000000f2"
	key1  = "00000000-0000-4000-8000-000000000101"
	ers1  = "00000000-0000-4000-8000-000000000201"
)

var day = time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC)

func settingsWithModels() OrganizationSettings {
	s := DefaultOrganizationSettings()
	s.Models = []AllowedModel{
		{ID: "mistral-large", Endpoint: "https://llm.example.se/v1", Region: RegionSE, MaxClassification: ClassConfidential},
		{ID: "small-public", Endpoint: "https://llm.example.eu/v1", Region: RegionEU, MaxClassification: ClassInternal},
	}
	return s
}

func TestOrganization(t *testing.T) {
	created := OrganizationCreated{OrganizationID: org1, Name: Seal("Region Norr", OrganizationSubject(org1)), Settings: DefaultOrganizationSettings()}
	us := DefaultOrganizationSettings()
	us.EUOnly = false
	us.Models = []AllowedModel{{ID: "gpt-x", Endpoint: "https://api.example.com", Region: RegionUS, MaxClassification: ClassPublic}}
	run(t, func() Aggregate { return NewOrganization(org1) }, []scenario{
		{name: "create", when: func(a Aggregate) error {
			return a.(*Organization).Create("  Region Norr ", DefaultOrganizationSettings())
		}, then: []Event{created}},
		{name: "create twice", given: []Event{created}, when: func(a Aggregate) error {
			return a.(*Organization).Create("Again", DefaultOrganizationSettings())
		}, fails: "CONFLICT"},
		{name: "empty name", when: func(a Aggregate) error {
			return a.(*Organization).Create(" ", DefaultOrganizationSettings())
		}, fails: "INVALID"},
		{name: "change settings", given: []Event{created}, when: func(a Aggregate) error {
			return a.(*Organization).ChangeSettings(us)
		}, then: []Event{OrganizationSettingsChanged{OrganizationID: org1, Settings: us, Changes: []SettingChange{
			{Field: "euOnly", Before: "true", After: "false"},
			{Field: "models", Before: "[]", After: `[{"id":"gpt-x","endpoint":"https://api.example.com","region":"US","maxClassification":"PUBLIC"}]`}}}}},
		{name: "unchanged settings record nothing", given: []Event{created}, when: func(a Aggregate) error {
			return a.(*Organization).ChangeSettings(DefaultOrganizationSettings())
		}},
		{name: "US model in an EU-only organisation", given: []Event{created}, when: func(a Aggregate) error {
			s := us
			s.EUOnly = true
			return a.(*Organization).ChangeSettings(s)
		}, fails: "INVALID"},
		{name: "grace window above 30 days", given: []Event{created}, when: func(a Aggregate) error {
			s := DefaultOrganizationSettings()
			s.ErasureGraceDays = 31
			return a.(*Organization).ChangeSettings(s)
		}, fails: "INVALID"},
		{name: "audit retention custom too short", given: []Event{created}, when: func(a Aggregate) error {
			s := DefaultOrganizationSettings()
			s.AuditRetention = AuditRetention{Mode: AuditRetentionCustom, Days: 3}
			return a.(*Organization).ChangeSettings(s)
		}, fails: "INVALID"},
		{name: "model above unknown classification", given: []Event{created}, when: func(a Aggregate) error {
			s := settingsWithModels()
			s.Models[0].MaxClassification = "TOP_SECRET"
			return a.(*Organization).ChangeSettings(s)
		}, fails: "INVALID"},
		{name: "settings of a missing organisation", when: func(a Aggregate) error {
			return a.(*Organization).ChangeSettings(DefaultOrganizationSettings())
		}, fails: "NOT_FOUND"},
	})
}

func TestUser(t *testing.T) {
	reg := UserRegistered{UserID: user1, OrganizationID: org1, Email: Seal("anna@example.se", UserSubject(user1)),
		Name: Seal("Anna", UserSubject(user1)), Role: OrgRoleUser}
	run(t, func() Aggregate { return NewUser(user1) }, []scenario{
		{name: "register lower-cases e-mail", when: func(a Aggregate) error {
			return a.(*User).Register(org1, "Anna@Example.se", "Anna", OrgRoleUser)
		}, then: []Event{reg}},
		{name: "bad e-mail", when: func(a Aggregate) error {
			return a.(*User).Register(org1, "anna@", "Anna", OrgRoleUser)
		}, fails: "INVALID"},
		{name: "bad role", when: func(a Aggregate) error {
			return a.(*User).Register(org1, "anna@example.se", "Anna", "ROOT")
		}, fails: "INVALID"},
		{name: "change role", given: []Event{reg}, when: func(a Aggregate) error {
			return a.(*User).ChangeRole(OrgRoleCreator, user2)
		}, then: []Event{UserRoleChanged{UserID: user1, Role: OrgRoleCreator, PreviousRole: OrgRoleUser}}},
		{name: "own role", given: []Event{reg}, when: func(a Aggregate) error {
			return a.(*User).ChangeRole(OrgRoleAdmin, user1)
		}, fails: "CONFLICT"},
		{name: "deactivate", given: []Event{reg}, when: func(a Aggregate) error {
			return a.(*User).Deactivate(user2)
		}, then: []Event{UserDeactivated{UserID: user1}}},
		{name: "deactivated user cannot change role", given: []Event{reg, UserDeactivated{UserID: user1}}, when: func(a Aggregate) error {
			return a.(*User).ChangeRole(OrgRoleAdmin, user2)
		}, fails: "NOT_FOUND"},
	})
}

func spaceGiven() []Event {
	return []Event{
		SpaceCreated{SpaceID: spc1, OrganizationID: org1, Name: Seal("HR", SpaceSubject(spc1)), Classification: ClassInternal, CreatedBy: user1},
		SpaceMemberAdded{SpaceID: spc1, UserID: user1, Role: SpaceRoleAdmin},
	}
}

func TestSpace(t *testing.T) {
	withModel := append(spaceGiven(), SpaceModelsEnabled{SpaceID: spc1, Models: []ModelID{"mistral-large"}})
	run(t, func() Aggregate { return NewSpace(spc1) }, []scenario{
		{name: "create makes the creator admin", when: func(a Aggregate) error {
			return a.(*Space).Create(org1, "HR", ClassInternal, user1, DefaultOrganizationSettings())
		}, then: spaceGiven()},
		{name: "unknown classification", when: func(a Aggregate) error {
			return a.(*Space).Create(org1, "HR", "SECRET", user1, DefaultOrganizationSettings())
		}, fails: "INVALID"},
		{name: "add member", given: spaceGiven(), when: func(a Aggregate) error {
			return a.(*Space).AddMember(user2, SpaceRoleViewer)
		}, then: []Event{SpaceMemberAdded{SpaceID: spc1, UserID: user2, Role: SpaceRoleViewer}}},
		{name: "add member twice", given: spaceGiven(), when: func(a Aggregate) error {
			return a.(*Space).AddMember(user1, SpaceRoleViewer)
		}, fails: "CONFLICT"},
		{name: "remove last admin", given: spaceGiven(), when: func(a Aggregate) error {
			return a.(*Space).RemoveMember(user1, MembershipFacts{})
		}, fails: "CONFLICT"},
		{name: "demote last admin", given: spaceGiven(), when: func(a Aggregate) error {
			return a.(*Space).ChangeMemberRole(user1, SpaceRoleEditor, MembershipFacts{})
		}, fails: "CONFLICT"},
		{name: "change role", given: append(spaceGiven(), SpaceMemberAdded{SpaceID: spc1, UserID: user2, Role: SpaceRoleViewer}), when: func(a Aggregate) error {
			return a.(*Space).ChangeMemberRole(user2, SpaceRoleEditor, MembershipFacts{})
		}, then: []Event{SpaceMemberRoleChanged{SpaceID: spc1, UserID: user2, Role: SpaceRoleEditor, PreviousRole: SpaceRoleViewer}}},
		{name: "remove non-member", given: spaceGiven(), when: func(a Aggregate) error {
			return a.(*Space).RemoveMember(user2, MembershipFacts{})
		}, fails: "NOT_FOUND"},
		{name: "a Space Admin cannot demote an org Admin", given: append(spaceGiven(), SpaceMemberAdded{SpaceID: spc1, UserID: user2, Role: SpaceRoleAdmin}), when: func(a Aggregate) error {
			return a.(*Space).ChangeMemberRole(user2, SpaceRoleViewer, MembershipFacts{MemberOrgAdmin: true})
		}, fails: "FORBIDDEN"},
		{name: "a Space Admin cannot remove an org Admin", given: append(spaceGiven(), SpaceMemberAdded{SpaceID: spc1, UserID: user2, Role: SpaceRoleViewer}), when: func(a Aggregate) error {
			return a.(*Space).RemoveMember(user2, MembershipFacts{MemberOrgAdmin: true})
		}, fails: "FORBIDDEN"},
		{name: "an org Admin changes an org Admin's role", given: append(spaceGiven(), SpaceMemberAdded{SpaceID: spc1, UserID: user2, Role: SpaceRoleViewer}), when: func(a Aggregate) error {
			return a.(*Space).ChangeMemberRole(user2, SpaceRoleAdmin, MembershipFacts{ActorOrgAdmin: true, MemberOrgAdmin: true})
		}, then: []Event{SpaceMemberRoleChanged{SpaceID: spc1, UserID: user2, Role: SpaceRoleAdmin, PreviousRole: SpaceRoleViewer}}},
		{name: "enable models sorted and distinct", given: spaceGiven(), when: func(a Aggregate) error {
			return a.(*Space).EnableModels([]ModelID{"small-public", "mistral-large", "small-public"}, settingsWithModels())
		}, then: []Event{SpaceModelsEnabled{SpaceID: spc1, Models: []ModelID{"mistral-large", "small-public"}}}},
		{name: "model not allow-listed", given: spaceGiven(), when: func(a Aggregate) error {
			return a.(*Space).EnableModels([]ModelID{"other"}, settingsWithModels())
		}, fails: "INVALID"},
		{name: "model below the space's classification", given: []Event{
			SpaceCreated{SpaceID: spc1, OrganizationID: org1, Name: Seal("HR", SpaceSubject(spc1)), Classification: ClassConfidential, CreatedBy: user1},
		}, when: func(a Aggregate) error {
			return a.(*Space).EnableModels([]ModelID{"small-public"}, settingsWithModels())
		}, fails: "INVALID"},
		{name: "same models record nothing", given: withModel, when: func(a Aggregate) error {
			return a.(*Space).EnableModels([]ModelID{"mistral-large"}, settingsWithModels())
		}},
		{name: "delete", given: spaceGiven(), when: func(a Aggregate) error { return a.(*Space).Delete() },
			then: []Event{SpaceDeleted{SpaceID: spc1}}},
		{name: "deleted space takes no members", given: append(spaceGiven(), SpaceDeleted{SpaceID: spc1}), when: func(a Aggregate) error {
			return a.(*Space).AddMember(user2, SpaceRoleViewer)
		}, fails: "NOT_FOUND"},
	})
}

func liveSpace() *Space {
	s := NewSpace(spc1)
	Replay(s, append(spaceGiven(), SpaceModelsEnabled{SpaceID: spc1, Models: []ModelID{"mistral-large"}}), 2)
	return s
}

func TestAssistant(t *testing.T) {
	spec := AssistantSpec{Name: "Helper", Instructions: "Answer briefly.", Model: "mistral-large", RetentionDays: 30}
	created := AssistantCreated{AssistantID: ast1, OrganizationID: org1, SpaceID: spc1, Name: Seal("Helper", SpaceSubject(spc1)),
		Instructions: Seal("Answer briefly.", SpaceSubject(spc1)), Model: "mistral-large", RetentionDays: 30}
	run(t, func() Aggregate { return NewAssistant(ast1) }, []scenario{
		{name: "create", when: func(a Aggregate) error { return a.(*Assistant).Create(liveSpace(), spec) }, then: []Event{created}},
		{name: "model not enabled", when: func(a Aggregate) error {
			s := spec
			s.Model = "small-public"
			return a.(*Assistant).Create(liveSpace(), s)
		}, fails: "INVALID"},
		{name: "retention out of range", when: func(a Aggregate) error {
			s := spec
			s.RetentionDays = 5000
			return a.(*Assistant).Create(liveSpace(), s)
		}, fails: "INVALID"},
		{name: "update logging", given: []Event{created}, when: func(a Aggregate) error {
			s := spec
			s.LogModelPayloads = true
			return a.(*Assistant).Update(liveSpace(), s)
		}, then: []Event{AssistantUpdated{AssistantID: ast1, Name: Seal("Helper", SpaceSubject(spc1)),
			Instructions: Seal("Answer briefly.", SpaceSubject(spc1)), Model: "mistral-large", RetentionDays: 30, LogModelPayloads: true}}},
		{name: "unchanged update records nothing", given: []Event{created}, when: func(a Aggregate) error {
			return a.(*Assistant).Update(liveSpace(), spec)
		}},
		{name: "delete twice", given: []Event{created, AssistantDeleted{AssistantID: ast1}}, when: func(a Aggregate) error {
			return a.(*Assistant).Delete()
		}, fails: "NOT_FOUND"},
	})
}

func TestDocument(t *testing.T) {
	subs := []Subject{DocumentSubject(doc1), SpaceSubject(spc1)}
	big := string(make([]byte, ChunkBytes+10))
	run(t, func() Aggregate { return NewDocument(doc1) }, []scenario{
		{name: "ingest small", when: func(a Aggregate) error {
			return a.(*Document).Ingest(liveSpace(), "Policy", "text/plain", "hello", user1)
		}, then: []Event{
			DocumentIngested{DocumentID: doc1, OrganizationID: org1, SpaceID: spc1, Title: Seal("Policy", subs...),
				ContentType: "text/plain", SizeBytes: 5, ChunkCount: 1, IngestedBy: user1},
			DocumentTextChunkAdded{DocumentID: doc1, Index: 0, Text: Seal("hello", subs...)},
		}},
		{name: "ingest splits large text", when: func(a Aggregate) error {
			return a.(*Document).Ingest(liveSpace(), "Big", "text/plain", big, user1)
		}, then: []Event{
			DocumentIngested{DocumentID: doc1, OrganizationID: org1, SpaceID: spc1, Title: Seal("Big", subs...),
				ContentType: "text/plain", SizeBytes: len(big), ChunkCount: 2, IngestedBy: user1},
			DocumentTextChunkAdded{DocumentID: doc1, Index: 0, Text: Seal(big[:ChunkBytes], subs...)},
			DocumentTextChunkAdded{DocumentID: doc1, Index: 1, Text: Seal(big[ChunkBytes:], subs...)},
		}},
		{name: "empty text", when: func(a Aggregate) error {
			return a.(*Document).Ingest(liveSpace(), "Policy", "text/plain", "", user1)
		}, fails: "INVALID"},
		{name: "bad content type", when: func(a Aggregate) error {
			return a.(*Document).Ingest(liveSpace(), "Policy", "plain", "x", user1)
		}, fails: "INVALID"},
		{name: "delete", given: []Event{DocumentIngested{DocumentID: doc1, OrganizationID: org1, SpaceID: spc1, ChunkCount: 1}},
			when: func(a Aggregate) error { return a.(*Document).Delete() }, then: []Event{DocumentDeleted{DocumentID: doc1}}},
	})
}

func TestSplitText(t *testing.T) {
	text := "åäö€x"
	for max := 4; max <= len(text)+1; max++ {
		parts := SplitText(text, max)
		joined := ""
		for _, p := range parts {
			if len(p) > max || !utf8Valid(p) {
				t.Fatalf("max %d: bad part %q", max, p)
			}
			joined += p
		}
		if joined != text {
			t.Fatalf("max %d: parts %q do not rejoin", max, parts)
		}
	}
}

func utf8Valid(s string) bool { return []rune(s) != nil && string([]rune(s)) == s }

func liveAssistant(logPayloads bool) *Assistant {
	a := NewAssistant(ast1)
	Replay(a, []Event{AssistantCreated{AssistantID: ast1, OrganizationID: org1, SpaceID: spc1, Model: "mistral-large", LogModelPayloads: logPayloads}}, 0)
	return a
}

func TestConversation(t *testing.T) {
	started := ConversationStarted{ConversationID: conv1, OrganizationID: org1, SpaceID: spc1, AssistantID: ast1, StartedBy: user1}
	sent := MessageSent{ConversationID: conv1, MessageID: msg1, Author: user1, SentAt: day,
		Text: Seal("hej", UserSubject(user1), ConversationSubject(conv1), RetentionBucket(ast1, day))}
	inv := ModelInvocation{InvocationID: key1, MessageID: msg1, Model: "mistral-large", Region: RegionSE,
		RequestPayload: "prompt", ResponsePayload: "answer", PromptTokens: 10, CompletionTokens: 5, LatencyMillis: 120, Outcome: OutcomeOK}
	logSubs := []Subject{UserSubject(user1), ConversationSubject(conv1), ModelLogBucket(org1, day)}
	run(t, func() Aggregate { return NewConversation(conv1) }, []scenario{
		{name: "start", when: func(a Aggregate) error { return a.(*Conversation).Start(liveAssistant(false), user1) }, then: []Event{started}},
		{name: "send", given: []Event{started}, when: func(a Aggregate) error {
			return a.(*Conversation).SendMessage(msg1, user1, "hej", day)
		}, then: []Event{sent}},
		{name: "someone else's conversation", given: []Event{started}, when: func(a Aggregate) error {
			return a.(*Conversation).SendMessage(msg1, user2, "hej", day)
		}, fails: "FORBIDDEN"},
		{name: "empty message", given: []Event{started}, when: func(a Aggregate) error {
			return a.(*Conversation).SendMessage(msg1, user1, "", day)
		}, fails: "INVALID"},
		{name: "reply", given: []Event{started, sent}, when: func(a Aggregate) error {
			return a.(*Conversation).RecordReply(msg2, msg1, "svar", nil, user1, day)
		}, then: []Event{AssistantReplyRecorded{ConversationID: conv1, MessageID: msg2, InReplyTo: msg1, Excerpts: []ExcerptRef{}, RecordedAt: day,
			Text: Seal("svar", UserSubject(user1), ConversationSubject(conv1), RetentionBucket(ast1, day))}}},
		{name: "reply to unknown message", given: []Event{started}, when: func(a Aggregate) error {
			return a.(*Conversation).RecordReply(msg2, msg1, "svar", nil, user1, day)
		}, fails: "NOT_FOUND"},
		{name: "invocation without payload logging drops payloads", given: []Event{started, sent}, when: func(a Aggregate) error {
			return a.(*Conversation).RecordModelInvocation(liveAssistant(false), inv, user1, day)
		}, then: []Event{ModelInvocationRecorded{ConversationID: conv1, InvocationID: key1, MessageID: msg1, AssistantID: ast1, UserID: user1,
			Model: "mistral-large", Region: RegionSE, Excerpts: []ExcerptRef{}, RequestSHA256: PayloadHash("prompt"),
			PromptTokens: 10, CompletionTokens: 5, LatencyMillis: 120, Outcome: OutcomeOK, InvokedAt: day}}},
		{name: "invocation with payload logging seals payloads", given: []Event{started, sent}, when: func(a Aggregate) error {
			return a.(*Conversation).RecordModelInvocation(liveAssistant(true), inv, user1, day)
		}, then: []Event{ModelInvocationRecorded{ConversationID: conv1, InvocationID: key1, MessageID: msg1, AssistantID: ast1, UserID: user1,
			Model: "mistral-large", Region: RegionSE, Excerpts: []ExcerptRef{}, PayloadLogged: true,
			RequestParts: []SealedPart{{Text: Seal("prompt", logSubs...)}}, RequestSHA256: PayloadHash("prompt"),
			ResponsePayload: Seal("answer", logSubs...), PromptTokens: 10, CompletionTokens: 5, LatencyMillis: 120, Outcome: OutcomeOK, InvokedAt: day}}},
		{name: "invocation with unknown outcome", given: []Event{started, sent}, when: func(a Aggregate) error {
			bad := inv
			bad.Outcome = "MAYBE"
			return a.(*Conversation).RecordModelInvocation(liveAssistant(false), bad, user1, day)
		}, fails: "INVALID"},
	})
}

func TestAPIKey(t *testing.T) {
	secret, prefix, hash, err := GenerateAPIKey(zeroReader{})
	if err != nil {
		t.Fatal(err)
	}
	if APIKeyPrefix(secret) != prefix || HashAPIKey(secret) != hash || len(hash) != 64 {
		t.Fatalf("key %q: prefix %q hash %q inconsistent", secret, prefix, hash)
	}
	created := APIKeyCreated{KeyID: key1, OrganizationID: org1, OwnerKind: KeyOwnerUser, OwnerID: user1, Prefix: prefix, Hash: hash, CreatedBy: user2}
	run(t, func() Aggregate { return NewAPIKey(key1) }, []scenario{
		{name: "create", when: func(a Aggregate) error {
			return a.(*APIKey).Create(org1, KeyOwnerUser, user1, prefix, hash, user2)
		}, then: []Event{created}},
		{name: "bad hash", when: func(a Aggregate) error {
			return a.(*APIKey).Create(org1, KeyOwnerUser, user1, prefix, "abc", user2)
		}, fails: "INVALID"},
		{name: "revoke", given: []Event{created}, when: func(a Aggregate) error { return a.(*APIKey).Revoke(user2) },
			then: []Event{APIKeyRevoked{KeyID: key1, RevokedBy: user2}}},
		{name: "use", given: []Event{created}, when: func(a Aggregate) error { return a.(*APIKey).RecordUse(day) },
			then: []Event{APIKeyUsed{KeyID: key1, UsedAt: day}}},
		{name: "use revoked", given: []Event{created, APIKeyRevoked{KeyID: key1}}, when: func(a Aggregate) error {
			return a.(*APIKey).RecordUse(day)
		}, fails: "UNAUTHENTICATED"},
	})
	k := NewAPIKey(key1)
	Replay(k, []Event{created}, 0)
	if !k.Matches(secret) || k.Matches(secret+"x") {
		t.Fatal("Matches does not tell the key from another")
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestLegalHolds(t *testing.T) {
	const hold1 = "00000000-0000-4000-8000-000000000301"
	doc := DocumentSubject(user1)
	placed := LegalHoldPlaced{HoldID: hold1, OrganizationID: org1, SubjectType: SubjectDocument, SubjectID: user1, SpaceID: spc1,
		Reason: "Arkivlagen 3 §, dnr 2026/17", PlacedBy: user2, PlacedAt: day}
	run(t, func() Aggregate { return NewLegalHolds(org1) }, []scenario{
		{name: "place", when: func(a Aggregate) error {
			return a.(*LegalHolds).Place(hold1, doc, spc1, " Arkivlagen 3 §, dnr 2026/17 ", user2, day)
		}, then: []Event{placed}},
		{name: "a reason is required", when: func(a Aggregate) error {
			return a.(*LegalHolds).Place(hold1, doc, spc1, "  ", user2, day)
		}, fails: "INVALID"},
		{name: "assistants are not held", when: func(a Aggregate) error {
			return a.(*LegalHolds).Place(hold1, Subject{SubjectAssistant, user1}, spc1, "r", user2, day)
		}, fails: "INVALID"},
		{name: "held twice", given: []Event{placed}, when: func(a Aggregate) error {
			return a.(*LegalHolds).Place("00000000-0000-4000-8000-000000000302", doc, spc1, "again", user2, day)
		}, fails: "CONFLICT"},
		{name: "lift", given: []Event{placed}, when: func(a Aggregate) error {
			return a.(*LegalHolds).Lift(hold1, "case closed", user2, day)
		}, then: []Event{LegalHoldLifted{HoldID: hold1, Reason: "case closed", LiftedBy: user2, LiftedAt: day}}},
		{name: "lift unknown", when: func(a Aggregate) error {
			return a.(*LegalHolds).Lift(hold1, "case closed", user2, day)
		}, fails: "NOT_FOUND"},
	})
	h := NewLegalHolds(org1)
	Replay(h, []Event{placed}, 0)
	for _, c := range []struct {
		name         string
		subject      Subject
		space, owner string
		blocked      bool
	}{
		{"the document itself", doc, spc1, "", true},
		{"its space", SpaceSubject(spc1), "", "", true},
		{"the organisation", OrganizationSubject(org1), "", "", true},
		{"another document of the space", DocumentSubject(user2), spc1, "", false},
		{"a user", UserSubject(user2), "", "", false},
	} {
		if got := len(h.Blocking(c.subject, c.space, c.owner)) > 0; got != c.blocked {
			t.Errorf("%s: blocked = %v, want %v", c.name, got, c.blocked)
		}
	}
	err := ErrLegalHold("op", h.Active())
	if !errors.Is(err, ErrUnderLegalHold) || KindOf(err) != KindConflict {
		t.Fatalf("ErrLegalHold = %v (kind %v)", err, KindOf(err))
	}
}

func TestErasure(t *testing.T) {
	req := ErasureRequested{ErasureID: ers1, OrganizationID: org1, SubjectType: SubjectUser, SubjectID: user1, GraceDays: 14,
		RequestedBy: user2, RequestedAt: day, EffectiveAt: day.AddDate(0, 0, 14)}
	run(t, func() Aggregate { return NewErasure(ers1) }, []scenario{
		{name: "request", when: func(a Aggregate) error {
			return a.(*Erasure).Request(org1, SubjectUser, user1, 14, user2, day)
		}, then: []Event{req, ErasureBasisRecorded{ErasureID: ers1, Origin: CmdRequestErasure}}},
		{name: "a delete orders an erasure with its origin, basis and space", when: func(a Aggregate) error {
			return a.(*Erasure).Order(org1, SubjectUser, user1, 14, user2, day,
				ErasureOrder{Origin: CmdDeleteDocument, LegalBasis: "GDPR Art. 17(1)(a)", SpaceID: spc1})
		}, then: []Event{req, ErasureBasisRecorded{ErasureID: ers1, Origin: CmdDeleteDocument, LegalBasis: "GDPR Art. 17(1)(a)", SpaceID: spc1}}},
		{name: "legal basis too long", when: func(a Aggregate) error {
			return a.(*Erasure).Order(org1, SubjectUser, user1, 14, user2, day, ErasureOrder{LegalBasis: strings.Repeat("x", 501)})
		}, fails: "INVALID"},
		{name: "certify completed", given: []Event{req, ErasureCompleted{ErasureID: ers1}}, when: func(a Aggregate) error {
			return a.(*Erasure).Certify("{}\n", true, day)
		}, then: []Event{ErasureCertified{ErasureID: ers1, OrganizationID: org1, Certificate: "{}\n", Signed: true, CertifiedAt: day}}},
		{name: "certify pending", given: []Event{req}, when: func(a Aggregate) error {
			return a.(*Erasure).Certify("{}\n", true, day)
		}, fails: "CONFLICT"},
		{name: "certify twice", given: []Event{req, ErasureCompleted{ErasureID: ers1}, ErasureCertified{ErasureID: ers1}}, when: func(a Aggregate) error {
			return a.(*Erasure).Certify("{}\n", true, day)
		}, fails: "CONFLICT"},
		{name: "grace too long", when: func(a Aggregate) error {
			return a.(*Erasure).Request(org1, SubjectUser, user1, 31, user2, day)
		}, fails: "INVALID"},
		{name: "bucket kinds are not ordered erased", when: func(a Aggregate) error {
			return a.(*Erasure).Request(org1, SubjectRetention, user1, 1, user2, day)
		}, fails: "INVALID"},
		{name: "restore within grace", given: []Event{req}, when: func(a Aggregate) error {
			return a.(*Erasure).Restore(user2, day.Add(time.Hour))
		}, then: []Event{ErasureRestored{ErasureID: ers1, RestoredBy: user2, RestoredAt: day.Add(time.Hour)}}},
		{name: "restore after grace", given: []Event{req}, when: func(a Aggregate) error {
			return a.(*Erasure).Restore(user2, day.AddDate(0, 0, 15))
		}, fails: "CONFLICT"},
		{name: "complete too early", given: []Event{req}, when: func(a Aggregate) error {
			return a.(*Erasure).Complete(user2, day.AddDate(0, 0, 13))
		}, fails: "CONFLICT"},
		{name: "complete", given: []Event{req}, when: func(a Aggregate) error {
			return a.(*Erasure).Complete(user2, day.AddDate(0, 0, 14))
		}, then: []Event{ErasureCompleted{ErasureID: ers1, SubjectType: SubjectUser, SubjectID: user1, CompletedBy: user2, CompletedAt: day.AddDate(0, 0, 14)}}},
		{name: "complete restored", given: []Event{req, ErasureRestored{ErasureID: ers1}}, when: func(a Aggregate) error {
			return a.(*Erasure).Complete(user2, day.AddDate(0, 0, 20))
		}, fails: "CONFLICT"},
	})
}
