package app

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/note"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/evidence"
	"github.com/arkiv/arkiv/projections"
	"github.com/arkiv/arkiv/projections/processmanagers"
)

// certifier writes erasure certificates (processmanagers.Certifier): once an erasure is
// complete and the projections have passed its completion, it gathers what the log, the
// keyring and each store say, checks that the subject's fields no longer decrypt and that
// nothing derived from the subject is left in Postgres or Weaviate, signs the certificate
// with the ledger key when there is one and records it with CertifyErasure.
type certifier struct {
	p   *Platform
	reg *domain.Registry
}

// certifyWait bounds how long a certification waits for the projections.
const certifyWait = 30 * time.Second

// Certify implements processmanagers.Certifier.
func (c certifier) Certify(ctx context.Context, erasureID string) error {
	const op = "app.certify_erasure"
	p := c.p
	recs, _, err := p.Store.Load(ctx, domain.StreamPrefixErasure+erasureID)
	if err != nil {
		return err
	}
	var req domain.ErasureRequested
	var basis domain.ErasureBasisRecorded
	var done domain.ErasureCompleted
	var donePos uint64
	for _, r := range recs {
		switch r.Type {
		case req.EventName():
			err = json.Unmarshal(r.Data, &req)
		case basis.EventName():
			err = json.Unmarshal(r.Data, &basis)
		case done.EventName():
			err, donePos = json.Unmarshal(r.Data, &done), r.Position
		case domain.ErasureCertified{}.EventName():
			return domain.E(domain.KindConflict, op, "erasure is already certified")
		}
		if err != nil {
			return domain.Wrap(domain.KindInternal, op, err, "decode the erasure's events")
		}
	}
	if donePos == 0 {
		return domain.E(domain.KindConflict, op, "erasure is not completed")
	}
	names := append(projections.QueryNames(), processmanagers.ErasureName)
	if p.Runner != nil && slices.Contains(p.Runner.Names(), projections.NameSearch) {
		names = append(names, projections.NameSearch)
	}
	if err := p.Waiter.WaitFor(ctx, names, donePos, certifyWait); err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err, "wait for the projections to pass the completion")
	}
	cert := evidence.Certificate{Schema: evidence.CertificateSchema, ErasureID: erasureID, OrganizationID: req.OrganizationID,
		SubjectType: string(req.SubjectType), SubjectID: req.SubjectID, SpaceID: basis.SpaceID,
		OrderedBy: req.RequestedBy, Origin: string(basis.Origin), LegalBasis: basis.LegalBasis,
		RequestedAt: req.RequestedAt.UTC(), RestorableUntil: req.EffectiveAt.UTC(), CompletedAt: done.CompletedAt.UTC(),
		CertifiedAt: p.clock.Now().UTC(), KeysDestroyed: []evidence.DestroyedKey{}}
	if cert.Origin == "" {
		cert.Origin = string(domain.CmdRequestErasure)
	}

	// Keys: every keyring subject the erasure manager shredded for the order.
	rows, err := p.Pool.Query(ctx, `SELECT subject FROM pm_erasure_targets WHERE erasure_id = $1 ORDER BY subject`, erasureID)
	if err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err, "read the erasure's keys")
	}
	targets, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err, "read the erasure's keys")
	}
	destroyed := map[string]bool{}
	for _, t := range targets {
		s, err := domain.ParseSubject(t)
		if err != nil {
			return domain.Wrap(domain.KindInternal, op, err, "bad keyring subject")
		}
		st, err := p.Keyring.State(ctx, s)
		if err != nil {
			return err
		}
		if st.Status != "destroyed" {
			return domain.Errorf(domain.KindUnavailable, op, "key %s is %s, not destroyed yet", t, st.Status)
		}
		destroyed[t] = true
		cert.KeysDestroyed = append(cert.KeysDestroyed, evidence.DestroyedKey{KeyID: t, DestroyedAt: st.DestroyedAt.UTC()})
	}
	if req.SubjectType == domain.SubjectAssistant {
		cert.Notes = append(cert.Notes, "an assistant owns no key: its name and instructions are sealed under its space's key, "+
			"which stays while the space does; its read-model rows are purged")
	}

	// What each store purged when the subject was hidden.
	for _, s := range []struct{ store, table string }{
		{"postgres.readmodel", "readmodel_erasures"}, {"postgres.auth", "auth_erasures"}, {"weaviate", "search_erasures"},
	} {
		var pg evidence.StorePurge
		pg.Store = s.store
		err := p.Pool.QueryRow(ctx, `SELECT purged_rows, purged_objects, purged_tenants FROM `+s.table+` WHERE erasure_id = $1`,
			erasureID).Scan(&pg.Rows, &pg.Objects, &pg.Tenants)
		if err == pgx.ErrNoRows {
			pg.Note = "held nothing of this subject kind"
		} else if err != nil {
			return domain.Wrap(domain.KindUnavailable, op, err, "read what "+s.store+" purged")
		}
		cert.Purged = append(cert.Purged, pg)
	}
	var payloads int64
	where := map[domain.SubjectKind]string{domain.SubjectUser: "user_id = $1", domain.SubjectConversation: "conversation_id = $1",
		domain.SubjectSpace: "space_id = $1", domain.SubjectOrganization: "organization_id = $1",
		// A document's excerpts sent to a model are sealed under the document too.
		domain.SubjectDocument: `excerpts @> jsonb_build_array(jsonb_build_object('documentId', $1::text))`}[req.SubjectType]
	if where != "" {
		if err := p.Pool.QueryRow(ctx, `SELECT count(*) FROM model_invocations WHERE payload_logged AND `+where,
			req.SubjectID).Scan(&payloads); err != nil {
			return domain.Wrap(domain.KindUnavailable, op, err, "count model payloads")
		}
	}
	cert.Purged = append(cert.Purged, evidence.StorePurge{Store: "postgres.model_invocations", Payloads: payloads,
		Note: "logged model payloads are sealed under the subject and unreadable once its key is destroyed; the call records stay"})

	// Post-check 1: every sealed field of the subject's events under a destroyed key fails
	// to decrypt.
	streams, err := c.subjectStreams(ctx, req.SubjectType, req.SubjectID)
	if err != nil {
		return err
	}
	for _, st := range streams {
		recs, _, err := p.Store.Load(ctx, st)
		if err != nil {
			return err
		}
		for _, r := range recs {
			ptr, err := c.reg.New(r.Type)
			if err != nil {
				continue // a type this build does not know: nothing sealed it can check
			}
			if err := p.Codec.Decode(ctx, r.EventID, r.Data, ptr); err != nil && !domain.Is(domain.KindErased, err) {
				return err
			}
			walkSealed(reflect.ValueOf(ptr), func(s domain.Sealed) {
				for _, sub := range s.Subjects {
					if destroyed[sub.String()] {
						cert.PostCheck.FieldsChecked++
						if !s.Redacted {
							cert.PostCheck.FieldsReadable++
						}
						return
					}
				}
			})
		}
	}
	cert.PostCheck.DecryptionFail = cert.PostCheck.FieldsReadable == 0

	// Post-check 2: canary scans for what was derived from the subject.
	scans, err := c.canaryScans(ctx, req.SubjectType, req.SubjectID, basis.SpaceID)
	if err != nil {
		return err
	}
	cert.PostCheck.Scans = scans
	cert.PostCheck.Passed = cert.PostCheck.DecryptionFail
	for _, s := range scans {
		if s.Found > 0 {
			cert.PostCheck.Passed = false
		}
	}

	var signer note.Signer
	if p.cfg.SigningKey != nil {
		signer = p.cfg.SigningKey.Signer
	}
	text, signed, err := evidence.SignCertificate(cert, signer)
	if err != nil {
		return err
	}
	_, err = p.App.CertifyErasure.Handle(ctx, commands.CertifyErasure{
		Meta:      commands.Meta{CommandID: processmanagers.CertificationCommandID(erasureID), ActorID: domain.SystemActor},
		ErasureID: erasureID, Certificate: text, Signed: signed})
	return err
}

