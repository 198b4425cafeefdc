package app

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/google/uuid"

	"github.com/arkiv/arkiv/app/eventlog"
	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/graphql"
	"github.com/arkiv/arkiv/graphql/generated"
	"github.com/arkiv/arkiv/infra/esdbwatermill"
	"github.com/arkiv/arkiv/portability"
	ledgerproj "github.com/arkiv/arkiv/projections/ledger"
)

// OrgExportChunkBytes is the size of the pieces organizationExportChunk serves (base64 in
// the answer: about 5.3 MB).
const OrgExportChunkBytes = 4 << 20

// orgExport is an organisation export job's state: what GraphQL shows and the zip on disk.
type orgExport struct {
	st   generated.OrganizationExport
	file string
	size int64
}

// orgExports runs the GraphQL API's organisation exports in the background, with the same
// jobs registry as the evidence exports: each reads the log through the official client into
// a zip in a temporary directory (constant memory), records the export with the command, and
// serves the zip in pieces until the job is forgotten, when the file is removed.
type orgExports struct {
	p    *Platform
	dir  string
	jobs *jobs[orgExport]
}

var _ graphql.OrganizationExports = (*orgExports)(nil)

func newOrgExports(p *Platform) *orgExports {
	return &orgExports{p: p, dir: os.TempDir(), jobs: newJobs(func(s orgExport) {
		if s.file != "" {
			_ = os.Remove(s.file)
		}
	})}
}

// logSource returns the log as portability and evidence read it, with progress reported
// as a fraction.
func (p *Platform) logSource(ctx context.Context, progress func(float64)) *progressSource {
	log := ledgerproj.NewLogReader(eventlog.NewFrom(p.Store, esdbwatermill.Options{Logger: p.log}))
	src := &progressSource{log: log, progress: progress}
	if head, err := log.Head(ctx); err == nil && head != nil {
		src.total = head.Commit
	}
	if src.progress == nil {
		src.progress = func(float64) {}
	}
	return src
}

// Start implements graphql.OrganizationExports.
func (j *orgExports) Start(ctx context.Context, m commands.Meta, org string) (*generated.OrganizationExport, error) {
	id, st := j.jobs.start(org, func(id string) orgExport {
		return orgExport{st: generated.OrganizationExport{ID: id, Status: generated.EvidenceExportStatusRunning, ChunkBytes: OrgExportChunkBytes}}
	})
	go j.run(context.WithoutCancel(ctx), id, org, m)
	return &st.st, nil
}

func (j *orgExports) run(ctx context.Context, id, org string, m commands.Meta) {
	p := j.p
	src := p.logSource(ctx, func(f float64) { j.jobs.update(id, func(s *orgExport) { s.st.Progress = f }) })
	out := filepath.Join(j.dir, "arkiv-org-export-"+id+".zip")
	man, sum, err := portability.WriteOrganization(ctx, src, p.Codec, portability.OrganizationRequest{Organization: org,
		Version: p.cfg.Version, ExportedAt: p.clock.Now()}, out)
	var size int64
	if err == nil {
		var fi os.FileInfo
		if fi, err = os.Stat(out); err == nil {
			size = fi.Size()
			_, err = p.App.ExportOrganization.Handle(ctx, commands.ExportOrganization{Meta: commands.Meta{CommandID: uuid.NewString(),
				ActorID: m.ActorID, CorrelationID: m.CorrelationID, CausationID: m.CommandID}, Events: man.Events, ManifestSHA256: sum})
		}
	}
	if err != nil {
		_ = os.Remove(out)
	}
	j.jobs.finish(id, func(s *orgExport) {
		if err != nil {
			msg := fmt.Sprintf("the export failed (%s)", domain.KindOf(err))
			s.st.Status, s.st.Error = generated.EvidenceExportStatusFailed, &msg
			p.log.Error("organisation export failed", "kind", domain.KindOf(err).String())
			return
		}
		events, chunks, sz := int(man.Events), int((size+OrgExportChunkBytes-1)/OrgExportChunkBytes), float64(size)
		name := fmt.Sprintf("arkiv-organization-%s-%s.zip", org, man.ExportedAt.Format("20060102T150405Z"))
		s.file, s.size = out, size
		s.st.Status, s.st.Progress = generated.EvidenceExportStatusDone, 1
		s.st.Events, s.st.ManifestSha256, s.st.FileName, s.st.SizeBytes, s.st.Chunks = &events, &sum, &name, &sz, &chunks
	})
}

// Get implements graphql.OrganizationExports.
func (j *orgExports) Get(_ context.Context, org, id string) (*generated.OrganizationExport, error) {
	s, ok := j.jobs.get(org, id)
	if !ok {
		return nil, nil
	}
	return &s.st, nil
}

