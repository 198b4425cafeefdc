package projections

import (
	"context"
	"strings"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/projections/engine"
	"github.com/jackc/pgx/v5"
)

// NameAudit is the name of the audit-log projection.
const NameAudit = "audit"

// Audit writes one audit_log row per event of the log, of every type: when, who (a
// pseudonymous id), what (the event type), on which target, with which outcome, in which
// organisation and space. The outcome is "denied" for a refused command (access.denied.v1)
// and a model invocation the model policy refused, "failed" for a refused local login
// (access.login_failed.v1) and a model invocation that ended in an error or a timeout, "ok"
// for everything else. Refused commands also go to access_denied with their reason. It
// copies no payload field, so it holds no personal data and no content, and erasure leaves it
// as it is: it is the record that the erasure happened. Besides this skeleton it keeps the
// affected subject (a pseudonymous id), a denial's or failed login's reason code, and the
// envelope of the entry's sealed detail from the event's metadata, which readmodels opens
// at query time and which audit retention and erasure shred.
type Audit struct{}

// NewAudit returns the projection.
func NewAudit() *Audit { return &Audit{} }

// Name implements engine.Projection.
func (*Audit) Name() string { return NameAudit }

// Tables implements engine.Projection.
func (*Audit) Tables() []string { return []string{"audit_log", "access_denied"} }

type accessWire struct {
	Actor                string `json:"actor"`
	Command              string `json:"command"`
	TargetStream         string `json:"targetStream"`
	TargetOrganizationID string `json:"targetOrganizationId"`
	OrgRole              string `json:"orgRole"`
	SpaceRole            string `json:"spaceRole"`
	Reason               string `json:"reason"`
	DocumentID           string `json:"documentId"`
	SpaceID              string `json:"spaceId"`
	SubjectType          string `json:"subjectType"`
	SubjectID            string `json:"subjectId"`
	UserID               string `json:"userId"`
	Query                string `json:"query"`
}

// The outcomes of audit_log rows.
const (
	outcomeOK     = "ok"
	outcomeDenied = "denied"
	outcomeFailed = "failed"
)

// invocationOutcome is the part of a model invocation the audit log reads.
type invocationOutcome struct {
	Outcome string `json:"outcome"`
}

