package processmanagers

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/projections/engine"
	"github.com/jackc/pgx/v5"
)

// erasureManager follows erasure orders and the subjects they cover.
//
// An erased subject maps to keyring subjects like this: a user, a document or a
// conversation to its own subject; a space to the space (which covers its documents, sealed
// under document+space, and its assistants) and every conversation in it (messages are sealed
// under author+conversation+retention bucket, not under the space); an organisation to the
// organisation, every user, space and conversation of it (which covers every sealed field of
// the organisation). Subjects that appear while a space or organisation erasure is pending —
// a conversation started in the space, a user registered — are shredded as they appear.
type erasureManager struct {
	d   Deps
	log *slog.Logger
}

// Name implements engine.Projection.
func (*erasureManager) Name() string { return ErasureName }

// Tables implements engine.Projection.
func (*erasureManager) Tables() []string {
	return []string{"pm_subjects", "pm_erasures", "pm_erasure_targets", "pm_erasure_holds"}
}

// Apply implements engine.Projection.
func (e *erasureManager) Apply(ctx context.Context, tx pgx.Tx, ev engine.Event) error {
	switch ev.Type {
	case domain.ErasureRequested{}.EventName():
		return e.requested(ctx, tx, ev)
	case domain.ErasureRestored{}.EventName():
		return e.restored(ctx, tx, ev)
	case domain.ErasureCompleted{}.EventName():
		return e.completed(ctx, tx, ev)
	case domain.LegalHoldPlaced{}.EventName():
		var h struct {
			HoldID         string `json:"holdId"`
			OrganizationID string `json:"organizationId"`
			SubjectType    string `json:"subjectType"`
			SubjectID      string `json:"subjectId"`
			SpaceID        string `json:"spaceId"`
		}
		if err := decode(ev, &h); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO pm_erasure_holds (hold_id, organization_id, subject, space_id)
		VALUES ($1, $2, $3, nullif($4, '')) ON CONFLICT (hold_id) DO NOTHING`,
			h.HoldID, h.OrganizationID, h.SubjectType+":"+strings.ToLower(h.SubjectID), h.SpaceID); err != nil {
			return err
		}
		return e.rewindow(ctx, tx, h.OrganizationID)
	case domain.LegalHoldLifted{}.EventName():
		var h struct {
			HoldID string `json:"holdId"`
		}
		if err := decode(ev, &h); err != nil {
			return err
		}
		var org string
		err := tx.QueryRow(ctx, `DELETE FROM pm_erasure_holds WHERE hold_id = $1 RETURNING organization_id`, h.HoldID).Scan(&org)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		return e.rewindow(ctx, tx, org)
	case domain.ErasureCertified{}.EventName():
		var r struct {
			ErasureID   string    `json:"erasureId"`
			CertifiedAt time.Time `json:"certifiedAt"`
		}
		if err := decode(ev, &r); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE pm_erasures SET certified_at = $2 WHERE erasure_id = $1`, r.ErasureID, r.CertifiedAt)
		return err
	}
	return e.index(ctx, tx, ev)
}

// subjectRow is one row of pm_subjects.
type subjectRow struct {
	subject, kind, org, space string
}

