package app

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/graphql"
	"github.com/arkiv/arkiv/graphql/generated"
	"github.com/arkiv/arkiv/infra/auth"
	"github.com/arkiv/arkiv/infra/exportfiles"
	"github.com/arkiv/arkiv/readmodels"
)

// auditExportJobs runs exportAuditLog(background: true): the export streams from the read
// model into an export file in Postgres (any replica answers the job and serves the file), and
// /exports/{id} serves it to the Admin who asked.
type auditExportJobs struct {
	p     *Platform
	files *exportfiles.Store
}

var _ graphql.AuditExportJobs = (*auditExportJobs)(nil)

// exportContentTypes are the media types of the audit export formats.
var exportContentTypes = map[string]string{
	readmodels.ExportJSONL: "application/x-ndjson",
	readmodels.ExportCSV:   "text/csv; charset=utf-8",
	readmodels.ExportOCSF:  "application/x-ndjson",
}

// Start implements graphql.AuditExportJobs.
func (j *auditExportJobs) Start(ctx context.Context, org, requester string, o readmodels.AuditExportOptions) (*generated.AuditExportJob, error) {
	format, err := readmodels.ParseExportFormat(o.Format)
	if err != nil {
		return nil, err
	}
	total, err := j.p.Reads.CountAudit(ctx, org, o.Filter)
	if err != nil {
		return nil, err
	}
	ext := map[string]string{readmodels.ExportCSV: "csv"}[format]
	if ext == "" {
		ext = "jsonl"
	}
	f := exportfiles.File{ID: uuid.NewString(), OrganizationID: org, RequesterID: requester, Kind: "audit", Format: format,
		ContentType: exportContentTypes[format], TotalRows: int64(total),
		FileName: fmt.Sprintf("arkiv-audit-%s-%s.%s", org, j.p.clock.Now().UTC().Format("20060102T150405Z"), ext)}
	w, err := j.files.Create(ctx, f)
	if err != nil {
		return nil, err
	}
	go j.run(context.WithoutCancel(ctx), org, w, o)
	return j.Get(ctx, org, requester, f.ID)
}

func (j *auditExportJobs) run(ctx context.Context, org string, w *exportfiles.Writer, o readmodels.AuditExportOptions) {
	o.Progress = func(ctx context.Context, rows int) error { return w.Progress(ctx, int64(rows)) }
	foot, err := j.p.Reads.ExportAudit(ctx, w, org, o)
	if err == nil {
		err = w.Finish(ctx, int64(foot.Rows), foot)
	}
	if err != nil {
		j.p.log.Error("audit export failed", "kind", domain.KindOf(err).String())
		_ = w.Fail(ctx, fmt.Sprintf("the export failed (%s)", domain.KindOf(err)))
	}
}

// Get implements graphql.AuditExportJobs.
func (j *auditExportJobs) Get(ctx context.Context, org, requester, id string) (*generated.AuditExportJob, error) {
	f, err := j.files.Get(ctx, org, requester, id)
	if err != nil {
		return nil, err
	}
	job := &generated.AuditExportJob{ID: f.ID, Status: generated.ExportJobStatusRunning, Format: generated.AuditExportFormat(strings.ToUpper(f.Format)),
		Rows: int(f.Rows), FileName: f.FileName, ExpiresAt: f.ExpiresAt}
	switch {
	case f.TotalRows > 0:
		job.Progress = min(1, float64(f.Rows)/float64(f.TotalRows))
	case f.Status == exportfiles.Done:
		job.Progress = 1
	}
	switch f.Status {
	case exportfiles.Done:
		url, size, sum, foot := "/exports/"+f.ID, int(f.Size), f.SHA256, string(f.Footer)
		job.Status, job.Progress, job.DownloadURL, job.Size, job.Sha256, job.Footer = generated.ExportJobStatusDone, 1, &url, &size, &sum, &foot
	case exportfiles.Failed:
		msg := f.Error
		job.Status, job.Error = generated.ExportJobStatusFailed, &msg
	}
	return job, nil
}

// ServeHTTP serves GET /exports/{id}: the file of a done export, to the Admin who started it
// while they are still an Admin of its organisation; 404 for anyone else, whatever the reason.
func (j *auditExportJobs) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	const op = "app.download_export"
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	pr, ok := auth.FromContext(r.Context())
	if !ok || pr.UserID == "" {
		auth.WriteError(w, domain.E(domain.KindUnauthenticated, op, "authentication required"))
		return
	}
	if role, ok, err := j.p.Reads.OrgRole(r.Context(), pr.OrganizationID, pr.UserID); err != nil {
		auth.WriteError(w, err)
		return
	} else if !ok || role != domain.OrgRoleAdmin {
		http.NotFound(w, r)
		return
	}
	id := strings.TrimPrefix(r.URL.Path, "/exports/")
	f, err := j.files.Get(r.Context(), pr.OrganizationID, pr.UserID, id)
	if domain.KindOf(err) == domain.KindNotFound || (err == nil && f.Status != exportfiles.Done) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		auth.WriteError(w, err)
		return
	}
	w.Header().Set("Content-Type", f.ContentType)
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", f.FileName))
	w.Header().Set("Content-Length", fmt.Sprint(f.Size))
	w.Header().Set("Digest", "sha-256="+f.SHA256) // hex, as the job reports it
	if r.Method == http.MethodHead {
		return
	}
	if err := j.files.Copy(r.Context(), w, f.ID); err != nil && r.Context().Err() == nil {
		j.p.log.Error("serving an export failed", "kind", domain.KindOf(err).String())
	}
}
