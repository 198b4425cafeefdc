package processmanagers_test

import (
	"errors"
	"testing"
	"time"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/keyring"
)

// TestLegalHoldKeepsBucketsFromRetention: buckets whose data a held conversation, user or
// space holds survive the retention sweep while the hold lasts and are destroyed once it is
// lifted; an unheld conversation's bucket of another assistant goes as usual. While held,
// an erasure of the conversation is refused with the typed legal-hold error, and the
// refusal is recorded as a denial.
func TestLegalHoldKeepsBucketsFromRetention(t *testing.T) {
	w := newWorld(t)
	o := w.bootstrap()
	heldSpace, inHeldSpace := w.space(o, 7)
	_, byConv := w.space(o, 7)
	_, free := w.space(o, 7)
	spaceConv, spaceMsg := w.chat(o, inHeldSpace, "Kept: the space is held.")
	conv, msg := w.chat(o, byConv, "Kept: the conversation is held.")
	freeConv, freeMsg := w.chat(o, free, "Not held: goes after seven days.")
	hold := func(kind domain.SubjectKind, id string) string {
		return must(w.app.PlaceLegalHold.Handle(w.ctx, commands.PlaceLegalHold{Meta: meta(o.admin), SubjectType: kind, SubjectID: id,
			Reason: "Arkivlagen (1990:782) 3 §: dnr KS 2026/41"}))(t).ID
	}
	spaceHold, convHold := hold(domain.SubjectSpace, heldSpace), hold(domain.SubjectConversation, conv)

	_, err := w.app.RequestErasure.Handle(w.ctx, commands.RequestErasure{Meta: meta(o.admin), SubjectType: domain.SubjectConversation, SubjectID: conv})
	if !errors.Is(err, domain.ErrUnderLegalHold) || !domain.Is(domain.KindConflict, err) {
		t.Fatalf("erasure of a held conversation: %v", err)
	}
	denials := 0
	for _, e := range w.events(domain.AccessStream(o.id)) {
		if d, ok := e.(domain.AccessDenied); ok && d.Reason == domain.ReasonLegalHold && d.Command == domain.CmdRequestErasure {
			denials++
		}
	}
	if denials != 1 {
		t.Fatalf("%d legal-hold denials recorded, want 1", denials)
	}

	w.clock.Advance(30 * 24 * time.Hour)
	m := w.start()
	w.eventually("a sweep finds nothing left to destroy", func() bool {
		n, err := m.SweepRetention(w.ctx)
		return err == nil && n == 0
	})
	if got := w.message(freeConv, freeMsg); !redacted(got) {
		t.Fatalf("an unheld message past retention is readable: %+v", got)
	}
	if got := w.message(spaceConv, spaceMsg); got.Plain != "Kept: the space is held." {
		t.Fatalf("a message of a held space was destroyed by retention: %+v", got)
	}
	if got := w.message(conv, msg); got.Plain != "Kept: the conversation is held." {
		t.Fatalf("a message of a held conversation was destroyed by retention: %+v", got)
	}

	for _, h := range []string{spaceHold, convHold} {
		must(w.app.LiftLegalHold.Handle(w.ctx, commands.LiftLegalHold{Meta: meta(o.admin), HoldID: h, Reason: "case closed"}))(t)
	}
	w.eventually("the lifted holds' buckets are destroyed", func() bool {
		if _, err := m.SweepRetention(w.ctx); err != nil {
			return false
		}
		return redacted(w.message(conv, msg)) && redacted(w.message(spaceConv, spaceMsg))
	})
}

// TestHoldOnOwnerKeepsAPendingErasure: a conversation deleted with a day's grace, then its
// owner put under legal hold: after the day the key is still shredding (the erasure manager
// moved its window out) and completion is refused with the legal-hold error; once the hold
// is lifted the erasure completes and the key is destroyed.
func TestHoldOnOwnerKeepsAPendingErasure(t *testing.T) {
	w := newWorld(t)
	o := w.bootstrap()
	_, assistant := w.space(o, 0)
	conv, msg := w.chat(o, assistant, "Kept while the owner is held.")
	m := w.start()
	one := 1
	erasure := must(w.app.RequestErasure.Handle(w.ctx, commands.RequestErasure{Meta: meta(o.admin),
		SubjectType: domain.SubjectConversation, SubjectID: conv, GraceDays: &one}))(t).ID
	hold := must(w.app.PlaceLegalHold.Handle(w.ctx, commands.PlaceLegalHold{Meta: meta(o.admin), SubjectType: domain.SubjectUser,
		SubjectID: o.admin, Reason: "Arkivlagen 3 §"}))(t).ID
	w.eventually("the held erasure's window moves out", func() bool {
		st, err := w.kr.State(w.ctx, domain.ConversationSubject(conv))
		return err == nil && st.DestroyAfter.After(w.clock.Now().AddDate(1, 0, 0))
	})
	w.clock.Advance(3 * 24 * time.Hour)
	if _, err := m.CompleteDueErasures(w.ctx); err != nil {
		t.Fatal(err)
	}
	var state string
	if err := w.pool.QueryRow(w.ctx, `SELECT state FROM pm_erasures WHERE erasure_id = $1`, erasure).Scan(&state); err != nil || state != "PENDING" {
		t.Fatalf("the held erasure is %q (%v)", state, err)
	}
	if st, err := w.kr.State(w.ctx, domain.ConversationSubject(conv)); err != nil || st.Status != keyring.StatusShredding {
		t.Fatalf("the held conversation's key is %v (%v)", st.Status, err)
	}
	_, err := w.app.CompleteErasure.Handle(w.ctx, commands.CompleteErasure{Meta: meta(o.admin), ErasureID: erasure})
	if !errors.Is(err, domain.ErrUnderLegalHold) {
		t.Fatalf("completing a held erasure: %v", err)
	}
	must(w.app.LiftLegalHold.Handle(w.ctx, commands.LiftLegalHold{Meta: meta(o.admin), HoldID: hold, Reason: "case closed"}))(t)
	w.eventually("the erasure completes after the lift", func() bool {
		_, _ = m.CompleteDueErasures(w.ctx)
		st, err := w.kr.State(w.ctx, domain.ConversationSubject(conv))
		return err == nil && st.Status == keyring.StatusDestroyed
	})
	if got := w.message(conv, msg); !redacted(got) {
		t.Fatalf("the erased conversation's message is readable: %+v", got)
	}
}
