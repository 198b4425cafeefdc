package domain

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func policySettings(euOnly bool) OrganizationSettings {
	s := DefaultOrganizationSettings()
	s.EUOnly = euOnly
	s.Models = []AllowedModel{
		{ID: "se-model", Endpoint: "https://se.example/v1", Region: RegionSE, MaxClassification: ClassRestricted},
		{ID: "eu-model", Endpoint: "https://eu.example/v1", Region: RegionEU, MaxClassification: ClassInternal},
		{ID: "onprem-model", Endpoint: "http://gpu.local/v1", Region: RegionOnPrem, MaxClassification: ClassConfidential},
		{ID: "us-model", Endpoint: "https://us.example/v1", Region: RegionUS, MaxClassification: ClassRestricted},
	}
	return s
}

func TestCheckModelUse(t *testing.T) {
	all := []ModelID{"se-model", "eu-model", "onprem-model", "us-model"}
	cases := []struct {
		name    string
		euOnly  bool
		class   Classification
		enabled []ModelID
		model   ModelID
		want    string // "" = allowed, else a fragment of the refusal
	}{
		{"allowed", false, ClassConfidential, all, "se-model", ""},
		{"not allow-listed", false, ClassPublic, append(all, "ghost"), "ghost", "allow-list"},
		{"not enabled in the space", false, ClassPublic, []ModelID{"se-model"}, "eu-model", "not enabled"},
		{"classification too high", false, ClassConfidential, all, "eu-model", "may not see data classified CONFIDENTIAL"},
		{"US model allowed when not EU-only", false, ClassRestricted, all, "us-model", ""},
		{"EU-only refuses a US model", true, ClassPublic, all, "us-model", "EU-only"},
		{"EU-only allows on-prem", true, ClassConfidential, all, "onprem-model", ""},
		{"EU-only allows SE", true, ClassRestricted, all, "se-model", ""},
		{"unknown classification", false, "SECRET", all, "se-model", "classification"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := CheckModelUse(policySettings(c.euOnly), c.class, c.enabled, c.model)
			if c.want == "" {
				if err != nil || m.ID != c.model {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !Is(KindForbidden, err) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want FORBIDDEN containing %q", err, c.want)
			}
		})
	}
}

func TestLimitsFor(t *testing.T) {
	cases := []struct {
		n, m   int
		region Region
		want   RetrievalLimits
	}{
		{0, 0, RegionSE, RetrievalLimits{DefaultMaxExcerpts, DefaultMaxExcerptChars}},
		{8, 9000, RegionEU, RetrievalLimits{8, 9000}},
		{0, 0, RegionUS, RetrievalLimits{NonEUMaxExcerpts, NonEUMaxExcerptChars}},
		{10, 20000, RegionUS, RetrievalLimits{NonEUMaxExcerpts, NonEUMaxExcerptChars}},
		{2, 1000, RegionUS, RetrievalLimits{2, 1000}},
		{99, 99999, RegionOnPrem, RetrievalLimits{MaxExcerptsBound, MaxExcerptCharsBound}},
	}
	for _, c := range cases {
		if got := LimitsFor(c.n, c.m, c.region); got != c.want {
			t.Errorf("LimitsFor(%d, %d, %s) = %+v, want %+v", c.n, c.m, c.region, got, c.want)
		}
	}
	if ValidateRetrievalSettings(0, 0) != nil || ValidateRetrievalSettings(MaxExcerptsBound+1, 0) == nil || ValidateRetrievalSettings(1, 50) == nil {
		t.Fatal("retrieval settings bounds")
	}
}

func words(n int, w string) string { return strings.TrimSpace(strings.Repeat(w+" ", n)) }

