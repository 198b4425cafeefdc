package projections_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/arkiv/arkiv/app/apptest"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/keyring"
	"github.com/arkiv/arkiv/projections"
	"github.com/arkiv/arkiv/projections/engine"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// TestBatchPathsWriteWhatApplyWrites: the COPY paths of the insert-only projections (audit,
// model invocations) write exactly the rows of their one-event-at-a-time paths, over the
// scripted world plus model invocations of every outcome. The runner and rebuilds fall back
// to Apply when ApplyBatch fails, so the batch paths are checked here on their own.
func TestBatchPathsWriteWhatApplyWrites(t *testing.T) {
	t.Parallel()
	f := apptest.NewFixture(t)
	s := apptest.NewScript(f, keyring.NewPlainCodec())
	s.World()
	org, space, user, conv, doc := uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString()
	at := time.Date(2026, 3, 3, 12, 0, 0, 0, time.UTC)
	for i, outcome := range []string{domain.OutcomeOK, domain.OutcomeRefused, domain.OutcomeError, domain.OutcomeTimeout} {
		ev := domain.ModelInvocationRecorded{ConversationID: conv, InvocationID: uuid.NewString(), MessageID: uuid.NewString(),
			AssistantID: uuid.NewString(), UserID: user, Model: "llm-a", Region: "eu-north", Outcome: outcome,
			PromptTokens: 100 + i, CompletionTokens: 20, LatencyMillis: int64(300 + i), Attempts: 1, InvokedAt: at}
		if i%2 == 0 { // payload logged, with excerpts and sealed parts
			ev.PayloadLogged = true
			ev.Excerpts = []domain.ExcerptRef{{DocumentID: doc, ChunkIndex: i, Score: 0.5}}
			ev.RequestParts = []domain.SealedPart{{Text: domain.Seal(fmt.Sprint("question ", i), domain.UserSubject(user)), Documents: []string{doc}}}
			ev.RequestSHA256 = strings.Repeat("ab", 32)
			ev.ResponsePayload = domain.Seal("answer", domain.UserSubject(user))
		} else {
			ev.Error = "provider said no"
		}
		s.Emit("conversation-"+conv, user, org, space, ev)
	}
	var evs []engine.Event
	var pos *engine.Position
	for {
		pg, err := f.Log.Read(f.Ctx, pos, 1000)
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, pg.Events...)
		if pg.End || pg.Last == nil {
			break
		}
		pos = pg.Last
	}
	for _, p := range []engine.BatchProjection{projections.NewAudit(), projections.NewModelInvocations()} {
		tables := p.Tables()
		apply := func(fn func(ctx context.Context, tx pgx.Tx) error) string {
			t.Helper()
			if _, err := f.Pool.Exec(f.Ctx, "TRUNCATE "+strings.Join(tables, ", ")); err != nil {
				t.Fatal(err)
			}
			if err := pgx.BeginFunc(f.Ctx, f.Pool, func(tx pgx.Tx) error { return fn(f.Ctx, tx) }); err != nil {
				t.Fatalf("%s: %v", p.Name(), err)
			}
			return apptest.Dump(t, f.Ctx, f.Pool, tables)
		}
		one := apply(func(ctx context.Context, tx pgx.Tx) error {
			for _, ev := range evs {
				if err := p.Apply(ctx, tx, ev); err != nil {
					return err
				}
			}
			return nil
		})
		batch := apply(func(ctx context.Context, tx pgx.Tx) error { return p.ApplyBatch(ctx, tx, evs) })
		if batch != one {
			t.Errorf("%s: ApplyBatch wrote other rows than Apply:\n%s", p.Name(), diffLines(one, batch))
		}
		switch p.Name() {
		case projections.NameAudit:
			if !strings.Contains(one, `"outcome":"denied"`) || strings.Count(one, `"event_id"`) <= len(evs) {
				t.Errorf("the log has %d events; audit should hold a row for each and some denials:\n%.2000s", len(evs), one)
			}
		default:
			if strings.Count(one, `"invocation_id"`) != 4 || !strings.Contains(one, `"response_payload":{`) {
				t.Errorf("model invocations should hold the 4 invocations, some with a sealed response:\n%.3000s", one)
			}
		}
	}
}
