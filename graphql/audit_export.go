package graphql

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/graphql/generated"
	"github.com/arkiv/arkiv/readmodels"
)

// The audit entries' detail, the audit export, and the recording of audited reads.

// maxInlineExportRows bounds one inline part of an audit export; the footer's nextCursor
// resumes after it.
const maxInlineExportRows = 10000

// Subject is the resolver for AuditEntry.subject.
func (auditEntryResolver) Subject(_ context.Context, obj *readmodels.AuditEntry) (*string, error) {
	return optional(obj.Subject), nil
}

// ReasonCode is the resolver for AuditEntry.reasonCode.
func (auditEntryResolver) ReasonCode(_ context.Context, obj *readmodels.AuditEntry) (*string, error) {
	return optional(obj.ReasonCode), nil
}

// Detail is the resolver for AuditEntry.detail: the detail's fields sorted by name.
func (auditEntryResolver) Detail(_ context.Context, obj *readmodels.AuditEntry) ([]generated.AuditDetailField, error) {
	out := make([]generated.AuditDetailField, 0, len(obj.Detail))
	for k, v := range obj.Detail {
		out = append(out, generated.AuditDetailField{Name: k, Value: v})
	}
	sortDetail(out)
	return out, nil
}

func sortDetail(f []generated.AuditDetailField) {
	for i := 1; i < len(f); i++ {
		for j := i; j > 0 && f[j].Name < f[j-1].Name; j-- {
			f[j], f[j-1] = f[j-1], f[j]
		}
	}
}

// auditFilterOf converts the schema's filter.
func auditFilterOf(filter *generated.AuditFilter) readmodels.AuditFilter {
	var f readmodels.AuditFilter
	if filter == nil {
		return f
	}
	f = readmodels.AuditFilter{ActorID: deref(filter.ActorID), Action: deref(filter.Action), TargetID: deref(filter.TargetID),
		SpaceID: deref(filter.SpaceID), Outcome: deref(filter.Outcome)}
	if filter.From != nil {
		f.From = *filter.From
	}
	if filter.To != nil {
		f.To = *filter.To
	}
	return f
}

// ExportAuditLog is the resolver for the exportAuditLog field. The ExportAuditLog command
// authorises and records the export with its justification; then up to
// maxInlineExportRows entries are returned inline with the footer.
func (r mutationResolver) ExportAuditLog(ctx context.Context, filter *generated.AuditFilter, format generated.AuditExportFormat, justification string, after *string, background *bool) (*generated.AuditExport, error) {
	m, p, err := meta(ctx)
	if err != nil {
		return nil, err
	}
	f := auditFilterOf(filter)
	if f.To.IsZero() {
		f.To = r.now().UTC().Add(time.Second)
	}
	from := f.From
	if from.IsZero() {
		from = time.Unix(0, 0).UTC()
	}
	bg := background != nil && *background
	if bg && r.AuditExports == nil {
		return nil, domain.E(domain.KindUnavailable, "graphql.exportAuditLog", "background exports are not available on this server")
	}
	if _, err := r.App.ExportAuditLog.Handle(ctx, commands.ExportAuditLog{Meta: m, Justification: justification,
		Format: string(format), From: from, To: f.To}); err != nil {
		return nil, err
	}
	opts := readmodels.AuditExportOptions{Filter: f, Format: strings.ToLower(string(format)), After: deref(after),
		Checkpoints: r.Checkpoints}
	if bg {
		job, err := r.AuditExports.Start(ctx, p.OrganizationID, m.ActorID, opts)
		if err != nil {
			return nil, err
		}
		return &generated.AuditExport{Format: format, Footer: "{}", Job: job}, nil
	}
	opts.Limit = maxInlineExportRows
	var buf bytes.Buffer
	foot, err := r.Reads.ExportAudit(ctx, &buf, p.OrganizationID, opts)
	if err != nil {
		return nil, err
	}
	fj, err := json.Marshal(foot)
	if err != nil {
		return nil, err
	}
	out := &generated.AuditExport{Format: format, Content: buf.String(), Rows: foot.Rows, Complete: foot.Complete,
		NextCursor: optional(foot.NextCursor), Checkpoint: optional(foot.Checkpoint), Footer: string(fj)}
	if foot.Rows > 0 {
		out.FirstPosition, out.LastPosition = optional(position(foot.FirstPosition)), optional(position(foot.LastPosition))
	}
	return out, nil
}

// recordSearch records a search and how many hits it returned.
func (r *Resolver) recordSearch(ctx context.Context, spaceID string, hits int) error {
	m, _, err := meta(ctx)
	if err != nil {
		return err
	}
	_, err = r.App.RecordSearch.Handle(ctx, commands.RecordSearch{Meta: m, SpaceID: spaceID, Hits: hits})
	return err
}

// recordAccessQuery records a whoCanAccess (spaceID) or accessOf (userID) read.
func (r *Resolver) recordAccessQuery(ctx context.Context, spaceID, userID string) error {
	m, _, err := meta(ctx)
	if err != nil {
		return err
	}
	_, err = r.App.RecordAccessQuery.Handle(ctx, commands.RecordAccessQuery{Meta: m, SpaceID: spaceID, UserID: userID})
	return err
}

// recordAuditSubscription records a subscription to auditEvents.
func (r *Resolver) recordAuditSubscription(ctx context.Context) error {
	m, _, err := meta(ctx)
	if err != nil {
		return err
	}
	_, err = r.App.RecordAuditSubscription.Handle(ctx, commands.RecordAuditSubscription{Meta: m})
	return err
}

// recordLogout records the end of the caller's session.
func (r *Resolver) recordLogout(ctx context.Context) error {
	m, _, err := meta(ctx)
	if err != nil {
		return err
	}
	_, err = r.App.RecordLogout.Handle(ctx, commands.RecordLogout{Meta: m})
	return err
}