// subjectStreams returns the streams whose sealed fields the post-check decodes: the
// subject's own and, for a space, those of its documents and conversations.
func (c certifier) subjectStreams(ctx context.Context, kind domain.SubjectKind, id string) ([]string, error) {
	prefix := map[domain.SubjectKind]string{domain.SubjectUser: domain.StreamPrefixUser, domain.SubjectDocument: domain.StreamPrefixDocument,
		domain.SubjectConversation: domain.StreamPrefixConversation, domain.SubjectSpace: domain.StreamPrefixSpace,
		domain.SubjectOrganization: domain.StreamPrefixOrganization, domain.SubjectAssistant: domain.StreamPrefixAssistant}[kind]
	out := []string{prefix + id}
	if kind != domain.SubjectSpace {
		return out, nil
	}
	rows, err := c.p.Pool.Query(ctx, `SELECT subject FROM pm_subjects WHERE space_id = $1 AND kind IN ('document', 'conversation')
	ORDER BY subject`, id)
	if err != nil {
		return nil, domain.Wrap(domain.KindUnavailable, "app.certify_erasure", err, "read the space's subjects")
	}
	subs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, domain.Wrap(domain.KindUnavailable, "app.certify_erasure", err, "read the space's subjects")
	}
	for _, s := range subs {
		if sub, err := domain.ParseSubject(s); err == nil {
			out = append(out, map[domain.SubjectKind]string{domain.SubjectDocument: domain.StreamPrefixDocument,
				domain.SubjectConversation: domain.StreamPrefixConversation}[sub.Kind]+sub.ID)
		}
	}
	return out, nil
}