// index records the erasable subjects an event reveals and shreds those that a pending
// space or organisation erasure covers.
func (e *erasureManager) index(ctx context.Context, tx pgx.Tx, ev engine.Event) error {
	md := parseMetadata(ev)
	var rows []subjectRow
	var owner [2]string // a started conversation and its owner
	add := func(s domain.Subject, org, space string) {
		if s.Validate() != nil || domain.ValidateID("organisation id", org) != nil {
			return
		}
		switch s.Kind {
		case domain.SubjectSpace:
			space = s.ID
		case domain.SubjectDocument, domain.SubjectConversation:
		case domain.SubjectUser, domain.SubjectOrganization:
			space = ""
		default:
			return // buckets expire by retention, not erasure
		}
		rows = append(rows, subjectRow{subject: s.String(), kind: string(s.Kind), org: org, space: space})
	}
	if ev.Type == (domain.ConversationStarted{}).EventName() {
		// A conversation has no sealed field until its first message; index it now so that
		// a pending space erasure shreds its key before anything is sealed under it.
		var c struct {
			ConversationID string `json:"conversationId"`
			OrganizationID string `json:"organizationId"`
			SpaceID        string `json:"spaceId"`
			StartedBy      string `json:"startedBy"`
		}
		if err := decode(ev, &c); err != nil {
			return err
		}
		add(domain.ConversationSubject(c.ConversationID), c.OrganizationID, c.SpaceID)
		owner = [2]string{domain.ConversationSubject(c.ConversationID).String(), c.StartedBy}
	}
	for _, text := range md.Subjects {
		if s, err := domain.ParseSubject(text); err == nil {
			add(s, md.Organization, md.Space)
		}
	}
	if len(rows) == 0 {
		return nil
	}
	subjects, kinds, orgs, spaces := make([]string, len(rows)), make([]string, len(rows)), make([]string, len(rows)), make([]*string, len(rows))
	for i, r := range rows {
		subjects[i], kinds[i], orgs[i] = r.subject, r.kind, r.org
		if r.space != "" {
			spaces[i] = &rows[i].space
		}
	}
	q, err := tx.Query(ctx, `INSERT INTO pm_subjects (subject, kind, organization_id, space_id)
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
	ON CONFLICT (subject) DO NOTHING
	RETURNING subject, kind, organization_id, coalesce(space_id, '')`, subjects, kinds, orgs, spaces)
	if err != nil {
		return err
	}
	fresh, err := pgx.CollectRows(q, func(r pgx.CollectableRow) (subjectRow, error) {
		var s subjectRow
		return s, r.Scan(&s.subject, &s.kind, &s.org, &s.space)
	})
	if err != nil {
		return err
	}
	for _, s := range fresh {
		if err := e.coverNew(ctx, tx, s); err != nil {
			return err
		}
	}
	if owner[0] != "" && owner[1] != "" {
		// The owner, for legal holds on users: a hold on a user covers their conversations.
		if _, err := tx.Exec(ctx, `UPDATE pm_subjects SET owner_id = $2 WHERE subject = $1`, owner[0], owner[1]); err != nil {
			return err
		}
	}
	return nil
}

// coverNew shreds a newly seen subject under every pending erasure of its space or
// organisation, with what is left of that erasure's window.
func (e *erasureManager) coverNew(ctx context.Context, tx pgx.Tx, s subjectRow) error {
	q, err := tx.Query(ctx, `SELECT erasure_id, requested_by, effective_at FROM pm_erasures
	WHERE state = 'PENDING' AND (
		(subject_type = 'organization' AND subject_id = $1 AND $3 IN ('user', 'space', 'conversation'))
		OR (subject_type = 'space' AND subject_id = $2 AND $3 = 'conversation'))`, s.org, s.space, s.kind)
	if err != nil {
		return err
	}
	type pending struct {
		id, by    string
		effective time.Time
	}
	covering, err := pgx.CollectRows(q, func(r pgx.CollectableRow) (pending, error) {
		var p pending
		return p, r.Scan(&p.id, &p.by, &p.effective)
	})
	if err != nil {
		return err
	}
	sub, err := domain.ParseSubject(s.subject)
	if err != nil {
		return err
	}
	for _, p := range covering {
		if _, err := tx.Exec(ctx, `INSERT INTO pm_erasure_targets (erasure_id, subject) VALUES ($1, $2) ON CONFLICT DO NOTHING`, p.id, s.subject); err != nil {
			return err
		}
		grace := clampGrace(p.effective.Sub(e.d.Clock.Now()) + shredMargin)
		if err := e.d.Keyring.StartShredding(ctx, sub, "erasure "+p.id, p.by, grace); err != nil {
			return err
		}
	}
	if len(covering) == 0 {
		return nil
	}
	// A covering erasure may be held: its new subject's window follows the hold.
	var held bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pm_erasure_holds WHERE organization_id = $1)`, s.org).Scan(&held); err != nil || !held {
		return err
	}
	return e.rewindow(ctx, tx, s.org)
}

// requested records the order, works out its keyring subjects and shreds them.
func (e *erasureManager) requested(ctx context.Context, tx pgx.Tx, ev engine.Event) error {
	var r struct {
		ErasureID      string             `json:"erasureId"`
		OrganizationID string             `json:"organizationId"`
		SubjectType    domain.SubjectKind `json:"subjectType"`
		SubjectID      string             `json:"subjectId"`
		GraceDays      int                `json:"graceDays"`
		RequestedBy    string             `json:"requestedBy"`
		EffectiveAt    time.Time          `json:"effectiveAt"`
	}
	if err := decode(ev, &r); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO pm_erasures (erasure_id, organization_id, subject_type, subject_id, grace_days,
		requested_by, effective_at, state, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'PENDING', $8)
	ON CONFLICT (erasure_id) DO NOTHING`,
		r.ErasureID, r.OrganizationID, string(r.SubjectType), r.SubjectID, r.GraceDays, r.RequestedBy, r.EffectiveAt, ev.Created); err != nil {
		return err
	}
	var state string
	if err := tx.QueryRow(ctx, `SELECT state FROM pm_erasures WHERE erasure_id = $1`, r.ErasureID).Scan(&state); err != nil {
		return err
	}
	if state != "PENDING" {
		return nil // a replay of an order already restored or completed: nothing to hide again
	}
	targets, err := e.targets(ctx, tx, r.SubjectType, r.SubjectID)
	if err != nil {
		return err
	}
	if err := e.saveTargets(ctx, tx, r.ErasureID, targets); err != nil {
		return err
	}
	grace := time.Duration(0)
	if r.GraceDays > 0 {
		grace = clampGrace(time.Duration(r.GraceDays)*24*time.Hour + shredMargin)
	}
	for _, s := range targets {
		if err := e.d.Keyring.StartShredding(ctx, s, "erasure "+r.ErasureID, r.RequestedBy, grace); err != nil {
			return err
		}
	}
	e.log.Info("erasure: subjects hidden", "erasure", r.ErasureID, "subjects", len(targets), "grace_days", r.GraceDays)
	return nil
}

