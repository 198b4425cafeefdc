package app

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/google/uuid"
	"golang.org/x/mod/sumdb/note"

	"github.com/arkiv/arkiv/app/eventlog"
	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/evidence"
	"github.com/arkiv/arkiv/graphql"
	"github.com/arkiv/arkiv/graphql/generated"
	"github.com/arkiv/arkiv/infra/esdbwatermill"
	"github.com/arkiv/arkiv/ledger"
	ledgerproj "github.com/arkiv/arkiv/projections/ledger"
)

// evidenceJobs runs the GraphQL API's evidence exports in the background, in memory (the
// jobs registry): each reads the log through the official client, as `arkiv evidence
// export` does, and records the export with the command when the bundle is complete.
type evidenceJobs struct {
	p    *Platform
	jobs *jobs[generated.EvidenceExport]
}

var _ graphql.EvidenceExports = (*evidenceJobs)(nil)

// newEvidenceJobs returns the exports of p, nil without a signing key (the manifest is
// signed with it).
func newEvidenceJobs(p *Platform) graphql.EvidenceExports {
	if p.cfg.SigningKey == nil {
		return nil
	}
	return &evidenceJobs{p: p, jobs: newJobs[generated.EvidenceExport](nil)}
}

// Start implements graphql.EvidenceExports.
func (j *evidenceJobs) Start(ctx context.Context, m commands.Meta, org string, from, to time.Time, withNames bool) (*generated.EvidenceExport, error) {
	id, st := j.jobs.start(org, func(id string) generated.EvidenceExport {
		return generated.EvidenceExport{ID: id, Status: generated.EvidenceExportStatusRunning, From: from, To: to}
	})
	go j.run(context.WithoutCancel(ctx), id, org, m, from, to, withNames)
	return &st, nil
}

func (j *evidenceJobs) run(ctx context.Context, id, org string, m commands.Meta, from, to time.Time, withNames bool) {
	p := j.p
	log := ledgerproj.NewLogReader(eventlog.NewFrom(p.Store, esdbwatermill.Options{Logger: p.log}))
	src := &progressSource{log: log}
	if head, err := log.Head(ctx); err == nil && head != nil {
		src.total = head.Commit
	}
	src.progress = func(f float64) {
		j.jobs.update(id, func(s *generated.EvidenceExport) { s.Progress = f })
	}
	keys := append([]note.Verifier{p.cfg.SigningKey.Verifier()}, p.cfg.LedgerKeys...)
	req := evidence.Request{Organization: org, From: from, To: to, Version: p.cfg.Version, Keys: note.VerifierList(keys...),
		Signer: p.cfg.SigningKey.Signer, SignedAt: p.clock.Now()}
	if withNames {
		req.Names = p.Codec
	}
	var buf bytes.Buffer
	var res evidence.Result
	dep, err := EvidenceDeployment(ctx, p.Keyring, p.kek, p.cfg.SigningKey.VerifierKey, p.cfg.ServesTLS)
	if err == nil {
		req.Deployment = dep
		res, err = evidence.Export(ctx, src, req, &buf)
	}
	if err == nil {
		rec := commands.ExportEvidence{Meta: commands.Meta{CommandID: uuid.NewString(), ActorID: m.ActorID, CorrelationID: m.CorrelationID,
			CausationID: m.CommandID}, From: from, To: to, ManifestSHA256: res.ManifestSHA256, WithNames: withNames}
		if c := res.Manifest.Checkpoint; c != nil {
			rec.TreeSize, rec.Root = c.Size, c.Root
		}
		_, err = p.App.ExportEvidence.Handle(ctx, rec)
	}
	j.jobs.finish(id, func(st *generated.EvidenceExport) {
		if err != nil {
			msg := fmt.Sprintf("the export failed (%s)", domain.KindOf(err))
			st.Status, st.Error = generated.EvidenceExportStatusFailed, &msg
			p.log.Error("evidence export failed", "kind", domain.KindOf(err).String())
			return
		}
		b64 := base64.StdEncoding.EncodeToString(buf.Bytes())
		name := fmt.Sprintf("arkiv-evidence-%s-%s-%s.zip", org, from.Format("20060102T150405Z"), to.Format("20060102T150405Z"))
		st.Status, st.Progress = generated.EvidenceExportStatusDone, 1
		st.Bundle, st.FileName, st.ManifestSha256 = &b64, &name, &res.ManifestSHA256
	})
}

// Get implements graphql.EvidenceExports: only the organisation's own exports.
func (j *evidenceJobs) Get(ctx context.Context, org, id string) (*generated.EvidenceExport, error) {
	st, ok := j.jobs.get(org, id)
	if !ok {
		return nil, nil
	}
	return &st, nil
}

// progressSource is evidence.Source over the ledger's LogReader, reporting how far it read.
type progressSource struct {
	log      ledgerproj.LogReader
	total    uint64
	progress func(float64)
}

// Scan implements evidence.Source.
func (s *progressSource) Scan(ctx context.Context, fn func(ledger.Entry) error) error {
	var after *ledgerproj.Position
	for {
		pg, err := s.log.ReadPage(ctx, after, ledgerproj.PageSize)
		if err != nil {
			return err
		}
		for _, e := range pg.Entries {
			if err := fn(e); err != nil {
				return err
			}
		}
		if pg.Last != nil && s.total > 0 {
			s.progress(min(0.99, float64(pg.Last.Commit)/float64(s.total)))
		}
		if pg.End || pg.Last == nil {
			return nil
		}
		after = pg.Last
	}
}
