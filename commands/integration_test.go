package commands_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/keyring"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// TestStoredEventsAreSealedAndChained writes a realistic history with the encrypting codec,
// then reads every stored event's raw bytes through the official client: no name, e-mail,
// title or text appears in plaintext, every stream's hash chain verifies, and the events
// decode back to their plaintext through the keyring.
func TestStoredEventsAreSealedAndChained(t *testing.T) {
	w := newWorld(t, true)
	ctx, a := w.ctx, w.app
	secrets := map[string]string{
		"org":          "Kommunen Hemligby",
		"email":        "sigrid.secret@hemligby.example",
		"admin":        "Sigrid Hemligsson",
		"user":         "Karl Karlsson-Lund",
		"space":        "Personalärenden Q3",
		"assistant":    "Lönehjälpen",
		"instructions": "Svara kortfattat om lönefrågor",
		"title":        "Lönelista oktober",
		"text":         "Anställd Berit Bengtsdotter tjänar 45 000 kronor",
		"message":      "Vad tjänar Berit egentligen?",
		"reply":        "Berit har lön enligt avtal",
		"payload":      "PROMPT-WITH-CONTEXT-7731",
		"why":          "Granskning av åtkomst till lönedata",
		"user e-mail":  "karl@hemligby.example",
	}
	b := must(a.Bootstrap.Handle(ctx, commands.Bootstrap{CommandID: uuid.NewString(), OrganizationName: secrets["org"],
		AdminEmail: secrets["email"], AdminName: secrets["admin"]}))(t)
	admin := b.AdminUserID
	s := domain.DefaultOrganizationSettings()
	s.Models = []domain.AllowedModel{{ID: "llm-a", Endpoint: "https://llm.example.se/v1", Region: domain.RegionSE, MaxClassification: domain.ClassRestricted}}
	must(a.ChangeOrganizationSettings.Handle(ctx, commands.ChangeOrganizationSettings{Meta: meta(admin), Settings: s}))(t)
	user := must(a.RegisterUser.Handle(ctx, commands.RegisterUser{Meta: meta(admin), Email: secrets["user e-mail"], Name: secrets["user"], Role: domain.OrgRoleCreator}))(t).ID
	space := must(a.CreateSpace.Handle(ctx, commands.CreateSpace{Meta: meta(admin), Name: secrets["space"], Classification: domain.ClassConfidential}))(t).ID
	must(a.EnableSpaceModels.Handle(ctx, commands.EnableSpaceModels{Meta: meta(admin), SpaceID: space, Models: []domain.ModelID{"llm-a"}}))(t)
	must(a.AddSpaceMember.Handle(ctx, commands.AddSpaceMember{Meta: meta(admin), SpaceID: space, UserID: user, Role: domain.SpaceRoleEditor}))(t)
	asst := must(a.CreateAssistant.Handle(ctx, commands.CreateAssistant{Meta: meta(user), SpaceID: space,
		Spec: domain.AssistantSpec{Name: secrets["assistant"], Instructions: secrets["instructions"], Model: "llm-a", LogModelPayloads: true}}))(t).ID
	// A text larger than one chunk, so the document spans several events.
	long := secrets["text"] + " " + strings.Repeat("Berit Bengtsdotter ", domain.ChunkBytes/19+10)
	doc := must(a.IngestDocument.Handle(ctx, commands.IngestDocument{Meta: meta(user), SpaceID: space, Title: secrets["title"], ContentType: "text/plain", Text: long}))(t).ID
	conv := must(a.StartConversation.Handle(ctx, commands.StartConversation{Meta: meta(user), AssistantID: asst}))(t).ID
	msg := must(a.SendMessage.Handle(ctx, commands.SendMessage{Meta: meta(user), ConversationID: conv, Text: secrets["message"]}))(t).ID
	must(a.RecordModelInvocation.Handle(ctx, commands.RecordModelInvocation{Meta: meta(user), ConversationID: conv,
		Invocation: domain.ModelInvocation{MessageID: msg, Model: "llm-a", Region: domain.RegionSE, RequestPayload: secrets["payload"],
			ResponsePayload: secrets["reply"], Outcome: domain.OutcomeOK, Excerpts: []domain.ExcerptRef{{DocumentID: doc}}}}))(t)
	must(a.ViewDocument.Handle(ctx, commands.ViewDocument{Meta: meta(user), DocumentID: doc}))(t)
	now := w.clock.Now()
	must(a.ViewAuditLog.Handle(ctx, commands.ViewAuditLog{Meta: meta(admin), Justification: secrets["why"], From: now.AddDate(0, 0, -1), To: now}))(t)
	if _, err := a.DeleteSpace.Handle(ctx, commands.DeleteSpace{Meta: meta(user), SpaceID: space}); !domain.Is(domain.KindForbidden, err) {
		t.Fatalf("editor deleted a space: %v", err)
	}

	// Raw bytes of every stored event, through the official client.
	rs, err := w.env.Store.Client().ReadAll(ctx, esdb.ReadAllOptions{From: esdb.Start{}}, 100000)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	streams := map[string]bool{}
	n := 0
	sawContentType := false
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		e := ev.Event
		if strings.HasPrefix(e.EventType, "$") {
			continue
		}
		n++
		streams[e.StreamID] = true
		for _, what := range leaks(e.Data, secrets) {
			t.Errorf("%s event %s holds the %s in plaintext", e.EventType, e.EventID, what)
		}
		for _, what := range leaks(e.UserMetadata, secrets) {
			t.Errorf("%s event %s metadata holds the %s in plaintext", e.EventType, e.EventID, what)
		}
		if bytes.Contains(e.Data, []byte(`"text/plain"`)) {
			sawContentType = true
		}
	}
	if !sawContentType {
		t.Fatal("the scan did not see the unsealed content type: it is not reading the stored payloads")
	}
	// Control: the same scan finds the plaintext in what the plaintext codec writes.
	plain, err := keyring.NewPlainCodec().Encode(ctx, uuid.NewString(), domain.MessageSent{Text: domain.Seal(secrets["message"], domain.ConversationSubject(conv))})
	if err != nil || len(leaks(plain, secrets)) == 0 {
		t.Fatalf("the scan misses plaintext in a plaintext-codec payload (%v)", err)
	}
	if n < 15 {
		t.Fatalf("only %d events stored", n)
	}
	for stream := range streams {
		if _, _, err := w.app.VerifyStream(ctx, stream); err != nil {
			t.Errorf("chain of %s: %v", stream, err)
		}
	}

	// Decryption through the keyring gives the plaintext back.
	_, userEvents := w.events(domain.StreamPrefixUser + admin)
	if reg := userEvents[0].(domain.UserRegistered); reg.Email.Plain != secrets["email"] || reg.Name.Plain != secrets["admin"] {
		t.Fatalf("admin registration decoded to %q / %q", reg.Email.Plain, reg.Name.Plain)
	}
	_, docEvents := w.events(domain.StreamPrefixDocument + doc)
	ing := docEvents[0].(domain.DocumentIngested)
	if ing.Title.Plain != secrets["title"] || ing.ChunkCount < 2 || len(docEvents) != 1+ing.ChunkCount {
		t.Fatalf("document decoded to %q with %d chunks in %d events", ing.Title.Plain, ing.ChunkCount, len(docEvents))
	}
	var text strings.Builder
	for _, e := range docEvents[1:] {
		text.WriteString(e.(domain.DocumentTextChunkAdded).Text.Plain)
	}
	if text.String() != long {
		t.Fatal("document chunks do not rejoin to the ingested text")
	}
	_, convEvents := w.events(domain.StreamPrefixConversation + conv)
	if m := convEvents[1].(domain.MessageSent); m.Text.Plain != secrets["message"] {
		t.Fatalf("message decoded to %q", m.Text.Plain)
	}
	if inv := convEvents[2].(domain.ModelInvocationRecorded); !inv.PayloadLogged || func() bool { r, ok := inv.Request(); return !ok || r != secrets["payload"] }() {
		t.Fatalf("invocation decoded to %+v", inv)
	}

	// Tampering with a stored event's bytes breaks the chain at the next event.
	spaceStream := domain.StreamPrefixSpace + space
	conn, err := pgx.Connect(ctx, w.env.PGURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `UPDATE esdb.events SET data = data || ' '::bytea WHERE stream = $1 AND revision = 1`, spaceStream); err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.app.VerifyStream(ctx, spaceStream); !domain.Is(domain.KindConflict, err) || !strings.Contains(err.Error(), "revision 2") {
		t.Fatalf("tampered event not detected: %v", err)
	}
}

