package backup

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/arkiv/arkiv/domain"
	"io"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
)

// ClientHead returns a function reading the position of the last event of $all through the
// official client (nil for an empty log): what a backup against a real cluster pairs with.
func ClientHead(c *esdb.Client) func(ctx context.Context) (*Position, error) {
	return func(ctx context.Context) (*Position, error) {
		s, err := c.ReadAll(ctx, esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.End{}, ResolveLinkTos: false}, 1)
		if err != nil {
			return nil, err
		}
		defer s.Close()
		ev, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if ev.OriginalEvent() == nil {
			return nil, nil
		}
		p := ev.OriginalEvent().Position
		return &Position{Commit: p.Commit, Prepare: p.Prepare}, nil
	}
}

// RestoredStream is the stream `arkiv backup restore` appends its record to.
const RestoredStream = "arkiv-backup"

// RestoredEventType is the type of the event recording a restore.
const RestoredEventType = "backup.restored.v1"

// Restored is the event recording a restore: which backup, what the shred journal replay
// destroyed again, and whether the journal check was overridden. It holds subject ids
// (pseudonymous), never personal data.
type Restored struct {
	BackupID        string    `json:"backupId"`
	BackupCreatedAt time.Time `json:"backupCreatedAt"`
	BackupPosition  *Position `json:"backupPosition"`
	RestoredAt      time.Time `json:"restoredAt"`
	ArkivVersion    string    `json:"arkivVersion"`
	// JournalEntries is how many destructions the journal listed; Redestroyed the ones the
	// replay destroyed again (live or unknown in the backup: destroyed after it was taken),
	// with the time and reason ("erasure <id>", "retention") the journal recorded.
	JournalEntries int         `json:"journalEntries"`
	Redestroyed    []Destroyed `json:"redestroyed"`
	// JournalOverride is set when the restore ran with --allow-missing-journal;
	// JournalProblem says what was wrong with the journal.
	JournalOverride bool   `json:"journalOverride"`
	JournalProblem  string `json:"journalProblem,omitempty"`
}

// Destroyed is one key the restore destroyed again.
type Destroyed struct {
	Subject     string    `json:"subject"`
	DestroyedAt time.Time `json:"destroyedAt"`
	Reason      string    `json:"reason,omitempty"`
}

// AppendRestored appends r to RestoredStream as a link of the stream's hash chain, like
// every event Arkiv appends, so the ledger's verification holds after a restore: the metadata
// carries the hash of the stream's previous restore record, and the append expects the
// stream's revision.
func AppendRestored(ctx context.Context, c *esdb.Client, r Restored) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	prev, expected := "", esdb.ExpectedRevision(esdb.NoStream{})
	rs, err := c.ReadStream(ctx, RestoredStream, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
	if err != nil {
		return err
	}
	ev, err := rs.Recv()
	rs.Close()
	var esErr *esdb.Error
	switch {
	case err == nil:
		oe := ev.OriginalEvent()
		prev, expected = domain.EventHash(oe.EventID.String(), oe.EventType, oe.Data, oe.UserMetadata), esdb.Revision(oe.EventNumber)
	case errors.Is(err, io.EOF), errors.As(err, &esErr) && esErr.Code() == esdb.ErrorCodeResourceNotFound:
	default:
		return err
	}
	id := uuid.New()
	meta, err := json.Marshal(domain.Metadata{CommandID: id.String(), SchemaVersion: 1, PrevHash: prev, OccurredAt: r.RestoredAt})
	if err != nil {
		return err
	}
	_, err = c.AppendToStream(ctx, RestoredStream, esdb.AppendToStreamOptions{ExpectedRevision: expected}, esdb.EventData{
		EventID: id, EventType: RestoredEventType, ContentType: esdb.ContentTypeJson, Data: data, Metadata: meta,
	})
	return err
}