func TestSelectExcerpts(t *testing.T) {
	doc := func(i int) string { return "00000000-0000-4000-8000-00000000000" + string(rune('a'+i)) }
	var cands []Candidate
	// Document a has 10 chunks, b has 2, c has 1 (its only chunk is the whole document).
	for i := 0; i < 10; i++ {
		cands = append(cands, Candidate{DocumentID: doc(0), ChunkIndex: i, Text: words(100, "alpha"), Score: 1 - float64(i)/100, DocumentChunks: 10})
	}
	cands = append(cands,
		Candidate{DocumentID: doc(1), ChunkIndex: 0, Text: words(100, "beta"), Score: 0.999, DocumentChunks: 2},
		Candidate{DocumentID: doc(1), ChunkIndex: 1, Text: words(100, "beta"), Score: 0.998, DocumentChunks: 2},
		Candidate{DocumentID: doc(2), ChunkIndex: 0, Text: words(100, "gamma"), Score: 0.9995, DocumentChunks: 1},
		Candidate{DocumentID: doc(0), ChunkIndex: 0, Text: "duplicate", Score: 0.1, DocumentChunks: 10},
	)
	lim := RetrievalLimits{MaxExcerpts: 12, MaxChars: 100000}
	got := SelectExcerpts(cands, lim)
	perDoc := map[string]int{}
	for i, c := range got {
		perDoc[c.DocumentID]++
		if i > 0 && c.Score > got[i-1].Score {
			t.Fatal("excerpts are not best first")
		}
	}
	if perDoc[doc(0)] != 5 || perDoc[doc(1)] != 1 || perDoc[doc(2)] != 1 {
		t.Fatalf("per-document counts %v, want at most half of each document", perDoc)
	}
	for _, c := range got {
		if c.DocumentID == doc(2) && utf8.RuneCountInString(c.Text) > utf8.RuneCountInString(words(100, "gamma"))/2 {
			t.Fatalf("the only chunk of a one-chunk document was sent whole (%d runes)", utf8.RuneCountInString(c.Text))
		}
	}

	// Count and character limits hold; the last excerpt is cut at a word to fit.
	got = SelectExcerpts(cands, RetrievalLimits{MaxExcerpts: 3, MaxChars: 1500})
	total := 0
	for _, c := range got {
		total += utf8.RuneCountInString(c.Text)
		if strings.HasSuffix(c.Text, " ") || strings.Contains(c.Text, "alph ") {
			t.Fatalf("excerpt cut inside a word: %q", c.Text[len(c.Text)-10:])
		}
	}
	if len(got) > 3 || total > 1500 {
		t.Fatalf("%d excerpts, %d characters: limits 3 / 1500 broken", len(got), total)
	}
	if len(SelectExcerpts(nil, lim)) != 0 {
		t.Fatal("no candidates, no excerpts")
	}
}

func TestRecordModelInvocationSealsPartsUnderDocuments(t *testing.T) {
	day := time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC)
	const (
		org  = "00000000-0000-4000-8000-000000000001"
		user = "00000000-0000-4000-8000-000000000002"
		conv = "00000000-0000-4000-8000-000000000003"
		asst = "00000000-0000-4000-8000-000000000004"
		spc  = "00000000-0000-4000-8000-000000000005"
		msg  = "00000000-0000-4000-8000-000000000006"
		inv  = "00000000-0000-4000-8000-000000000007"
		docA = "00000000-0000-4000-8000-00000000000a"
	)
	a := NewAssistant(asst)
	Replay(a, []Event{AssistantCreated{AssistantID: asst, OrganizationID: org, SpaceID: spc, Model: "m", LogModelPayloads: true}}, 0)
	c := NewConversation(conv)
	Replay(c, []Event{ConversationStarted{ConversationID: conv, OrganizationID: org, SpaceID: spc, AssistantID: asst, StartedBy: user},
		MessageSent{ConversationID: conv, MessageID: msg, Author: user}}, 1)
	payload := `{"q":"why","ctx":"secret text of A"}`
	parts := []PayloadPart{{Text: `{"q":"why","ctx":"`}, {Text: `secret text of A`, Documents: []string{docA}}, {Text: `"}`}}
	in := ModelInvocation{InvocationID: inv, MessageID: msg, Model: "m", Region: RegionSE, Outcome: OutcomeOK,
		Excerpts: []ExcerptRef{{DocumentID: docA}}, RequestPayload: payload, RequestParts: parts, ResponsePayload: "because"}
	bad := in
	bad.RequestParts = parts[:2]
	if err := c.RecordModelInvocation(a, bad, user, day); !Is(KindInvalid, err) {
		t.Fatalf("parts that do not rejoin the payload: %v", err)
	}
	if err := c.RecordModelInvocation(a, in, user, day); err != nil {
		t.Fatal(err)
	}
	ev := c.Changes()[0].(ModelInvocationRecorded)
	if got, ok := ev.Request(); !ok || got != payload || ev.RequestSHA256 != PayloadHash(payload) {
		t.Fatalf("readable request %q, complete %v", got, ok)
	}
	hasDoc := func(subs []Subject) bool {
		for _, s := range subs {
			if s == DocumentSubject(docA) {
				return true
			}
		}
		return false
	}
	if hasDoc(ev.RequestParts[0].Text.Subjects) || !hasDoc(ev.RequestParts[1].Text.Subjects) || !hasDoc(ev.ResponsePayload.Subjects) {
		t.Fatal("only the excerpt's part (and the response) must depend on the document")
	}
	ev.RequestParts[1].Text = Sealed{Redacted: true}
	if got, ok := ev.Request(); ok || got != `{"q":"why","ctx":"`+RedactedMarker+`"}` {
		t.Fatalf("after erasure the readable request is %q", got)
	}

	// An Admin's ForbidModelPayloadLogging overrides the assistant: only the hash is kept.
	forbidden := in
	forbidden.InvocationID = "00000000-0000-4000-8000-000000000008"
	forbidden.PayloadLoggingForbidden = true
	if err := c.RecordModelInvocation(a, forbidden, user, day); err != nil {
		t.Fatal(err)
	}
	ev = c.Changes()[1].(ModelInvocationRecorded)
	if ev.PayloadLogged || len(ev.RequestParts) != 0 || ev.ResponsePayload.Plain != "" || ev.RequestSHA256 != PayloadHash(payload) {
		t.Fatalf("payloads kept although the organisation forbids it: %+v", ev)
	}
}