// TestIdempotentRetry: a retried command appends nothing twice — neither the exact retry
// (same expected revision) nor a retry after the stream moved on.
func TestIdempotentRetry(t *testing.T) {
	w := newWorld(t, false)
	ctx, a := w.ctx, w.app
	o := w.bootstrap("Org", "admin@org.example")
	create := commands.CreateSpace{Meta: meta(o.admin), Name: "Space", Classification: domain.ClassInternal}
	first := must(a.CreateSpace.Handle(ctx, create))(t)
	again := must(a.CreateSpace.Handle(ctx, create))(t)
	if first != again {
		t.Fatalf("retry returned %+v, first run %+v", again, first)
	}
	stream := domain.StreamPrefixSpace + first.ID
	if recs, _ := w.events(stream); len(recs) != 2 {
		t.Fatalf("space stream has %d events after a retried create, want 2", len(recs))
	}
	u1, u2 := w.user(o, domain.OrgRoleUser), w.user(o, domain.OrgRoleUser)
	add := commands.AddSpaceMember{Meta: meta(o.admin), SpaceID: first.ID, UserID: u1, Role: domain.SpaceRoleViewer}
	added := must(a.AddSpaceMember.Handle(ctx, add))(t)
	must(a.AddSpaceMember.Handle(ctx, commands.AddSpaceMember{Meta: meta(o.admin), SpaceID: first.ID, UserID: u2, Role: domain.SpaceRoleViewer}))(t)
	retried, err := a.AddSpaceMember.Handle(ctx, add)
	if err != nil || retried.Position != added.Position {
		t.Fatalf("retry after the stream moved on: %+v, %v; want position %d", retried, err, added.Position)
	}
	recs, _ := w.events(stream)
	if len(recs) != 4 {
		t.Fatalf("space stream has %d events, want 4", len(recs))
	}
	if recs[len(recs)-1].Position <= added.Position {
		t.Fatal("positions are not increasing")
	}
	// A denied command retried appends its denial once.
	denied := commands.DeleteSpace{Meta: meta(u1), SpaceID: first.ID}
	for i := 0; i < 2; i++ {
		if _, err := a.DeleteSpace.Handle(ctx, denied); !domain.Is(domain.KindForbidden, err) {
			t.Fatalf("viewer deleted the space: %v", err)
		}
	}
	count := 0
	accRecs, _ := w.events(domain.AccessStream(o.id))
	for _, r := range accRecs {
		if strings.Contains(string(r.Metadata), denied.CommandID) {
			count++
		}
	}
	if count != 1 {
		t.Fatalf("retried denial recorded %d times", count)
	}
}

