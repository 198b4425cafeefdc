package graphql_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/keyring"
)

// waitManagers blocks until the erasure and retention process managers have applied the
// event at position.
func (s *stack) waitManagers(t testing.TB, position string) {
	t.Helper()
	pos, err := strconv.ParseUint(position, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.p.Waiter.WaitFor(ctx, s.p.Managers.Names(), pos, 20*time.Second); err != nil {
		t.Fatalf("waiting for the process managers at %d: %v", pos, err)
	}
}

// sealedTitle decodes a document's ingestion event through the platform's codec: the
// keyring's view of the document's sealed title.
func (s *stack) sealedTitle(t testing.TB, doc string) domain.Sealed {
	t.Helper()
	ctx := context.Background()
	recs, _, err := s.p.Store.Load(ctx, domain.StreamPrefixDocument+doc)
	if err != nil || len(recs) == 0 {
		t.Fatalf("loading the document's stream: %d events, %v", len(recs), err)
	}
	var ev domain.DocumentIngested
	if err := s.p.Codec.Decode(ctx, recs[0].EventID, recs[0].Data, &ev); err != nil {
		t.Fatal(err)
	}
	return ev.Title
}

// testErasureProcessManager: an erasure ordered through the API reaches the keyring through
// the erasure process manager — the document's sealed fields are redacted for every reader,
// restoreErasure within the window brings them back, and an erasure without grace ends with
// the key destroyed and no way back.
func testErasureProcessManager(t *testing.T, s *stack) {
	ctx := context.Background()
	o := s.newOrg(t, testSettings())
	sp := s.space(t, o.adminKey)
	const text = "Minutes of the board: the harbour project is postponed to 2027."
	ingest := func(title string) string {
		return s.mutate(t, o.adminKey, mIngest, map[string]any{"in": map[string]any{"spaceId": sp, "title": title, "content": text}})
	}
	doc, gone := ingest("Board minutes"), ingest("Draft minutes")
	content := func(id string) any {
		r := s.ok(t, o.adminKey, `query($d: ID!) { document(id: $d) { content } }`, map[string]any{"d": id})
		if r["document"] == nil {
			return nil
		}
		return r["document"].(map[string]any)["content"]
	}
	if c := content(doc); c != text {
		t.Fatalf("content before erasure = %v", c)
	}
	subject := domain.DocumentSubject(doc)
	state := func(s0 domain.Subject) keyring.Status {
		st, err := s.p.Keyring.State(ctx, s0)
		if err != nil {
			t.Fatal(err)
		}
		return st.Status
	}

	r := s.ok(t, o.adminKey, `mutation($in: RequestErasureInput!) { requestErasure(input: $in) { id position } }`,
		map[string]any{"in": map[string]any{"subjectType": "DOCUMENT", "subjectId": doc}})["requestErasure"].(map[string]any)
	erasure := r["id"].(string)
	s.waitManagers(t, r["position"].(string))
	if st := state(subject); st != keyring.StatusShredding {
		t.Fatalf("keyring state after requestErasure = %s, want shredding", st)
	}
	if title := s.sealedTitle(t, doc); !title.Redacted || title.Plain != "" {
		t.Fatal("the document's sealed title still opens after erasure")
	}

	r = s.ok(t, o.adminKey, `mutation($id: ID!) { restoreErasure(id: $id) { id position } }`,
		map[string]any{"id": erasure})["restoreErasure"].(map[string]any)
	s.waitManagers(t, r["position"].(string))
	s.wait(t, r["position"].(string))
	if st := state(subject); st != keyring.StatusActive {
		t.Fatalf("keyring state after restoreErasure = %s, want active", st)
	}
	if title := s.sealedTitle(t, doc); title.Redacted || title.Plain != "Board minutes" {
		t.Fatal("the restored document's title does not open")
	}
	s.waitFor(t, func() bool { return content(doc) == text })

	// No grace: the process manager completes the erasure at once and destroys the key.
	r = s.ok(t, o.adminKey, `mutation($in: RequestErasureInput!) { requestErasure(input: $in) { id position } }`,
		map[string]any{"in": map[string]any{"subjectType": "DOCUMENT", "subjectId": gone, "graceDays": 0}})["requestErasure"].(map[string]any)
	s.waitFor(t, func() bool { return state(domain.DocumentSubject(gone)) == keyring.StatusDestroyed })
	if c := content(gone); c != nil {
		t.Fatalf("destroyed document's content = %v", c)
	}
	if rr := s.do(t, o.adminKey, `mutation($id: ID!) { restoreErasure(id: $id) { id position } }`, map[string]any{"id": r["id"]}); rr.code() == "" {
		t.Fatal("restoreErasure of a completed erasure succeeded")
	}
	if title := s.sealedTitle(t, gone); !title.Redacted {
		t.Fatal("the destroyed document's title still opens")
	}
}
