package projections

import (
	"context"
	"time"

	"github.com/arkiv/arkiv/projections/engine"
	"github.com/jackc/pgx/v5"
)

// Wire forms of the payloads of documents and their text: sealed fields stay envelope strings.
type (
	documentIngested struct {
		DocumentID     string `json:"documentId"`
		OrganizationID string `json:"organizationId"`
		SpaceID        string `json:"spaceId"`
		Title          string `json:"title"`
		ContentType    string `json:"contentType"`
		SizeBytes      int64  `json:"sizeBytes"`
		ChunkCount     int    `json:"chunkCount"`
		IngestedBy     string `json:"ingestedBy"`
	}
	documentChunk struct {
		DocumentID string `json:"documentId"`
		Index      int    `json:"index"`
		Text       string `json:"text"`
	}
)

// applyDocuments projects the events of documents and their text into the documents and
// document_chunks tables.
func (p *ReadModel) applyDocuments(ctx context.Context, tx pgx.Tx, ev engine.Event, at time.Time) error {
	switch ev.Type {
	case evDocIngested:
		var e documentIngested
		if err := decode(ev, &e); err != nil {
			return err
		}
		if hid, err := p.er.hidden(ctx, tx, e.DocumentID); err != nil || hid {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO documents (document_id, organization_id, space_id, title, content_type,
				size_bytes, chunk_count, ingested_by, ingested_at, position)
			SELECT $1, organization_id, space_id, $3, $4, $5, $6, $7, $8, $9 FROM spaces WHERE space_id = $2
			ON CONFLICT (document_id) DO UPDATE SET title = EXCLUDED.title, content_type = EXCLUDED.content_type,
				size_bytes = EXCLUDED.size_bytes, chunk_count = EXCLUDED.chunk_count, ingested_by = EXCLUDED.ingested_by,
				ingested_at = EXCLUDED.ingested_at, position = EXCLUDED.position`,
			e.DocumentID, e.SpaceID, ref(ev, "title", e.Title), e.ContentType, e.SizeBytes, e.ChunkCount,
			e.IngestedBy, at, pos(ev))
		return err
	case evDocChunk:
		var e documentChunk
		if err := decode(ev, &e); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO document_chunks (document_id, chunk_index, text)
			SELECT $1, $2, $3 FROM documents WHERE document_id = $1
			ON CONFLICT (document_id, chunk_index) DO UPDATE SET text = EXCLUDED.text`,
			e.DocumentID, e.Index, ref(ev, "text", e.Text))
		return err
	case evDocDeleted:
		var e documentChunk
		if err := decode(ev, &e); err != nil {
			return err
		}
		return deleteDocuments(ctx, tx, "document_id = $1", e.DocumentID)
	}
	return nil
}

// deleteDocuments deletes the documents matching where ($1) and their chunks.
func deleteDocuments(ctx context.Context, tx pgx.Tx, where string, arg any) error {
	_, err := tx.Exec(ctx, `WITH d AS (DELETE FROM documents WHERE `+where+` RETURNING document_id)
		DELETE FROM document_chunks WHERE document_id IN (SELECT document_id FROM d)`, arg)
	return err
}