// targets returns the keyring subjects an erasure of (kind, id) shreds, from the index.
func (e *erasureManager) targets(ctx context.Context, tx pgx.Tx, kind domain.SubjectKind, id string) ([]domain.Subject, error) {
	if kind == domain.SubjectAssistant {
		return nil, nil // an assistant owns no key: its fields are sealed under its space
	}
	self := domain.Subject{Kind: kind, ID: id}
	if err := self.Validate(); err != nil || !domain.ErasableKind(kind) {
		return nil, domain.E(domain.KindInvalid, "processmanagers.erasure", "erasure of an unknown subject kind")
	}
	var q string
	switch kind {
	case domain.SubjectSpace:
		q = `SELECT subject FROM pm_subjects WHERE space_id = $1 AND kind = 'conversation' ORDER BY subject`
	case domain.SubjectOrganization:
		q = `SELECT subject FROM pm_subjects WHERE organization_id = $1 AND kind IN ('user', 'space', 'conversation') ORDER BY subject`
	default:
		return []domain.Subject{self}, nil
	}
	rows, err := tx.Query(ctx, q, id)
	if err != nil {
		return nil, err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	out := []domain.Subject{self}
	for _, n := range names {
		s, err := domain.ParseSubject(n)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func (e *erasureManager) saveTargets(ctx context.Context, tx pgx.Tx, erasureID string, targets []domain.Subject) error {
	names := make([]string, len(targets))
	for i, s := range targets {
		names[i] = s.String()
	}
	_, err := tx.Exec(ctx, `INSERT INTO pm_erasure_targets (erasure_id, subject)
	SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING`, erasureID, names)
	return err
}

// savedTargets returns the subjects recorded for an erasure; with exclusive set, only those
// that no other pending or completed erasure also covers.
func savedTargets(ctx context.Context, tx pgx.Tx, erasureID string, exclusive bool) ([]domain.Subject, error) {
	q := `SELECT subject FROM pm_erasure_targets WHERE erasure_id = $1 ORDER BY subject`
	if exclusive {
		q = `SELECT t.subject FROM pm_erasure_targets t WHERE t.erasure_id = $1 AND NOT EXISTS (
			SELECT 1 FROM pm_erasure_targets o JOIN pm_erasures x ON x.erasure_id = o.erasure_id
			WHERE o.subject = t.subject AND o.erasure_id <> $1 AND x.state IN ('PENDING', 'COMPLETED'))
		ORDER BY t.subject`
	}
	rows, err := tx.Query(ctx, q, erasureID)
	if err != nil {
		return nil, err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	out := make([]domain.Subject, 0, len(names))
	for _, n := range names {
		s, err := domain.ParseSubject(n)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// restored brings the order's subjects back, except those another pending or completed
// erasure still covers. A subject the keyring refuses to restore (its window closed) is
// recorded in pm_erasures.restore_error and logged; the command side refuses restores after
// the window, so this means the manager fell far behind the log.
func (e *erasureManager) restored(ctx context.Context, tx pgx.Tx, ev engine.Event) error {
	var r struct {
		ErasureID string `json:"erasureId"`
	}
	if err := decode(ev, &r); err != nil {
		return err
	}
	var state string
	err := tx.QueryRow(ctx, `SELECT state FROM pm_erasures WHERE erasure_id = $1`, r.ErasureID).Scan(&state)
	if errors.Is(err, pgx.ErrNoRows) || state == "COMPLETED" {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE pm_erasures SET state = 'RESTORED', updated_at = $2 WHERE erasure_id = $1`, r.ErasureID, ev.Created); err != nil {
		return err
	}
	subjects, err := savedTargets(ctx, tx, r.ErasureID, true)
	if err != nil {
		return err
	}
	failed := 0
	var cause error
	for _, s := range subjects {
		err := e.d.Keyring.Restore(ctx, s)
		switch {
		case err == nil:
		case domain.Is(domain.KindConflict, err) || domain.Is(domain.KindNotFound, err):
			failed++
			cause = err
		default:
			return err
		}
	}
	if failed > 0 {
		msg := cause.Error()
		e.log.Error("erasure: restored by command but the keyring refused to restore some subjects; their data stays erased",
			"erasure", r.ErasureID, "refused", failed, "of", len(subjects), "err", msg)
		if _, err := tx.Exec(ctx, `UPDATE pm_erasures SET restore_error = $2 WHERE erasure_id = $1`, r.ErasureID, msg); err != nil {
			return err
		}
		return nil
	}
	e.log.Info("erasure: subjects restored", "erasure", r.ErasureID, "subjects", len(subjects))
	return nil
}

// completed destroys the key material of every subject of the order. Subjects are shredded
// first (a no-op for those already shredding or destroyed) so that destruction never meets an
// active key.
func (e *erasureManager) completed(ctx context.Context, tx pgx.Tx, ev engine.Event) error {
	var r struct {
		ErasureID   string             `json:"erasureId"`
		SubjectType domain.SubjectKind `json:"subjectType"`
		SubjectID   string             `json:"subjectId"`
	}
	if err := decode(ev, &r); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE pm_erasures SET state = 'COMPLETED', updated_at = $2 WHERE erasure_id = $1`, r.ErasureID, ev.Created); err != nil {
		return err
	}
	subjects, err := savedTargets(ctx, tx, r.ErasureID, false)
	if err != nil {
		return err
	}
	if len(subjects) == 0 {
		// The order was never seen (the manager started after it): work the subjects out now.
		if subjects, err = e.targets(ctx, tx, r.SubjectType, r.SubjectID); err != nil {
			return err
		}
	}
	for _, s := range subjects {
		if err := e.d.Keyring.StartShredding(ctx, s, "erasure "+r.ErasureID, domain.SystemActor, shredMargin); err != nil {
			return err
		}
	}
	n, err := e.d.Keyring.DestroyAll(ctx, subjects)
	if err != nil {
		return err
	}
	e.log.Info("erasure: key material destroyed", "erasure", r.ErasureID, "subjects", len(subjects), "destroyed", n)
	return nil
}

// completeDue runs CompleteErasure as the system actor for every pending erasure past its
// effective time.
func (e *erasureManager) completeDue(ctx context.Context) (int, error) {
	const op = "processmanagers.complete_erasures"
	rows, err := e.d.Pool.Query(ctx, `SELECT erasure_id FROM pm_erasures WHERE state = 'PENDING' AND effective_at <= $1
	ORDER BY effective_at LIMIT 1000`, e.d.Clock.Now())
	if err != nil {
		return 0, domain.Wrap(domain.KindUnavailable, op, err, "read due erasures")
	}
	due, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, domain.Wrap(domain.KindUnavailable, op, err, "read due erasures")
	}
	done := 0
	var first error
	for _, id := range due {
		_, err := e.d.App.CompleteErasure.Handle(ctx, commands.CompleteErasure{
			Meta:      commands.Meta{CommandID: CompletionCommandID(id), ActorID: domain.SystemActor},
			ErasureID: id})
		switch {
		case err == nil:
			done++
		case domain.Is(domain.KindConflict, err):
			// Restored or completed meanwhile: the manager will see that event.
		default:
			if first == nil {
				first = err
			}
		}
	}
	return done, first
}

// heldUntil is the window end of the keys of an erasure a legal hold keeps: far enough out
// that DestroyDue never reaches it while the hold lasts.
const heldWindow = 100 * 365 * 24 * time.Hour

// rewindow sets the keyring window of every pending erasure of the organisation: far out
// while a legal hold covers its subject (the subject itself, its space, or one of its keyring
// subjects), back to its effective time (plus the margin) otherwise. The command side refuses
// to complete a held erasure; this keeps the keyring from destroying its keys meanwhile.
func (e *erasureManager) rewindow(ctx context.Context, tx pgx.Tx, org string) error {
	rows, err := tx.Query(ctx, `SELECT t.subject, x.effective_at, EXISTS (
		SELECT 1 FROM pm_erasure_holds h WHERE h.organization_id = x.organization_id AND (
			h.subject = x.subject_type || ':' || x.subject_id
			OR h.subject IN (SELECT o.subject FROM pm_erasure_targets o WHERE o.erasure_id = x.erasure_id)
			OR h.subject IN (SELECT 'space:' || s.space_id FROM pm_subjects s WHERE s.subject = x.subject_type || ':' || x.subject_id)
			OR h.subject IN (SELECT 'user:' || s.owner_id FROM pm_subjects s WHERE s.subject = x.subject_type || ':' || x.subject_id)
			OR (x.subject_type = 'space' AND (h.space_id = x.subject_id OR h.subject = 'space:' || x.subject_id))))
	FROM pm_erasures x JOIN pm_erasure_targets t ON t.erasure_id = x.erasure_id
	WHERE x.organization_id = $1 AND x.state = 'PENDING'`, org)
	if err != nil {
		return err
	}
	type target struct {
		subject   string
		effective time.Time
		held      bool
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (target, error) {
		var t target
		return t, r.Scan(&t.subject, &t.effective, &t.held)
	})
	if err != nil {
		return err
	}
	for _, t := range list {
		s, err := domain.ParseSubject(t.subject)
		if err != nil {
			return err
		}
		until := t.effective.Add(shredMargin)
		if t.held {
			until = e.d.Clock.Now().Add(heldWindow)
		}
		if err := e.d.Keyring.SetDestroyAfter(ctx, s, until); err != nil {
			return err
		}
	}
	return nil
}

// certifyDue asks the Certifier for the certificate of every completed erasure that has
// none yet; the CertifyErasure command id derives from the erasure id, so a certificate is
// recorded once however often this runs.
func (e *erasureManager) certifyDue(ctx context.Context) (int, error) {
	const op = "processmanagers.certify_erasures"
	if e.d.Certifier == nil {
		return 0, nil
	}
	rows, err := e.d.Pool.Query(ctx, `SELECT erasure_id FROM pm_erasures WHERE state = 'COMPLETED' AND certified_at IS NULL
	ORDER BY updated_at LIMIT 100`)
	if err != nil {
		return 0, domain.Wrap(domain.KindUnavailable, op, err, "read uncertified erasures")
	}
	due, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, domain.Wrap(domain.KindUnavailable, op, err, "read uncertified erasures")
	}
	done := 0
	var first error
	for _, id := range due {
		err := e.d.Certifier.Certify(ctx, id)
		switch {
		case err == nil:
			done++
		case domain.Is(domain.KindConflict, err):
			// Certified meanwhile: the manager will see that event.
		default:
			if first == nil {
				first = err
			}
		}
	}
	return done, first
}

// CertificationCommandID is the id of the CertifyErasure command for an erasure.
func CertificationCommandID(erasureID string) string { return "erasure-certificate:" + erasureID }

// CompletionCommandID is the id of the CompleteErasure command the erasure manager runs for
// an erasure: derived from the erasure id, so the completion is appended once however often
// it is attempted.
func CompletionCommandID(erasureID string) string { return "erasure-completion:" + erasureID }
