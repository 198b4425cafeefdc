package domain

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxMessageBytes is the longest message or reply text accepted.
const MaxMessageBytes = 64 << 10

// MaxPayloadBytes is the largest model request or response payload recorded.
const MaxPayloadBytes = 512 << 10

// Conversation is one user's chat with one assistant in one space.
type Conversation struct {
	root
	assistant string
	owner     string
	messages  map[string]bool
}

// ConversationStarted records a new conversation.
type ConversationStarted struct {
	ConversationID string `json:"conversationId"`
	OrganizationID string `json:"organizationId"`
	SpaceID        string `json:"spaceId"`
	AssistantID    string `json:"assistantId"`
	StartedBy      string `json:"startedBy"`
}

// EventName implements Event.
func (ConversationStarted) EventName() string { return "conversation.started.v1" }

// MessageSent records a user's message. Its text is sealed under the author, the
// conversation and the retention bucket of the assistant and day.
type MessageSent struct {
	ConversationID string    `json:"conversationId"`
	MessageID      string    `json:"messageId"`
	Author         string    `json:"author"`
	Text           Sealed    `json:"text"`
	SentAt         time.Time `json:"sentAt"`
}

// EventName implements Event.
func (MessageSent) EventName() string { return "conversation.message_sent.v1" }

// AssistantReplyRecorded records the assistant's answer to a message, sealed like messages.
type AssistantReplyRecorded struct {
	ConversationID string       `json:"conversationId"`
	MessageID      string       `json:"messageId"`
	InReplyTo      string       `json:"inReplyTo"`
	Text           Sealed       `json:"text"`
	Excerpts       []ExcerptRef `json:"excerpts"`
	RecordedAt     time.Time    `json:"recordedAt"`
}

// EventName implements Event.
func (AssistantReplyRecorded) EventName() string { return "conversation.assistant_reply_recorded.v1" }

// ExcerptRef points at a document chunk used as context for a model call.
type ExcerptRef struct {
	DocumentID string `json:"documentId"`
	// ChunkID is the chunk's id in the search index (empty in events recorded before it
	// was kept).
	ChunkID    string  `json:"chunkId,omitempty"`
	ChunkIndex int     `json:"chunkIndex"`
	Score      float64 `json:"score"`
}

// The outcomes of a model invocation.
const (
	OutcomeOK      = "OK"
	OutcomeError   = "ERROR"
	OutcomeTimeout = "TIMEOUT"
	OutcomeRefused = "REFUSED"
)

// ModelInvocation is what a model call reports.
type ModelInvocation struct {
	InvocationID string
	MessageID    string
	Model        ModelID
	Region       Region
	Excerpts     []ExcerptRef
	// RequestPayload is the exact request body sent to the model.
	RequestPayload string
	// RequestParts, when set, split RequestPayload into runs, each naming the documents
	// whose text it carries; they must concatenate to RequestPayload. When empty, the whole
	// payload is one run carrying every excerpt's document.
	RequestParts     []PayloadPart
	ResponsePayload  string
	PromptTokens     int
	CompletionTokens int
	LatencyMillis    int64
	Outcome          string
	// Attempts is how many times the model was called (retries included).
	Attempts int
	// PayloadLoggingForbidden is the organisation's ForbidModelPayloadLogging: payloads are
	// then not kept, whatever the assistant says.
	PayloadLoggingForbidden bool
	// Error is a fixed phrase saying why a call failed or was refused; never personal data.
	Error string
}

// ModelInvocationRecorded records one model call made for a conversation. The payloads are
// recorded only when the assistant logs model payloads, sealed under the conversation, its
// owner and the organisation's model-log bucket of the day. The request is kept as
// RequestParts: the runs that carry a document's text are also sealed under that document,
// so erasing the document removes its text from the readable payload; RequestPayload is
// then left empty (events recorded before parts existed carry it whole). The response is
// also sealed under every document sent, since a model may quote them. RequestSHA256 (hex)
// identifies the exact request bytes even when payloads are not logged.
type ModelInvocationRecorded struct {
	ConversationID   string       `json:"conversationId"`
	InvocationID     string       `json:"invocationId"`
	MessageID        string       `json:"messageId"`
	AssistantID      string       `json:"assistantId,omitempty"`
	UserID           string       `json:"userId,omitempty"`
	Model            ModelID      `json:"model"`
	Region           Region       `json:"region"`
	Excerpts         []ExcerptRef `json:"excerpts"`
	PayloadLogged    bool         `json:"payloadLogged"`
	RequestPayload   Sealed       `json:"requestPayload"`
	RequestParts     []SealedPart `json:"requestParts,omitempty"`
	RequestSHA256    string       `json:"requestSha256,omitempty"`
	ResponsePayload  Sealed       `json:"responsePayload"`
	PromptTokens     int          `json:"promptTokens"`
	CompletionTokens int          `json:"completionTokens"`
	LatencyMillis    int64        `json:"latencyMillis"`
	Outcome          string       `json:"outcome"`
	Attempts         int          `json:"attempts,omitempty"`
	Error            string       `json:"error,omitempty"`
	InvokedAt        time.Time    `json:"invokedAt"`
}

