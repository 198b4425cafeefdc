package projections

import (
	"context"
	"strings"
	"time"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/projections/engine"
	"github.com/jackc/pgx/v5"
)

// NameSearch is the name of the Weaviate search-index projection.
const NameSearch = "search.index"

// Index is what the search projection writes; *search.Index implements it.
type Index interface {
	// UpsertDocument writes a document's chunks into the space's tenant: texts[i], embedded
	// as vectors[i], is chunk i.
	UpsertDocument(ctx context.Context, spaceID, documentID string, texts []string, vectors [][]float32) error
	// DeleteDocument deletes a document's chunks.
	DeleteDocument(ctx context.Context, spaceID, documentID string) error
	// DeleteTenant deletes a space's tenant with everything in it.
	DeleteTenant(ctx context.Context, spaceID string) error
}

// Chunker splits a document's text into the overlapping chunks that are embedded and
// indexed; search.Chunker implements it.
type Chunker interface {
	Split(text string) []string
}

// Embedder embeds texts; infra/embedding's Provider implements it.
type Embedder interface {
	Embed(ctx context.Context, texts []string) ([][]float32, error)
}

// SearchIndex keeps the Weaviate index in step with the log: once all text chunks of an
// ingested document have arrived it decrypts them, splits the text into overlapping chunks,
// embeds them and upserts them into the space's tenant; it deletes a deleted document's
// objects and a deleted space's tenant. An erased document's objects, an erased space's
// tenant and every tenant of an erased organisation are deleted; a text that cannot be
// decrypted (its key is shredding or destroyed) is not indexed, so a rebuild after erasure
// indexes nothing of it.
//
// Weaviate is not transactional: Apply writes Weaviate before the runner commits the
// checkpoint, and a re-applied event writes the same deterministic chunk ids again, so
// at-least-once delivery has an exactly-once effect.
type SearchIndex struct {
	ix      Index
	emb     Embedder
	opener  Opener
	chunker Chunker
	er      erasures
}

// NewSearchIndex returns the projection.
func NewSearchIndex(ix Index, emb Embedder, opener Opener, streams StreamReader, chunker Chunker) *SearchIndex {
	p := &SearchIndex{ix: ix, emb: emb, opener: opener, chunker: chunker}
	p.er = erasures{table: "search_erasures", streams: streams, erase: p.erase, apply: p.apply, objects: p.objects}
	return p
}

// Name implements engine.Projection.
func (*SearchIndex) Name() string { return NameSearch }

// Tables implements engine.Projection.
func (*SearchIndex) Tables() []string {
	return []string{"search_spaces", "search_documents", "search_parts", "search_erasures"}
}

// Apply implements engine.Projection.
func (p *SearchIndex) Apply(ctx context.Context, tx pgx.Tx, ev engine.Event) error {
	return p.er.Apply(ctx, tx, ev)
}