// canaryScans looks in Postgres for rows derived from the subject in every table that holds
// content (not the audit trail, erasure records or process-manager state, which keep ids
// by design), and in Weaviate for its objects or tenant.
func (c certifier) canaryScans(ctx context.Context, kind domain.SubjectKind, id, space string) ([]evidence.CanaryScan, error) {
	const op = "app.certify_erasure"
	p := c.p
	var checks []string
	switch kind {
	case domain.SubjectDocument:
		checks = []string{`documents WHERE document_id = $1`, `document_chunks WHERE document_id = $1`,
			`search_documents WHERE document_id = $1`, `search_parts WHERE document_id = $1`}
	case domain.SubjectConversation:
		checks = []string{`conversations WHERE conversation_id = $1`, `messages WHERE conversation_id = $1`}
	case domain.SubjectUser:
		checks = []string{`users WHERE user_id = $1 AND (email IS NOT NULL OR name IS NOT NULL)`, `space_members WHERE user_id = $1`,
			`messages WHERE author_id = $1`, `conversations WHERE started_by = $1`}
	case domain.SubjectAssistant:
		checks = []string{`assistants WHERE assistant_id = $1`}
	case domain.SubjectSpace:
		checks = []string{`spaces WHERE space_id = $1`, `documents WHERE space_id = $1`, `assistants WHERE space_id = $1`,
			`conversations WHERE space_id = $1`, `space_members WHERE space_id = $1`, `search_documents WHERE space_id = $1`,
			`search_spaces WHERE space_id = $1`}
	case domain.SubjectOrganization:
		checks = []string{`users WHERE organization_id = $1 AND (email IS NOT NULL OR name IS NOT NULL)`, `spaces WHERE organization_id = $1`,
			`documents WHERE organization_id = $1`, `conversations WHERE organization_id = $1`, `search_documents WHERE organization_id = $1`}
	}
	pg := evidence.CanaryScan{Store: "postgres", Checked: fmt.Sprintf("%d content tables for rows of the subject", len(checks))}
	for _, q := range checks {
		var n int64
		if err := p.Pool.QueryRow(ctx, `SELECT count(*) FROM `+q, id).Scan(&n); err != nil {
			return nil, domain.Wrap(domain.KindUnavailable, op, err, "canary scan of Postgres")
		}
		pg.Found += n
	}
	out := []evidence.CanaryScan{pg}
	if p.Index == nil {
		return out, nil
	}
	wv := evidence.CanaryScan{Store: "weaviate"}
	switch kind {
	case domain.SubjectDocument:
		wv.Checked = "objects of the document in its space's tenant"
		if space != "" {
			counts, err := p.Index.ChunkCounts(ctx, space, []string{id})
			if err != nil && !domain.Is(domain.KindNotFound, err) {
				exists, terr := p.Index.TenantExists(ctx, space)
				if terr != nil || exists {
					return nil, err
				}
			}
			wv.Found = int64(counts[id])
		}
	case domain.SubjectSpace:
		wv.Checked = "the space's tenant"
		exists, err := p.Index.TenantExists(ctx, id)
		if err != nil {
			return nil, err
		}
		if exists {
			wv.Found = 1
		}
	default:
		wv.Checked = "nothing: the index holds documents only"
	}
	return append(out, wv), nil
}

var sealedType = reflect.TypeOf(domain.Sealed{})

// walkSealed calls fn with every domain.Sealed value reachable from v.
func walkSealed(v reflect.Value, fn func(domain.Sealed)) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			walkSealed(v.Elem(), fn)
		}
	case reflect.Struct:
		if v.Type() == sealedType {
			fn(v.Interface().(domain.Sealed))
			return
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				walkSealed(v.Field(i), fn)
			}
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			walkSealed(v.Index(i), fn)
		}
	}
}