// EventName implements Event.
func (ModelInvocationRecorded) EventName() string { return "conversation.model_invocation_recorded.v1" }

// NewConversation returns an empty conversation aggregate with the given id.
func NewConversation(id string) *Conversation {
	return &Conversation{root: newRoot(StreamPrefixConversation, id), messages: map[string]bool{}}
}

// Start records a new conversation of user with a live assistant.
func (c *Conversation) Start(assistant *Assistant, user string) error {
	const op = "conversation.start"
	if c.created() {
		return errExists(op, "conversation")
	}
	if err := ValidateID("conversation id", c.id); err != nil {
		return err
	}
	if !assistant.Live() {
		return errGone(op, "assistant")
	}
	record(c, ConversationStarted{ConversationID: c.id, OrganizationID: assistant.OrganizationID(),
		SpaceID: assistant.SpaceID(), AssistantID: assistant.ID(), StartedBy: user})
	return nil
}

// SendMessage records a message by author, who must own the conversation.
func (c *Conversation) SendMessage(messageID, author, text string, at time.Time) error {
	const op = "conversation.send_message"
	if err := c.own(op, author); err != nil {
		return err
	}
	if err := c.newMessage(op, messageID, text); err != nil {
		return err
	}
	record(c, MessageSent{ConversationID: c.id, MessageID: messageID, Author: author,
		Text: Seal(text, UserSubject(author), ConversationSubject(c.id), RetentionBucket(c.assistant, at)), SentAt: at})
	return nil
}

// RecordReply records the assistant's reply to an earlier message of the conversation.
func (c *Conversation) RecordReply(messageID, inReplyTo, text string, excerpts []ExcerptRef, by string, at time.Time) error {
	const op = "conversation.record_reply"
	if err := c.own(op, by); err != nil {
		return err
	}
	if !c.messages[inReplyTo] {
		return E(KindNotFound, op, "the message replied to is not in the conversation")
	}
	if err := c.newMessage(op, messageID, text); err != nil {
		return err
	}
	record(c, AssistantReplyRecorded{ConversationID: c.id, MessageID: messageID, InReplyTo: inReplyTo,
		Text:     Seal(text, UserSubject(c.owner), ConversationSubject(c.id), RetentionBucket(c.assistant, at)),
		Excerpts: append([]ExcerptRef{}, excerpts...), RecordedAt: at})
	return nil
}

