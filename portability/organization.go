package portability

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"hash"
	"io"
	"time"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/ledger"
)

// OrganizationFormat names the organisation export's layout, written into its manifest.
const OrganizationFormat = "arkiv.organization-export.v1"

// The files of an organisation export. Each .jsonl file holds one Record per line, in log
// order; ManifestFile lists every other file with its SHA-256, size and record count.
const (
	FileSettings     = "settings.jsonl"             // organisation, settings history, identity providers
	FileMembers      = "members.jsonl"              // users, their roles and space memberships over time
	FileSpaces       = "spaces.jsonl"               // spaces, their classification and models
	FileAssistants   = "assistants.jsonl"           // assistants with their settings
	FileDocuments    = "documents.jsonl"            // documents with their content (text chunks)
	FileConvs        = "conversations.jsonl"        // conversations
	FileMessages     = "messages.jsonl"             // messages, replies and model calls
	FileAPIKeys      = "api_keys.jsonl"             // API keys, metadata only (never the hash)
	FileErasures     = "erasures.jsonl"             // erasure orders, restores, completions, retention
	FileCertificates = "erasure_certificates.jsonl" // erasure certificates (CertificateTypePrefix)
	FileAccess       = "access.jsonl"               // reads, exports, logins, denials
	FileAudit        = "audit.jsonl"                // the audit log: every event's AuditEntry
	ManifestFile     = "manifest.json"
)

// SectionOf returns the file an event of type typ goes to (besides FileAudit, which has
// every event).
func SectionOf(typ string) string {
	switch {
	case hasPrefix(typ, CertificateTypePrefix):
		return FileCertificates
	case hasPrefix(typ, "organization.", "identity_provider.", "email."):
		return FileSettings
	case hasPrefix(typ, "user.", "space.member_"):
		return FileMembers
	case hasPrefix(typ, "space."):
		return FileSpaces
	case hasPrefix(typ, "assistant."):
		return FileAssistants
	case hasPrefix(typ, "document."):
		return FileDocuments
	case isType(typ, domain.ConversationStarted{}):
		return FileConvs
	case hasPrefix(typ, "conversation."):
		return FileMessages
	case hasPrefix(typ, "apikey."):
		return FileAPIKeys
	case hasPrefix(typ, "erasure.", "retention."):
		return FileErasures
	}
	return FileAccess
}

// Sections are every file of an organisation export but the manifest, in manifest order.
var Sections = []string{FileSettings, FileMembers, FileSpaces, FileAssistants, FileDocuments, FileConvs,
	FileMessages, FileAPIKeys, FileErasures, FileCertificates, FileAccess, FileAudit}

// AuditEntry is one line of the audit log of an organisation export: the event's skeleton,
// without its payload, and the hashes of its stored payload and metadata.
type AuditEntry struct {
	EventID        string    `json:"eventId"`
	Type           string    `json:"type"`
	Stream         string    `json:"stream"`
	Revision       uint64    `json:"revision"`
	Position       uint64    `json:"position"`
	At             time.Time `json:"at"`
	RecordedAt     time.Time `json:"recordedAt"`
	Actor          string    `json:"actor"`
	Space          string    `json:"space,omitempty"`
	AuditSubject   string    `json:"auditSubject,omitempty"`
	CorrelationID  string    `json:"correlationId,omitempty"`
	DataSHA256     string    `json:"dataSha256"`
	MetadataSHA256 string    `json:"metadataSha256"`
}

// File is one file of an export as its manifest lists it.
type File struct {
	Name    string `json:"name"`
	SHA256  string `json:"sha256"`
	Bytes   int64  `json:"bytes"`
	Records int64  `json:"records"`
}

// Manifest describes an organisation export: what it is of, how many events of each type it
// holds, and every file with its SHA-256.
type Manifest struct {
	Format       string         `json:"format"`
	Organization string         `json:"organization"`
	ExportedAt   time.Time      `json:"exportedAt"`
	Version      string         `json:"version"`
	Events       int64          `json:"events"`
	LastPosition uint64         `json:"lastPosition"`
	Types        map[string]int `json:"types"`
	Files        []File         `json:"files"`
}

// Sink creates the files of an export (a directory; see DirSink).
type Sink interface {
	Create(name string) (io.WriteCloser, error)
}

// OrganizationRequest is what an organisation export is asked for.
type OrganizationRequest struct {
	Organization string
	Version      string
	ExportedAt   time.Time
	// Progress, when set, is called now and then with the log position read so far.
	Progress func(position uint64)
}

