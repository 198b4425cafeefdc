package domain

import (
	"regexp"
	"unicode/utf8"
)

// Document size limits. Chunks stay well below 1 MiB per event after encryption and
// encoding.
const (
	// MaxDocumentBytes is the largest document text accepted.
	MaxDocumentBytes = 16 << 20
	// ChunkBytes is the most plaintext bytes one text-chunk event carries.
	ChunkBytes = 512 << 10
)

// Document is a text ingested into a space. Its title and text are sealed under the
// document and its space.
type Document struct {
	root
	chunks  int
	deleted bool
}

// DocumentIngested records a new document; its text follows in ChunkCount
// DocumentTextChunkAdded events of the same append.
type DocumentIngested struct {
	DocumentID     string `json:"documentId"`
	OrganizationID string `json:"organizationId"`
	SpaceID        string `json:"spaceId"`
	Title          Sealed `json:"title"`
	ContentType    string `json:"contentType"`
	SizeBytes      int    `json:"sizeBytes"`
	ChunkCount     int    `json:"chunkCount"`
	IngestedBy     string `json:"ingestedBy"`
}

// EventName implements Event.
func (DocumentIngested) EventName() string { return "document.ingested.v1" }

// DocumentTextChunkAdded carries one chunk of a document's text, split at UTF-8 boundaries.
type DocumentTextChunkAdded struct {
	DocumentID string `json:"documentId"`
	Index      int    `json:"index"`
	Text       Sealed `json:"text"`
}

// EventName implements Event.
func (DocumentTextChunkAdded) EventName() string { return "document.text_chunk_added.v1" }

// DocumentDeleted records that the document is gone.
type DocumentDeleted struct {
	DocumentID string `json:"documentId"`
}

// EventName implements Event.
func (DocumentDeleted) EventName() string { return "document.deleted.v1" }

// NewDocument returns an empty document aggregate with the given id.
func NewDocument(id string) *Document { return &Document{root: newRoot(StreamPrefixDocument, id)} }

var contentTypePattern = regexp.MustCompile(`^[a-z]+/[a-z0-9.+-]{1,100}$`)

// Ingest records a new document of space with its title and text, split into chunks.
func (d *Document) Ingest(space *Space, title, contentType, text, by string) error {
	const op = "document.ingest"
	if d.created() {
		return errExists(op, "document")
	}
	if err := ValidateID("document id", d.id); err != nil {
		return err
	}
	if !space.Live() {
		return errGone(op, "space")
	}
	t, err := NewName("document title", title)
	if err != nil {
		return err
	}
	if !contentTypePattern.MatchString(contentType) {
		return E(KindInvalid, op, "content type must look like text/plain")
	}
	if text == "" {
		return E(KindInvalid, op, "document text must not be empty")
	}
	if len(text) > MaxDocumentBytes {
		return Errorf(KindInvalid, op, "document text must be at most %d bytes, got %d", MaxDocumentBytes, len(text))
	}
	if !utf8.ValidString(text) {
		return E(KindInvalid, op, "document text must be valid UTF-8")
	}
	chunks := SplitText(text, ChunkBytes)
	subs := []Subject{DocumentSubject(d.id), SpaceSubject(space.ID())}
	record(d, DocumentIngested{
		DocumentID: d.id, OrganizationID: space.OrganizationID(), SpaceID: space.ID(),
		Title: Seal(t, subs...), ContentType: contentType, SizeBytes: len(text), ChunkCount: len(chunks), IngestedBy: by,
	})
	for i, c := range chunks {
		record(d, DocumentTextChunkAdded{DocumentID: d.id, Index: i, Text: Seal(c, subs...)})
	}
	return nil
}

// Delete records that the document is gone.
func (d *Document) Delete() error {
	const op = "document.delete"
	if !d.Live() {
		return errGone(op, "document")
	}
	record(d, DocumentDeleted{DocumentID: d.id})
	return nil
}

// Live reports whether the document exists and is not deleted.
func (d *Document) Live() bool { return d.created() && !d.deleted }

// ChunkCount returns the number of text chunks of the document.
func (d *Document) ChunkCount() int { return d.chunks }

func (d *Document) apply(e Event) {
	switch e := e.(type) {
	case DocumentIngested:
		d.org, d.space = e.OrganizationID, e.SpaceID
		d.chunks = e.ChunkCount
	case DocumentDeleted:
		d.deleted = true
	}
}

// SplitText splits valid UTF-8 text into pieces of at most max bytes without cutting a
// character (max must be at least utf8.UTFMax).
func SplitText(text string, max int) []string {
	var out []string
	for len(text) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		out = append(out, text[:cut])
		text = text[cut:]
	}
	if text != "" {
		out = append(out, text)
	}
	return out
}