// apply projects one event; restoredAt is the time of the erasure.restored event being
// processed when the event is re-applied for a restore, zero otherwise.
func (p *SearchIndex) apply(ctx context.Context, tx pgx.Tx, ev engine.Event, restoredAt time.Time) error {
	switch ev.Type {
	case evSpaceCreated:
		var e spaceCreated
		if err := decode(ev, &e); err != nil {
			return err
		}
		if hid, err := p.er.hidden(ctx, tx, e.SpaceID, e.OrganizationID); err != nil || hid {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO search_spaces (space_id, organization_id) VALUES ($1, $2)
			ON CONFLICT (space_id) DO NOTHING`, e.SpaceID, e.OrganizationID)
		return err
	case evSpaceDeleted:
		var e spaceMember
		if err := decode(ev, &e); err != nil {
			return err
		}
		return p.dropSpaces(ctx, tx, `SELECT space_id FROM search_spaces WHERE space_id = $1`, e.SpaceID)
	case evDocIngested:
		var e documentIngested
		if err := decode(ev, &e); err != nil {
			return err
		}
		if hid, err := p.er.hidden(ctx, tx, e.DocumentID); err != nil || hid {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO search_documents (document_id, organization_id, space_id, chunk_count)
			SELECT $1, organization_id, space_id, $3 FROM search_spaces WHERE space_id = $2
			ON CONFLICT (document_id) DO UPDATE SET chunk_count = EXCLUDED.chunk_count, indexed = false`,
			e.DocumentID, e.SpaceID, e.ChunkCount)
		return err
	case evDocChunk:
		var e documentChunk
		if err := decode(ev, &e); err != nil {
			return err
		}
		var space string
		var count, have int
		err := tx.QueryRow(ctx, `WITH ins AS (
				INSERT INTO search_parts (document_id, chunk_index, text)
				SELECT document_id, $2, $3 FROM search_documents WHERE document_id = $1 AND NOT indexed
				ON CONFLICT (document_id, chunk_index) DO UPDATE SET text = EXCLUDED.text RETURNING chunk_index)
			SELECT d.space_id, d.chunk_count,
				(SELECT count(*) FROM search_parts WHERE document_id = $1 AND chunk_index <> $2) + (SELECT count(*) FROM ins)
			FROM search_documents d WHERE d.document_id = $1 AND NOT d.indexed`,
			e.DocumentID, e.Index, ref(ev, "text", e.Text)).Scan(&space, &count, &have)
		if err == pgx.ErrNoRows {
			return nil
		}
		if err != nil || have < count {
			return err
		}
		return p.index(ctx, tx, space, e.DocumentID, restoredAt)
	case evDocDeleted:
		var e documentChunk
		if err := decode(ev, &e); err != nil {
			return err
		}
		return p.dropDocuments(ctx, tx, `document_id = $1`, e.DocumentID)
	}
	return nil
}

// shreddingReporter is implemented by *keyring.EventCodec.
type shreddingReporter interface {
	FieldShredding(ctx context.Context, envelope string) (since time.Time, destroyed bool, err error)
}

// index decrypts, chunks, embeds and upserts a document whose text parts have all arrived,
// then forgets the parts. A text that cannot be decrypted is not indexed, except during a
// restore (restoredAt set) while its keys, shredded before the restore, have not been
// restored yet by the erasure process manager: that is a retryable KindUnavailable error.
func (p *SearchIndex) index(ctx context.Context, tx pgx.Tx, space, doc string, restoredAt time.Time) error {
	rows, err := tx.Query(ctx, `SELECT text FROM search_parts WHERE document_id = $1 ORDER BY chunk_index`, doc)
	if err != nil {
		return err
	}
	parts, err := pgx.CollectRows(rows, pgx.RowTo[SealedRef])
	if err != nil {
		return err
	}
	var text strings.Builder
	readable := true
	for _, r := range parts {
		plain, redacted, err := p.opener.OpenField(ctx, r.EventID, r.Path, r.Envelope)
		if err != nil {
			return err
		}
		if redacted {
			if sr, ok := p.opener.(shreddingReporter); ok && !restoredAt.IsZero() {
				since, destroyed, err := sr.FieldShredding(ctx, r.Envelope)
				if err != nil {
					return err
				}
				if !destroyed && !since.IsZero() && !since.After(restoredAt) {
					return domain.E(domain.KindUnavailable, "projections.index", "the restored document's keys are not restored yet")
				}
			}
			readable = false
			break
		}
		text.WriteString(plain)
	}
	if readable {
		pieces := p.chunker.Split(text.String())
		if len(pieces) > 0 {
			vecs, err := p.emb.Embed(ctx, pieces)
			if err != nil {
				return domain.Wrap(domain.KindUnavailable, "projections.index", err, "embed document chunks")
			}
			if err := p.ix.UpsertDocument(ctx, space, doc, pieces, vecs); err != nil {
				return err
			}
		}
	}
	if _, err := tx.Exec(ctx, `DELETE FROM search_parts WHERE document_id = $1`, doc); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `UPDATE search_documents SET indexed = $2 WHERE document_id = $1`, doc, readable)
	return err
}