// TestConcurrentCommands: concurrent commands on one stream are serialised by expected
// revisions — each either wins, retries and succeeds, or surfaces KindConflict — and the
// stream's chain stays intact.
func TestConcurrentCommands(t *testing.T) {
	w := newWorld(t, false)
	ctx, a := w.ctx, w.app
	o := w.bootstrap("Org", "admin@org.example")
	space := must(a.CreateSpace.Handle(ctx, commands.CreateSpace{Meta: meta(o.admin), Name: "Busy", Classification: domain.ClassInternal}))(t).ID
	const n = 8
	users := make([]string, n)
	for i := range users {
		users[i] = w.user(o, domain.OrgRoleUser)
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range users {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, errs[i] = a.AddSpaceMember.Handle(ctx, commands.AddSpaceMember{Meta: meta(o.admin), SpaceID: space, UserID: users[i], Role: domain.SpaceRoleViewer})
		}(i)
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !domain.Is(domain.KindConflict, err):
			t.Fatalf("concurrent add: %v", err)
		}
	}
	stream := domain.StreamPrefixSpace + space
	recs, _ := w.events(stream)
	if len(recs) != 2+ok || ok == 0 {
		t.Fatalf("%d adds succeeded, stream has %d events", ok, len(recs))
	}
	if _, _, err := w.app.VerifyStream(ctx, stream); err != nil {
		t.Fatal(err)
	}

	// The same member added by two commands at once: exactly one wins, the other is a
	// conflict (after reloading, the user is already a member).
	u := w.user(o, domain.OrgRoleUser)
	var wg2 sync.WaitGroup
	results := make([]error, 2)
	for i := range results {
		wg2.Add(1)
		go func(i int) {
			defer wg2.Done()
			_, results[i] = a.AddSpaceMember.Handle(ctx, commands.AddSpaceMember{Meta: meta(o.admin), SpaceID: space, UserID: u, Role: domain.SpaceRoleEditor})
		}(i)
	}
	wg2.Wait()
	wins, conflicts := 0, 0
	for _, err := range results {
		switch {
		case err == nil:
			wins++
		case domain.Is(domain.KindConflict, err):
			conflicts++
		default:
			t.Fatalf("unexpected error: %v", err)
		}
	}
	if wins != 1 || conflicts != 1 {
		t.Fatalf("%d wins and %d conflicts, want one of each", wins, conflicts)
	}
}