// sectionWriter writes one file, hashing and counting as it goes.
type sectionWriter struct {
	name    string
	f       io.WriteCloser
	buf     *bufio.Writer
	h       hash.Hash
	n       int64
	records int64
	scratch []byte
}

func (w *sectionWriter) Write(p []byte) (int, error) {
	n, err := w.buf.Write(p)
	w.h.Write(p[:n])
	w.n += int64(n)
	return n, err
}

func (w *sectionWriter) line(v any) error {
	var b []byte
	var err error
	if r, ok := v.(Record); ok {
		b, err = r.appendJSON(w.scratch[:0])
		w.scratch = b
	} else {
		b, err = json.Marshal(v)
	}
	if err != nil {
		return err
	}
	b = append(b, '\n')
	w.records++
	_, err = w.Write(b)
	return err
}

func (w *sectionWriter) close() (File, error) {
	err := w.buf.Flush()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	return File{Name: w.name, SHA256: hex.EncodeToString(w.h.Sum(nil)), Bytes: w.n, Records: w.records}, err
}

// ExportOrganization writes every event of the organisation into sink, one pass over the
// log in constant memory: each event's Record into its section (SectionOf) and its
// AuditEntry into FileAudit, then the manifest. Only events whose metadata names the
// organisation are written, so another tenant's data never enters the export.
func ExportOrganization(ctx context.Context, src Source, op Opener, req OrganizationRequest, sink Sink) (Manifest, error) {
	const opName = "portability.export_organization"
	if err := domain.ValidateID("organisation id", req.Organization); err != nil {
		return Manifest{}, err
	}
	writers := map[string]*sectionWriter{}
	for _, name := range Sections {
		f, err := sink.Create(name)
		if err != nil {
			for _, w := range writers {
				_ = w.f.Close()
			}
			return Manifest{}, domain.Wrap(domain.KindUnavailable, opName, err, "the export cannot be written")
		}
		writers[name] = &sectionWriter{name: name, f: f, buf: bufio.NewWriterSize(f, 256<<10), h: sha256.New()}
	}
	m := Manifest{Format: OrganizationFormat, Organization: req.Organization, ExportedAt: req.ExportedAt.UTC(),
		Version: req.Version, Types: map[string]int{}}
	var seen int
	err := scanAhead(ctx, src, func(e ledger.Entry) error {
		seen++
		if req.Progress != nil && seen%4096 == 0 {
			req.Progress(e.Position)
		}
		md := metadata(e)
		if md.Organization != req.Organization {
			return nil
		}
		rec, err := newRecord(ctx, op, e, md)
		if err != nil {
			return err
		}
		if err := writers[SectionOf(e.Type)].line(rec); err != nil {
			return err
		}
		mh := sha256.Sum256(e.Metadata)
		if err := writers[FileAudit].line(AuditEntry{EventID: e.EventID, Type: e.Type, Stream: e.Stream, Revision: e.Revision,
			Position: e.Position, At: md.OccurredAt.UTC(), RecordedAt: e.Created.UTC(), Actor: md.Actor, Space: md.Space,
			AuditSubject: md.AuditSubject, CorrelationID: md.CorrelationID, DataSHA256: rec.DataSHA256,
			MetadataSHA256: hex.EncodeToString(mh[:])}); err != nil {
			return err
		}
		m.Events++
		m.LastPosition = e.Position
		m.Types[e.Type]++
		return ctx.Err()
	})
	var werr error
	for _, name := range Sections {
		f, cerr := writers[name].close()
		if werr == nil {
			werr = cerr
		}
		m.Files = append(m.Files, f)
	}
	if err != nil {
		return Manifest{}, err
	}
	if werr != nil {
		return Manifest{}, domain.Wrap(domain.KindUnavailable, opName, werr, "the export cannot be written")
	}
	mf, err := sink.Create(ManifestFile)
	if err != nil {
		return Manifest{}, domain.Wrap(domain.KindUnavailable, opName, err, "the export cannot be written")
	}
	enc := json.NewEncoder(mf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		_ = mf.Close()
		return Manifest{}, domain.Wrap(domain.KindUnavailable, opName, err, "the export cannot be written")
	}
	if err := mf.Close(); err != nil {
		return Manifest{}, domain.Wrap(domain.KindUnavailable, opName, err, "the export cannot be written")
	}
	return m, nil
}