// dropDocuments deletes the documents matching where ($1) from Weaviate and the tables.
func (p *SearchIndex) dropDocuments(ctx context.Context, tx pgx.Tx, where string, arg any) error {
	rows, err := tx.Query(ctx, `DELETE FROM search_documents WHERE `+where+` RETURNING document_id, space_id`, arg)
	if err != nil {
		return err
	}
	type docSpace struct{ Doc, Space string }
	docs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[docSpace])
	if err != nil {
		return err
	}
	for _, d := range docs {
		if err := p.ix.DeleteDocument(ctx, d.Space, d.Doc); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM search_parts WHERE document_id = $1`, d.Doc); err != nil {
			return err
		}
	}
	return nil
}

// dropSpaces deletes the tenants of the spaces selected by sql ($1) and their rows.
func (p *SearchIndex) dropSpaces(ctx context.Context, tx pgx.Tx, sql string, arg any) error {
	spaces, err := queryStrings(ctx, tx, sql, arg)
	if err != nil {
		return err
	}
	for _, s := range spaces {
		if err := p.ix.DeleteTenant(ctx, s); err != nil {
			return err
		}
		for _, q := range []string{
			`DELETE FROM search_parts WHERE document_id IN (SELECT document_id FROM search_documents WHERE space_id = $1)`,
			`DELETE FROM search_documents WHERE space_id = $1`,
			`DELETE FROM search_spaces WHERE space_id = $1`,
		} {
			if _, err := tx.Exec(ctx, q, s); err != nil {
				return err
			}
		}
	}
	return nil
}

// objects counts the Weaviate objects (chunks of indexed documents) and tenants an erasure
// of r's subject deletes.
func (p *SearchIndex) objects(ctx context.Context, tx pgx.Tx, r erasureRequested) (int64, int, error) {
	var docs, spaces string
	switch domain.SubjectKind(r.SubjectType) {
	case domain.SubjectDocument:
		docs = `document_id = $1`
	case domain.SubjectSpace:
		docs, spaces = `space_id = $1`, `space_id = $1`
	case domain.SubjectOrganization:
		docs, spaces = `organization_id = $1`, `organization_id = $1`
	default:
		return 0, 0, nil
	}
	var objects int64
	if err := tx.QueryRow(ctx, `SELECT coalesce(sum(chunk_count) FILTER (WHERE indexed), 0)::bigint FROM search_documents WHERE `+docs,
		r.SubjectID).Scan(&objects); err != nil {
		return 0, 0, err
	}
	tenants := 0
	if spaces != "" {
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM search_spaces WHERE `+spaces, r.SubjectID).Scan(&tenants); err != nil {
			return 0, 0, err
		}
	}
	return objects, tenants, nil
}

// erase removes an erased document's, space's or organisation's objects and rows and returns
// the streams they came from; users and conversations have nothing in the index.
func (p *SearchIndex) erase(ctx context.Context, tx pgx.Tx, r erasureRequested) ([]string, bool, error) {
	id := r.SubjectID
	var streams []string
	docStreams := func(sql string) error {
		ids, err := queryStrings(ctx, tx, sql, id)
		for _, d := range ids {
			streams = append(streams, streamDocument+d)
		}
		return err
	}
	var err error
	switch domain.SubjectKind(r.SubjectType) {
	case domain.SubjectDocument:
		streams = []string{streamDocument + id}
		err = p.dropDocuments(ctx, tx, `document_id = $1`, id)
	case domain.SubjectSpace:
		streams = []string{streamSpace + id}
		if err = docStreams(`SELECT document_id FROM search_documents WHERE space_id = $1`); err == nil {
			err = p.dropSpaces(ctx, tx, `SELECT space_id FROM search_spaces WHERE space_id = $1`, id)
		}
	case domain.SubjectOrganization:
		spaces, qerr := queryStrings(ctx, tx, `SELECT space_id FROM search_spaces WHERE organization_id = $1`, id)
		if qerr != nil {
			return nil, false, qerr
		}
		for _, s := range spaces {
			streams = append(streams, streamSpace+s)
		}
		if err = docStreams(`SELECT document_id FROM search_documents WHERE organization_id = $1`); err == nil {
			err = p.dropSpaces(ctx, tx, `SELECT space_id FROM search_spaces WHERE organization_id = $1`, id)
		}
	default:
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return streams, true, nil
}
