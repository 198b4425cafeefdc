package console

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// The console's exports: the audit log in the background (exportAuditLog(background: true),
// its file fetched from the API's /exports/{id} with the person's own credential) and the
// DPIA evidence bundle (exportEvidence). A job page shows the progress and refreshes itself
// (htmx polling of its status fragment) until the download is ready.

// auditSessionInfo is the auditSession query's answer.
type auditSessionInfo struct {
	ExpiresAt   string `json:"expiresAt"`
	SecondsLeft int    `json:"secondsLeft"`
}

// MinutesLeft is the session's time left, rounded up to whole minutes.
func (a auditSessionInfo) MinutesLeft() int { return (a.SecondsLeft + 59) / 60 }

const qAuditSession = `{ auditSession { expiresAt secondsLeft } }`

// loadAuditSession returns the person's open audit session, nil when none is open.
func (c *Console) loadAuditSession(r *http.Request, s sess) *auditSessionInfo {
	var out struct {
		S *auditSessionInfo `json:"auditSession"`
	}
	if err := c.gql.do(r, s.token, qAuditSession, nil, &out); err != nil {
		return nil
	}
	return out.S
}

// exportJob is a background export as the job pages show it.
type exportJob struct {
	ID          string  `json:"id"`
	Status      string  `json:"status"`
	Format      string  `json:"format"`
	Rows        int     `json:"rows"`
	Progress    float64 `json:"progress"`
	FileName    *string `json:"fileName"`
	Sha256      *string `json:"sha256"`
	Size        *int    `json:"size"`
	Error       *string `json:"error"`
	ExpiresAt   string  `json:"expiresAt"`
	DownloadURL *string `json:"downloadUrl"`
	// ManifestSha256 is an evidence bundle's manifest hash.
	ManifestSha256 *string `json:"manifestSha256"`
	From, To       string
}

// Percent is the progress in whole percent.
func (j exportJob) Percent() int { return int(j.Progress*100 + 0.5) }

// jobData is a job page's data: which kind of export, its job and where its parts live.
type jobData struct {
	Kind     string // "audit" or "evidence"
	Job      exportJob
	Self     string // the job page
	Download string
}

const qAuditJob = `query($id: ID!) { auditExportJob(id: $id) { id status format rows progress fileName sha256 size error expiresAt downloadUrl } }`

const qEvidenceJob = `query($id: ID!) { evidenceExport(id: $id) { id status progress fileName manifestSha256 error from to } }`

// auditExport starts a background export of the audit log with the page's filter and the
// person's justification, then shows its job.
func (c *Console) auditExport(w http.ResponseWriter, r *http.Request, s sess) {
	v, ok := c.begin(w, r, s, "audit", "Audit export")
	if !ok {
		return
	}
	why := justification(r)
	if why == "" {
		c.redirect(w, r, Base+"/audit")
		return
	}
	filter, ferr := auditFilterVars(auditFilter{Actor: r.PostFormValue("actor"), Action: r.PostFormValue("action"),
		Space: r.PostFormValue("space"), Target: r.PostFormValue("target"), Outcome: r.PostFormValue("outcome"),
		From: r.PostFormValue("from"), To: r.PostFormValue("to")})
	if ferr != nil {
		c.fail(w, r, v, ferr)
		return
	}
	format := r.PostFormValue("format")
	switch format {
	case "JSONL", "CSV", "OCSF":
	default:
		c.fail(w, r, v, &Error{Code: "INVALID", Message: "the export format must be JSONL, CSV or OCSF"})
		return
	}
	vars := map[string]any{"fmt": format, "why": why}
	if len(filter) > 0 {
		vars["f"] = filter
	}
	var out struct {
		X struct {
			Job *exportJob `json:"job"`
		} `json:"exportAuditLog"`
	}
	err := c.gql.do(r, s.token, `mutation($f: AuditFilter, $fmt: AuditExportFormat!, $why: String!) {
		exportAuditLog(filter: $f, format: $fmt, justification: $why, background: true) { job { id } } }`, vars, &out)
	if err == nil && out.X.Job == nil {
		err = &Error{Code: "UNAVAILABLE", Message: "this server does not run background exports"}
	}
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	c.redirect(w, r, Base+"/audit/exports/"+out.X.Job.ID)
}

// auditJob shows a background audit export (the whole page, or with ?status=1 the status
// fragment the page polls).
func (c *Console) auditJob(w http.ResponseWriter, r *http.Request, s sess) {
	c.showJob(w, r, s, "audit", r.PathValue("id"))
}

// evidenceJob shows an evidence export.
func (c *Console) evidenceJob(w http.ResponseWriter, r *http.Request, s sess) {
	c.showJob(w, r, s, "evidence", r.PathValue("id"))
}

func (c *Console) loadJob(r *http.Request, s sess, kind, id string) (*exportJob, error) {
	var out struct {
		A *exportJob `json:"auditExportJob"`
		E *exportJob `json:"evidenceExport"`
	}
	q := qAuditJob
	if kind == "evidence" {
		q = qEvidenceJob
	}
	if err := c.gql.do(r, s.token, q, map[string]any{"id": id}, &out); err != nil {
		return nil, err
	}
	if out.A != nil {
		return out.A, nil
	}
	if out.E != nil {
		return out.E, nil
	}
	return nil, &Error{Code: "NOT_FOUND", Message: "no such export: it expired, or it is not yours"}
}

