package processmanagers_test

import (
	"testing"
	"time"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/keyring"
	"github.com/arkiv/arkiv/projections/processmanagers"
)

// TestDocumentErasureHidesRestoresAndDestroys follows a document through an erasure that is
// restored, then one that runs its course: hidden at once, readable again after the restore,
// destroyed once the grace window has passed, with erasure.completed recorded once however
// often the scheduler runs and across a restart of the manager.
func TestDocumentErasureHidesRestoresAndDestroys(t *testing.T) {
	w := newWorld(t)
	o := w.bootstrap()
	space, _ := w.space(o, 0)
	doc := w.document(o, space, "The text of the policy.")
	other := w.document(o, space, "Another document.")
	m := w.start()

	one := 1
	first := must(w.app.RequestErasure.Handle(w.ctx, commands.RequestErasure{Meta: meta(o.admin),
		SubjectType: domain.SubjectDocument, SubjectID: doc, GraceDays: &one}))(t).ID
	w.eventually("the document's title is redacted", func() bool { return redacted(w.title(doc)) })
	if got := w.title(other); got.Redacted || got.Plain != "Policy" {
		t.Fatalf("another document of the space was hidden too: %+v", got)
	}
	must(w.app.RestoreErasure.Handle(w.ctx, commands.RestoreErasure{Meta: meta(o.admin), ErasureID: first}))(t)
	w.eventually("the document's title is readable again", func() bool { return w.title(doc).Plain == "Policy" })

	second := must(w.app.RequestErasure.Handle(w.ctx, commands.RequestErasure{Meta: meta(o.admin),
		SubjectType: domain.SubjectDocument, SubjectID: doc, GraceDays: &one}))(t).ID
	w.eventually("the document's title is redacted again", func() bool { return redacted(w.title(doc)) })

	// Not due yet: nothing is completed.
	if n, err := m.CompleteDueErasures(w.ctx); err != nil || n != 0 {
		t.Fatalf("CompleteDueErasures before the window ended = %d, %v", n, err)
	}
	w.clock.Advance(24*time.Hour + time.Minute)
	// The manager learns of the second request through its own subscription, which may
	// trail the read model the test watched: run the scheduler until it has caught up.
	completed := 0
	w.eventually("the due erasure is completed", func() bool {
		n, err := m.CompleteDueErasures(w.ctx)
		if err != nil {
			t.Fatalf("CompleteDueErasures: %v", err)
		}
		completed += n
		return completed > 0
	})
	if completed != 1 {
		t.Fatalf("CompleteDueErasures completed %d erasures, want 1", completed)
	}
	if _, err := m.CompleteDueErasures(w.ctx); err != nil {
		t.Fatalf("second run: %v", err)
	}
	w.eventually("the document's key is destroyed", func() bool {
		st, err := w.kr.State(w.ctx, domain.DocumentSubject(doc))
		return err == nil && st.Status == keyring.StatusDestroyed
	})
	if !redacted(w.title(doc)) {
		t.Fatal("the document is readable after its erasure completed")
	}
	if err := w.kr.Restore(w.ctx, domain.DocumentSubject(doc)); err != keyring.ErrRestoreWindowClosed {
		t.Fatalf("keyring restore after completion: %v", err)
	}

	// A restart resumes from the checkpoint; the scheduler of the new process completes
	// nothing twice.
	m.stop()
	m2 := w.start()
	if _, err := m2.CompleteDueErasures(w.ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := w.app.CompleteErasure.Handle(w.ctx, commands.CompleteErasure{
		Meta: commands.Meta{CommandID: processmanagers.CompletionCommandID(second), ActorID: domain.SystemActor}, ErasureID: second}); err != nil {
		t.Fatalf("repeating the manager's completion command: %v", err)
	}
	if n := w.count(domain.StreamPrefixErasure+second, domain.ErasureCompleted{}.EventName()); n != 1 {
		t.Fatalf("%d erasure.completed events, want 1", n)
	}
	if n := w.count(domain.StreamPrefixErasure+first, domain.ErasureCompleted{}.EventName()); n != 0 {
		t.Fatalf("the restored erasure was completed")
	}
	if got := w.title(other); got.Plain != "Policy" {
		t.Fatal("another document of the space was destroyed")
	}
	w.eventually("the restarted manager reaches the head of the log", func() bool {
		st, head, err := m2.Status(w.ctx)
		if err != nil || head == nil {
			return false
		}
		for _, s := range st {
			if s.Checkpoint == nil || s.Checkpoint.Less(*head) || s.State != "running" {
				return false
			}
		}
		return true
	})
}

// TestSpaceErasureCoversDocumentsAndConversations erases a space: its documents and the
// messages of its conversations go dark — also of a conversation started after the
// erasure was ordered — while the same user's messages in another space stay readable.
func TestSpaceErasureCoversDocumentsAndConversations(t *testing.T) {
	w := newWorld(t)
	o := w.bootstrap()
	space, assistant := w.space(o, 0)
	_, otherAssistant := w.space(o, 0)
	doc := w.document(o, space, "Confidential minutes.")
	conv, msg := w.chat(o, assistant, "What do the minutes say?")
	otherConv, otherMsg := w.chat(o, otherAssistant, "Unrelated question.")
	w.start()

	grace := 3
	must(w.app.RequestErasure.Handle(w.ctx, commands.RequestErasure{Meta: meta(o.admin),
		SubjectType: domain.SubjectSpace, SubjectID: space, GraceDays: &grace}))(t)
	w.eventually("the space's document and message are redacted", func() bool {
		return redacted(w.title(doc)) && redacted(w.message(conv, msg))
	})
	if got := w.message(otherConv, otherMsg); got.Plain != "Unrelated question." {
		t.Fatalf("a message in another space was hidden: %+v", got)
	}
	st, err := w.kr.State(w.ctx, domain.UserSubject(o.admin))
	if err != nil || st.Status != keyring.StatusActive {
		t.Fatalf("the user was shredded by a space erasure: %+v, %v", st, err)
	}

	// A conversation started in the space while its erasure is pending can seal nothing.
	late := must(w.app.StartConversation.Handle(w.ctx, commands.StartConversation{Meta: meta(o.admin), AssistantID: assistant}))(t).ID
	w.eventually("the late conversation is shredded", func() bool {
		st, err := w.kr.State(w.ctx, domain.ConversationSubject(late))
		return err == nil && st.Status == keyring.StatusShredding
	})
	if _, err := w.app.SendMessage.Handle(w.ctx, commands.SendMessage{Meta: meta(o.admin), ConversationID: late, Text: "Still there?"}); !domain.Is(domain.KindErased, err) {
		t.Fatalf("message in a conversation of a space being erased: %v (%s), want ERASED", err, domain.KindOf(err))
	}
}

// TestRetentionDestroysExpiredBuckets sends messages 100 days apart to an assistant that
// keeps them seven days and to one that inherits the organisation's year, and logs a model
// call kept for the organisation's 90-day audit retention: after the sweep the old message
// of the first assistant and the old model payload are unreadable, the rest is readable, and
// each destruction is recorded once.
func TestRetentionDestroysExpiredBuckets(t *testing.T) {
	w := newWorld(t)
	o := w.bootstrap()
	_, short := w.space(o, 7)
	_, long := w.space(o, 0)
	conv, old := w.chat(o, short, "An old message.")
	longConv, longOld := w.chat(o, long, "An old message kept a year.")
	oldCall := w.invoke(o, longConv, longOld, "An old answer.")
	start := w.clock.Now()
	w.clock.Advance(100 * 24 * time.Hour)
	recent := w.say(o, conv, "A recent message.")
	recentCall := w.invoke(o, conv, recent, "A recent answer.")
	m := w.start()

	// Run sweeps once at start, and the test sweeps too: whichever destroys a bucket first,
	// the others find nothing left to do once the manager has seen the recorded
	// destruction, and each destruction is recorded once.
	if _, err := m.SweepRetention(w.ctx); err != nil {
		t.Fatal(err)
	}
	w.eventually("a sweep finds nothing left to destroy", func() bool {
		n, err := m.SweepRetention(w.ctx)
		return err == nil && n == 0
	})
	if got := w.message(conv, old); !redacted(got) {
		t.Fatalf("a message older than the assistant's retention is readable: %+v", got)
	}
	if got := w.response(longConv, oldCall); !redacted(got) {
		t.Fatalf("a model payload older than the audit retention is readable: %+v", got)
	}
	if got := w.message(conv, recent); got.Plain != "A recent message." {
		t.Fatalf("a recent message is unreadable: %+v", got)
	}
	if got := w.response(conv, recentCall); got.Plain != "A recent answer." {
		t.Fatalf("a recent model payload is unreadable: %+v", got)
	}
	if got := w.message(longConv, longOld); got.Plain != "An old message kept a year." {
		t.Fatalf("a message within the organisation's retention is unreadable: %+v", got)
	}
	for _, c := range []struct {
		owner  string
		bucket domain.Subject
		days   int
	}{{short, domain.RetentionBucket(short, start), 7}, {o.id, domain.ModelLogBucket(o.id, start), 90}} {
		var evs []domain.Event
		for _, e := range w.events(domain.StreamPrefixRetention + c.owner) {
			if e.(domain.RetentionBucketDestroyed).BucketKind == c.bucket.Kind {
				evs = append(evs, e)
			}
		}
		if len(evs) != 1 {
			t.Fatalf("%d retention events for %s, want 1", len(evs), c.bucket.Kind)
		}
		d := evs[0].(domain.RetentionBucketDestroyed)
		if d.Bucket != c.bucket.String() || d.RetentionDays != c.days || d.DestroyedBy != domain.SystemActor || d.OrganizationID != o.id {
			t.Fatalf("recorded %+v", d)
		}
	}
	if n := w.count(domain.StreamPrefixRetention+long, domain.RetentionBucketDestroyed{}.EventName()); n != 0 {
		t.Fatalf("%d buckets of the assistant keeping a year were destroyed", n)
	}
}

// TestOrganizationErasureCoversEverything erases an organisation: its name, its users, its
// documents and messages go dark, a user registered while the erasure is pending too, and
// another organisation is untouched.
func TestOrganizationErasureCoversEverything(t *testing.T) {
	w := newWorld(t)
	o := w.bootstrap()
	bystander := w.bootstrap()
	space, assistant := w.space(o, 0)
	doc := w.document(o, space, "Budget 2027.")
	conv, msg := w.chat(o, assistant, "Summarise the budget.")
	member := w.user(o)
	w.start()

	grace := 14
	must(w.app.RequestErasure.Handle(w.ctx, commands.RequestErasure{Meta: meta(o.admin),
		SubjectType: domain.SubjectOrganization, SubjectID: o.id, GraceDays: &grace}))(t)
	w.eventually("everything of the organisation is redacted", func() bool {
		return redacted(w.orgName(o)) && redacted(w.email(member)) && redacted(w.email(o.admin)) &&
			redacted(w.title(doc)) && redacted(w.message(conv, msg))
	})
	late := w.user(o)
	w.eventually("a user registered during the erasure is redacted", func() bool { return redacted(w.email(late)) })
	if got := w.orgName(bystander); got.Plain != "Region Norr" {
		t.Fatalf("another organisation was hidden: %+v", got)
	}
	if got := w.email(bystander.admin); got.Redacted {
		t.Fatal("another organisation's admin was hidden")
	}
}

// TestRestoreRefusedByTheKeyringIsRecorded restores an erasure while the manager is down
// and lets the keyring's window pass before it comes back: the manager cannot restore, says
// so in its state and its log, and carries on with later events.
func TestRestoreRefusedByTheKeyringIsRecorded(t *testing.T) {
	w := newWorld(t)
	o := w.bootstrap()
	space, _ := w.space(o, 0)
	doc := w.document(o, space, "Minutes.")
	m := w.start()
	one := 1
	id := must(w.app.RequestErasure.Handle(w.ctx, commands.RequestErasure{Meta: meta(o.admin),
		SubjectType: domain.SubjectDocument, SubjectID: doc, GraceDays: &one}))(t).ID
	w.eventually("the document is hidden", func() bool { return redacted(w.title(doc)) })
	m.stop()

	must(w.app.RestoreErasure.Handle(w.ctx, commands.RestoreErasure{Meta: meta(o.admin), ErasureID: id}))(t)
	w.clock.Advance(3 * 24 * time.Hour)
	w.start()
	w.eventually("the refusal is recorded", func() bool {
		state, msg := w.erasureRow(id)
		return state == "RESTORED" && msg != ""
	})
	if !redacted(w.title(doc)) {
		t.Fatal("the document is readable although the keyring refused to restore it")
	}
	if n := w.count(domain.StreamPrefixErasure+id, domain.ErasureCompleted{}.EventName()); n != 0 {
		t.Fatal("a restored erasure was completed")
	}
	later := w.document(o, space, "Later minutes.")
	again := must(w.app.RequestErasure.Handle(w.ctx, commands.RequestErasure{Meta: meta(o.admin),
		SubjectType: domain.SubjectDocument, SubjectID: later, GraceDays: &one}))(t).ID
	w.eventually("the manager goes on with later erasures", func() bool {
		state, _ := w.erasureRow(again)
		return state == "PENDING" && redacted(w.title(later))
	})
}

// TestReplayChangesNothing applies the whole log a second time, as after a crash between
// the managers' side effects and their checkpoint commits: the keyring and the managers'
// state end as they were.
func TestReplayChangesNothing(t *testing.T) {
	w := newWorld(t)
	o := w.bootstrap()
	space, assistant := w.space(o, 0)
	doc := w.document(o, space, "Minutes.")
	kept := w.document(o, space, "Kept.")
	conv, msg := w.chat(o, assistant, "Hello.")
	m := w.start()
	one := 1
	restored := must(w.app.RequestErasure.Handle(w.ctx, commands.RequestErasure{Meta: meta(o.admin),
		SubjectType: domain.SubjectDocument, SubjectID: kept, GraceDays: &one}))(t).ID
	must(w.app.RestoreErasure.Handle(w.ctx, commands.RestoreErasure{Meta: meta(o.admin), ErasureID: restored}))(t)
	pending := must(w.app.RequestErasure.Handle(w.ctx, commands.RequestErasure{Meta: meta(o.admin),
		SubjectType: domain.SubjectConversation, SubjectID: conv, GraceDays: &one}))(t).ID
	w.eventually("the conversation is hidden and the kept document restored", func() bool {
		s1, _ := w.erasureRow(restored)
		s2, _ := w.erasureRow(pending)
		return s1 == "RESTORED" && s2 == "PENDING" && redacted(w.message(conv, msg))
	})
	atHead := func(m *manager) func() bool {
		return func() bool {
			st, head, err := m.Status(w.ctx)
			if err != nil || head == nil {
				return false
			}
			for _, s := range st {
				if s.Checkpoint == nil || s.Checkpoint.Less(*head) {
					return false
				}
			}
			return true
		}
	}
	// Both managers, the retention manager too, have seen everything before the snapshot.
	w.eventually("both managers reach the head of the log", atHead(m))
	before := w.snapshot()
	m.stop()
	if _, err := w.pool.Exec(w.ctx, `DELETE FROM projection_checkpoints WHERE name IN ($1, $2)`,
		processmanagers.ErasureName, processmanagers.RetentionName); err != nil {
		t.Fatal(err)
	}
	m2 := w.start()
	w.eventually("the replay reaches the head of the log", atHead(m2))
	if after := w.snapshot(); after != before {
		t.Fatalf("state changed by the replay:\nbefore %s\nafter  %s", before, after)
	}
	if !redacted(w.message(conv, msg)) || w.title(kept).Plain != "Policy" || w.title(doc).Plain != "Policy" {
		t.Fatal("the replay changed what is readable")
	}
}