// streamTarget splits "space-<id>" into ("space", "<id>").
func streamTarget(stream string) (typ, id string) {
	for _, prefix := range []string{streamOrg, streamUser, streamSpace, streamAssistant, streamDocument,
		streamConversation, streamAPIKey, streamErasurePrefix, streamAccessPrefix, streamLegalHolds} {
		if rest, ok := strings.CutPrefix(stream, prefix); ok {
			typ = strings.TrimSuffix(prefix, "-")
			if typ == "org" {
				typ = string(domain.SubjectOrganization)
			}
			return typ, rest
		}
	}
	return "", ""
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// userEvents are the events about one user, whose payload names them as userId.
var userEvents = map[string]bool{
	domain.UserRegistered{}.EventName(): true, domain.UserRoleChanged{}.EventName(): true,
	domain.UserDeactivated{}.EventName(): true, domain.SpaceMemberAdded{}.EventName(): true,
	domain.SpaceMemberRemoved{}.EventName(): true, domain.SpaceMemberRoleChanged{}.EventName(): true,
}

// auditLogColumns and accessDeniedColumns are the columns auditRows fills, in order.
var (
	auditLogColumns = []string{"event_id", "position", "prepare_position", "occurred_at", "organization_id",
		"space_id", "actor_id", "action", "target_type", "target_id", "outcome", "subject", "reason_code", "detail"}
	accessDeniedColumns = []string{"event_id", "position", "occurred_at", "organization_id", "actor_id",
		"command", "target_type", "target_id", "target_organization_id", "org_role", "space_role", "reason"}
)

// auditRows returns ev's audit_log row and, for a refused command, its access_denied row
// (nil otherwise), as values for auditLogColumns and accessDeniedColumns. Apply and
// ApplyBatch both write exactly these rows.
func auditRows(ev engine.Event) (logRow, deniedRow []any, err error) {
	m := metaOf(ev)
	typ, target := streamTarget(ev.Stream)
	outcome := outcomeOK
	reasonCode := ""
	if ev.Type == evInvocation {
		var inv invocationOutcome
		if err := decode(ev, &inv); err != nil {
			return nil, nil, err
		}
		switch inv.Outcome {
		case domain.OutcomeRefused:
			outcome = outcomeDenied
		case domain.OutcomeError, domain.OutcomeTimeout:
			outcome = outcomeFailed
		}
	}
	if strings.HasPrefix(ev.Stream, streamAccessPrefix) {
		var a accessWire
		if err := decode(ev, &a); err != nil {
			return nil, nil, err
		}
		switch ev.Type {
		case evLoginFailed:
			outcome = outcomeFailed
			reasonCode = a.Reason
		case evAccessDenied:
			outcome = outcomeDenied
			reasonCode = domain.ReasonCode(a.Reason)
			typ, target = streamTarget(a.TargetStream)
			deniedRow = []any{ev.ID.String(), pos(ev), m.OccurredAt, m.Organization, a.Actor, a.Command, nullable(typ), nullable(target),
				nullable(a.TargetOrganizationID), a.OrgRole, a.SpaceRole, a.Reason}
		case evDocumentViewed:
			typ, target = string(domain.SubjectDocument), a.DocumentID
			if m.Space == "" {
				m.Space = a.SpaceID
			}
		case evAuditLogViewed, evAuditLogExported, evIntegrityViewed, evAuditSubscribed:
			typ, target = "audit_log", m.Organization
		case evSearchPerformed:
			typ, target = string(domain.SubjectSpace), a.SpaceID
			if m.Space == "" {
				m.Space = a.SpaceID
			}
		case evAccessQueried:
			// The queried id is in the sealed detail: it may name nothing of this organisation.
			typ, target = string(domain.SubjectOrganization), m.Organization
		case evLoggedOut:
			typ, target = string(domain.SubjectUser), a.UserID
		case evDataExported:
			typ, target = a.SubjectType, a.SubjectID
		}
	}
	if m.AuditSubject == "" && userEvents[ev.Type] {
		// Events recorded before audit subjects were added: the user is in the payload.
		var u struct {
			UserID string `json:"userId"`
		}
		if err := decode(ev, &u); err != nil {
			return nil, nil, err
		}
		if u.UserID != "" {
			m.AuditSubject = domain.UserSubject(u.UserID).String()
		}
	}
	logRow = []any{ev.ID.String(), pos(ev), int64(ev.Position.Prepare), m.OccurredAt, nullable(m.Organization), nullable(m.Space),
		nullable(m.Actor), ev.Type, nullable(typ), nullable(target), outcome, nullable(m.AuditSubject), nullable(reasonCode),
		nullable(m.AuditDetail)}
	return logRow, deniedRow, nil
}

// Apply implements engine.Projection.
func (*Audit) Apply(ctx context.Context, tx pgx.Tx, ev engine.Event) error {
	logRow, deniedRow, err := auditRows(ev)
	if err != nil {
		return err
	}
	if deniedRow != nil {
		if _, err := tx.Exec(ctx, `INSERT INTO access_denied (event_id, position, occurred_at, organization_id,
				actor_id, command, target_type, target_id, target_organization_id, org_role, space_role, reason)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (event_id) DO NOTHING`,
			deniedRow...); err != nil {
			return err
		}
	}
	_, err = tx.Exec(ctx, `INSERT INTO audit_log (event_id, position, prepare_position, occurred_at, organization_id,
			space_id, actor_id, action, target_type, target_id, outcome, subject, reason_code, detail)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT (event_id) DO NOTHING`,
		logRow...)
	return err
}

// ApplyBatch implements engine.BatchProjection: the rows Apply writes, with one COPY
// per table. An event id already present makes the COPY fail; the runner and rebuilds then
// apply the batch one event at a time, where ON CONFLICT skips it.
func (*Audit) ApplyBatch(ctx context.Context, tx pgx.Tx, evs []engine.Event) error {
	var deniedRows [][]any
	_, err := engine.CopyEvents(ctx, tx, "audit_log", auditLogColumns, evs, func(ev engine.Event) ([]any, error) {
		logRow, deniedRow, err := auditRows(ev)
		if deniedRow != nil {
			deniedRows = append(deniedRows, deniedRow)
		}
		return logRow, err
	})
	if err != nil || len(deniedRows) == 0 {
		return err
	}
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"access_denied"}, accessDeniedColumns, pgx.CopyFromRows(deniedRows))
	return err
}