func (c *Console) showJob(w http.ResponseWriter, r *http.Request, s sess, kind, id string) {
	nav, title := "audit", "Audit export"
	if kind == "evidence" {
		nav, title = "evidence", "Evidence export"
	}
	v, ok := c.begin(w, r, s, nav, title)
	if !ok {
		return
	}
	job, err := c.loadJob(r, s, kind, id)
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	self := Base + "/" + kind + "/exports/" + job.ID
	v.Data = jobData{Kind: kind, Job: *job, Self: self, Download: self + "/download"}
	if r.URL.Query().Get("status") != "" {
		c.renderPart(w, "job", "job-status", v)
		return
	}
	c.render(w, http.StatusOK, "job", v)
}

// auditDownload streams a done audit export's file: the console asks the API's /exports/{id}
// with the person's own credential, so the same rule (only the Admin who started it) holds.
func (c *Console) auditDownload(w http.ResponseWriter, r *http.Request, s sess) {
	if c.cfg.Exports == nil {
		http.Error(w, "this server does not serve export files", http.StatusServiceUnavailable)
		return
	}
	id := r.PathValue("id")
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, "/exports/"+id, nil)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	req.RemoteAddr = r.RemoteAddr
	req.Header.Set("Authorization", "Bearer "+s.token)
	rec := &streamWriter{w: w}
	c.cfg.Exports.ServeHTTP(rec, req)
}

// streamWriter passes a handler's answer through, keeping only the headers a download needs.
type streamWriter struct {
	w      http.ResponseWriter
	header http.Header
	wrote  bool
}

func (s *streamWriter) Header() http.Header {
	if s.header == nil {
		s.header = http.Header{}
	}
	return s.header
}

func (s *streamWriter) WriteHeader(status int) {
	if s.wrote {
		return
	}
	s.wrote = true
	for _, k := range []string{"Content-Type", "Content-Disposition", "Content-Length", "Digest"} {
		if v := s.Header().Get(k); v != "" {
			s.w.Header().Set(k, v)
		}
	}
	s.w.Header().Set("Cache-Control", "no-store")
	s.w.WriteHeader(status)
}

func (s *streamWriter) Write(p []byte) (int, error) {
	if !s.wrote {
		s.WriteHeader(http.StatusOK)
	}
	return s.w.Write(p)
}

// evidenceExport starts the DPIA evidence bundle for the period the form gives.
func (c *Console) evidenceExport(w http.ResponseWriter, r *http.Request, s sess) {
	v, ok := c.begin(w, r, s, "evidence", "Evidence export")
	if !ok {
		return
	}
	from, err1 := parseLocal(strings.TrimSpace(r.PostFormValue("from")))
	to, err2 := parseLocal(strings.TrimSpace(r.PostFormValue("to")))
	if err1 != nil || err2 != nil {
		c.fail(w, r, v, &Error{Code: "INVALID", Message: "the period's start and end must be dates and times"})
		return
	}
	var out struct {
		X exportJob `json:"exportEvidence"`
	}
	if err := c.gql.do(r, s.token, `mutation($from: Time!, $to: Time!, $names: Boolean) { exportEvidence(from: $from, to: $to, withNames: $names) { id } }`,
		map[string]any{"from": from, "to": to, "names": r.PostFormValue("withNames") == "on"}, &out); err != nil {
		c.fail(w, r, v, err)
		return
	}
	c.redirect(w, r, Base+"/evidence/exports/"+out.X.ID)
}

// evidenceDownload serves a done evidence bundle (the zip the API holds, base64 in
// evidenceExport.bundle).
func (c *Console) evidenceDownload(w http.ResponseWriter, r *http.Request, s sess) {
	var out struct {
		E *struct {
			Status   string  `json:"status"`
			FileName *string `json:"fileName"`
			Bundle   *string `json:"bundle"`
		} `json:"evidenceExport"`
	}
	err := c.gql.do(r, s.token, `query($id: ID!) { evidenceExport(id: $id) { status fileName bundle } }`, map[string]any{"id": r.PathValue("id")}, &out)
	if err != nil || out.E == nil || out.E.Status != "DONE" || out.E.Bundle == nil || out.E.FileName == nil {
		http.NotFound(w, r)
		return
	}
	zip, err := base64.StdEncoding.DecodeString(*out.E.Bundle)
	if err != nil {
		http.Error(w, "the bundle is not base64", http.StatusBadGateway)
		return
	}
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", *out.E.FileName))
	w.Header().Set("Content-Length", fmt.Sprint(len(zip)))
	w.Header().Set("Cache-Control", "no-store")
	_, _ = io.Copy(w, strings.NewReader(string(zip)))
}

// defaultPeriod is the evidence form's default: the last 30 days, in the datetime-local
// format.
func defaultPeriod(now time.Time) (from, to string) {
	const layout = "2006-01-02T15:04"
	now = now.UTC()
	return now.AddDate(0, 0, -30).Format(layout), now.Add(time.Minute).Format(layout)
}

// evidenceData is the evidence page's data: the ledger's key and checkpoint for auditors,
// and the export form's default period.
type evidenceData struct {
	Integrity *integrity
	From, To  string
}