// RecordModelInvocation records a model call for a message of the conversation. Payloads
// are dropped unless the assistant logs model payloads.
func (c *Conversation) RecordModelInvocation(assistant *Assistant, inv ModelInvocation, by string, at time.Time) error {
	const op = "conversation.record_model_invocation"
	if err := c.own(op, by); err != nil {
		return err
	}
	if err := ValidateID("invocation id", inv.InvocationID); err != nil {
		return err
	}
	if !c.messages[inv.MessageID] {
		return E(KindNotFound, op, "the message is not in the conversation")
	}
	if _, err := NewModelID(string(inv.Model)); err != nil {
		return err
	}
	if !inv.Region.Valid() && (inv.Outcome != OutcomeRefused || inv.Region != "") {
		// A refused call may name a model that is not allow-listed, whose region is unknown.
		return E(KindInvalid, op, "region must be SE, EU, US or ONPREM")
	}
	switch inv.Outcome {
	case OutcomeOK, OutcomeError, OutcomeTimeout, OutcomeRefused:
	default:
		return E(KindInvalid, op, "outcome must be OK, ERROR, TIMEOUT or REFUSED")
	}
	if inv.PromptTokens < 0 || inv.CompletionTokens < 0 || inv.LatencyMillis < 0 {
		return E(KindInvalid, op, "token counts and latency must not be negative")
	}
	if len(inv.RequestPayload) > MaxPayloadBytes || len(inv.ResponsePayload) > MaxPayloadBytes {
		return Errorf(KindInvalid, op, "payloads must be at most %d bytes", MaxPayloadBytes)
	}
	if len(inv.Error) > 500 || !utf8.ValidString(inv.Error) || inv.Attempts < 0 {
		return E(KindInvalid, op, "error must be at most 500 bytes of UTF-8 and attempts not negative")
	}
	docs := excerptDocuments(inv.Excerpts)
	parts := inv.RequestParts
	if len(parts) == 0 && inv.RequestPayload != "" {
		parts = []PayloadPart{{Text: inv.RequestPayload, Documents: docs}}
	}
	var joined strings.Builder
	for _, p := range parts {
		joined.WriteString(p.Text)
		for _, d := range p.Documents {
			if err := ValidateID("document id", d); err != nil {
				return err
			}
		}
	}
	if joined.String() != inv.RequestPayload {
		return E(KindInvalid, op, "request parts must concatenate to the request payload")
	}
	ev := ModelInvocationRecorded{ConversationID: c.id, InvocationID: inv.InvocationID, MessageID: inv.MessageID,
		AssistantID: c.assistant, UserID: c.owner,
		Model: inv.Model, Region: inv.Region, Excerpts: append([]ExcerptRef{}, inv.Excerpts...),
		PromptTokens: inv.PromptTokens, CompletionTokens: inv.CompletionTokens, LatencyMillis: inv.LatencyMillis,
		Outcome: inv.Outcome, Attempts: inv.Attempts, Error: inv.Error, InvokedAt: at}
	if inv.RequestPayload != "" {
		ev.RequestSHA256 = PayloadHash(inv.RequestPayload)
	}
	if assistant.LogsModelPayloads() && !inv.PayloadLoggingForbidden {
		subs := []Subject{UserSubject(c.owner), ConversationSubject(c.id), ModelLogBucket(c.org, at)}
		ev.PayloadLogged = true
		ev.RequestParts = make([]SealedPart, len(parts))
		for i, p := range parts {
			ps := append([]Subject{}, subs...)
			for _, d := range p.Documents {
				ps = append(ps, DocumentSubject(d))
			}
			ev.RequestParts[i] = SealedPart{Text: Seal(p.Text, ps...), Documents: append([]string(nil), p.Documents...)}
		}
		rs := append([]Subject{}, subs...)
		for _, d := range docs {
			rs = append(rs, DocumentSubject(d))
		}
		ev.ResponsePayload = Seal(inv.ResponsePayload, rs...)
	}
	record(c, ev)
	return nil
}

// excerptDocuments returns the distinct document ids of excerpts, in order of appearance.
func excerptDocuments(ex []ExcerptRef) []string {
	seen := map[string]bool{}
	var out []string
	for _, e := range ex {
		if e.DocumentID != "" && !seen[e.DocumentID] {
			seen[e.DocumentID] = true
			out = append(out, e.DocumentID)
		}
	}
	return out
}

// PayloadHash returns the hex SHA-256 of a model request payload.
func PayloadHash(payload string) string {
	h := sha256.Sum256([]byte(payload))
	return hex.EncodeToString(h[:])
}

// Owner returns the user who started the conversation.
func (c *Conversation) Owner() string { return c.owner }

// AssistantID returns the conversation's assistant.
func (c *Conversation) AssistantID() string { return c.assistant }

// own checks that the conversation exists and user owns it: conversations are private.
func (c *Conversation) own(op, user string) error {
	if !c.created() {
		return errGone(op, "conversation")
	}
	if user != c.owner {
		return E(KindForbidden, op, "only the conversation's owner may write to it")
	}
	return nil
}

func (c *Conversation) newMessage(op, id, text string) error {
	if err := ValidateID("message id", id); err != nil {
		return err
	}
	if c.messages[id] {
		return E(KindConflict, op, "message id already used in the conversation")
	}
	if text == "" || len(text) > MaxMessageBytes || !utf8.ValidString(text) {
		return Errorf(KindInvalid, op, "message text must be 1 to %d bytes of UTF-8", MaxMessageBytes)
	}
	return nil
}

func (c *Conversation) apply(e Event) {
	switch e := e.(type) {
	case ConversationStarted:
		c.org, c.space = e.OrganizationID, e.SpaceID
		c.assistant, c.owner = e.AssistantID, e.StartedBy
	case MessageSent:
		c.messages[e.MessageID] = true
	case AssistantReplyRecorded:
		c.messages[e.MessageID] = true
	}
}