// TestValidationErrorsAreClear: bad input is KindInvalid with a message naming the field
// and never echoing the input.
func TestValidationErrorsAreClear(t *testing.T) {
	w := newWorld(t, false)
	o := w.bootstrap("Org", "admin@org.example")
	_, err := w.app.RegisterUser.Handle(w.ctx, commands.RegisterUser{Meta: meta(o.admin), Email: "not-an-address", Name: "X", Role: domain.OrgRoleUser})
	if !domain.Is(domain.KindInvalid, err) || strings.Contains(err.Error(), "not-an-address") || !strings.Contains(domain.PublicMessage(err), "e-mail") {
		t.Fatalf("bad e-mail: %v", err)
	}
	_, err = w.app.CreateSpace.Handle(w.ctx, commands.CreateSpace{Meta: meta(o.admin), Name: "S", Classification: "TOP_SECRET"})
	if !domain.Is(domain.KindInvalid, err) || !strings.Contains(domain.PublicMessage(err), "classification") {
		t.Fatalf("bad classification: %v", err)
	}
	_, err = w.app.CreateSpace.Handle(w.ctx, commands.CreateSpace{Meta: commands.Meta{ActorID: o.admin}, Name: "S", Classification: domain.ClassPublic})
	if !domain.Is(domain.KindInvalid, err) {
		t.Fatalf("missing command id: %v", err)
	}
	_, err = w.app.CreateSpace.Handle(w.ctx, commands.CreateSpace{Meta: meta(uuid.NewString()), Name: "S", Classification: domain.ClassPublic})
	if !domain.Is(domain.KindUnauthenticated, err) {
		t.Fatalf("unknown actor: %v", err)
	}
	_, err = w.app.DeleteSpace.Handle(w.ctx, commands.DeleteSpace{Meta: meta(o.admin), SpaceID: uuid.NewString()})
	if !domain.Is(domain.KindNotFound, err) {
		t.Fatalf("missing space: %v", err)
	}
	if _, err := w.app.Bootstrap.Handle(w.ctx, commands.Bootstrap{CommandID: uuid.NewString(), OrganizationName: "", AdminEmail: "a@b.se", AdminName: "A"}); !domain.Is(domain.KindInvalid, err) {
		t.Fatalf("bootstrap without a name: %v", err)
	}
}

var envelope = regexp.MustCompile(`"ak[01]\.([A-Za-z0-9_-]+)"`)

// leaks returns which secrets appear in b, either as raw bytes or inside a base64url field
// envelope (where the plaintext codec would put them).
func leaks(b []byte, secrets map[string]string) []string {
	hay := [][]byte{b}
	for _, m := range envelope.FindAllSubmatch(b, -1) {
		if raw, err := base64.RawURLEncoding.DecodeString(string(m[1])); err == nil {
			hay = append(hay, raw)
		}
	}
	var out []string
	for what, plain := range secrets {
		words := strings.Fields(plain)
		for _, probe := range []string{plain, words[len(words)-1]} {
			found := false
			for _, h := range hay {
				if len(probe) >= 6 && bytes.Contains(h, []byte(probe)) {
					found = true
				}
			}
			if found {
				out = append(out, what)
				break
			}
		}
	}
	return out
}