// Chunk implements graphql.OrganizationExports: piece index of a finished export's zip.
func (j *orgExports) Chunk(_ context.Context, org, id string, index int) (*generated.OrganizationExportChunk, error) {
	const op = "app.organization_export_chunk"
	s, ok := j.jobs.get(org, id)
	if !ok {
		return nil, nil
	}
	if s.st.Status != generated.EvidenceExportStatusDone {
		return nil, domain.E(domain.KindConflict, op, "the export is not finished")
	}
	chunks := int((s.size + OrgExportChunkBytes - 1) / OrgExportChunkBytes)
	if index < 0 || index >= max(chunks, 1) {
		return nil, domain.Errorf(domain.KindInvalid, op, "index must be 0 to %d", max(chunks, 1)-1)
	}
	f, err := os.Open(s.file)
	if err != nil {
		return nil, domain.Wrap(domain.KindNotFound, op, err, "the export is no longer kept")
	}
	defer f.Close()
	buf := make([]byte, OrgExportChunkBytes)
	n, err := f.ReadAt(buf, int64(index)*OrgExportChunkBytes)
	if err != nil && err != io.EOF {
		return nil, domain.Wrap(domain.KindUnavailable, op, err, "the export cannot be read")
	}
	return &generated.OrganizationExportChunk{Index: index, Data: base64.StdEncoding.EncodeToString(buf[:n]),
		Last: index == max(chunks, 1)-1}, nil
}

// subjectExports produces subject access exports for the GraphQL API.
type subjectExports struct{ p *Platform }

var _ graphql.SubjectExports = subjectExports{}

// Export implements graphql.SubjectExports. Without a request id it first opens a case
// (which authorises: Admins, or the person themselves, before the log is read); the export
// is recorded, which answers the case, before the archive is handed out.
func (s subjectExports) Export(ctx context.Context, m commands.Meta, org, userID, requestID string) (*generated.SubjectExport, error) {
	p := s.p
	derived := func() commands.Meta {
		return commands.Meta{CommandID: uuid.NewString(), ActorID: m.ActorID, CorrelationID: m.CorrelationID, CausationID: m.CommandID}
	}
	if requestID != "" {
		// The case must be the organisation's and the person's.
		c, err := p.Reads.SubjectRequestByID(ctx, org, requestID)
		if err != nil {
			return nil, err
		}
		if c.UserID != userID {
			return nil, domain.E(domain.KindInvalid, "app.export_subject", "the request is another person's")
		}
	} else {
		requestID = uuid.NewString()
		if _, err := p.App.OpenSubjectRequest.Handle(ctx, commands.OpenSubjectRequest{Meta: derived(), UserID: userID,
			RequestID: requestID, Kind: domain.SubjectRequestAccess}); err != nil {
			return nil, err
		}
	}
	res, err := ExportSubject(ctx, p.logSource(ctx, nil), p.Codec, p.App, derived(), portability.SubjectRequest{Organization: org,
		UserID: userID, RequestID: requestID, Version: p.cfg.Version, ExportedAt: p.clock.Now()})
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("arkiv-subject-%s-%s.zip", userID, res.Data.ExportedAt.Format("20060102T150405Z"))
	return &generated.SubjectExport{RequestID: requestID, UserID: userID, Records: res.Records, ArchiveSha256: res.SHA256,
		FileName: name, Archive: base64.StdEncoding.EncodeToString(res.Archive)}, nil
}

// SubjectResult is a recorded subject access export: the data, its archive and the
// archive's SHA-256.
type SubjectResult struct {
	Data    *portability.SubjectData
	Archive []byte
	SHA256  string
	Records int
}

// ExportSubject gathers a person's data from src, builds the archive and records the export
// with the ExportSubjectData command (meta's actor; the system actor for the CLI, with
// req.Organization naming the organisation) before returning it: an export the command
// refuses returns nothing. The CLI and the GraphQL API both use it.
func ExportSubject(ctx context.Context, src portability.Source, op portability.Opener, a *commands.App, m commands.Meta,
	req portability.SubjectRequest) (*SubjectResult, error) {
	d, err := portability.ExportSubject(ctx, src, op, req)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := portability.WriteSubjectArchive(&buf, d); err != nil {
		return nil, domain.Wrap(domain.KindInternal, "app.export_subject", err, "build the archive")
	}
	sum := sha256.Sum256(buf.Bytes())
	records := len(d.Profile) + len(d.Memberships) + len(d.Conversations) + len(d.Messages) + len(d.Documents) +
		len(d.APIKeys) + len(d.Logins) + len(d.ModelCalls) + len(d.AccessedBy)
	c := commands.ExportSubjectData{Meta: m, UserID: req.UserID, RequestID: req.RequestID, ArchiveSHA256: hex.EncodeToString(sum[:]),
		Records: records}
	if m.ActorID == domain.SystemActor {
		c.OrganizationID = req.Organization
	}
	if _, err := a.ExportSubjectData.Handle(ctx, c); err != nil {
		return nil, err
	}
	return &SubjectResult{Data: d, Archive: buf.Bytes(), SHA256: c.ArchiveSHA256, Records: records}, nil
}
