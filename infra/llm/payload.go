// Package llm holds Arkiv's language-model providers behind commands.ModelProvider: an
// OpenAI-compatible chat-completions client (vLLM, Ollama, OpenAI, Azure and EU hosts) that
// streams tokens over server-sent events and retries within bounds, and Offline, an
// extractive answerer that needs no network and composes its reply, with citations, from the
// retrieved excerpts. Both return the exact request bytes, split into parts per document, so
// the invocation can be recorded byte for byte and a document's text erased from it.
package llm

import (
	"bytes"
	"encoding/json"
	"sort"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
)

// chatRequest is the chat-completions request body.
type chatRequest struct {
	Model         string                 `json:"model"`
	Messages      []commands.ChatMessage `json:"messages"`
	Stream        bool                   `json:"stream"`
	StreamOptions *streamOptions         `json:"stream_options,omitempty"`
	MaxTokens     int                    `json:"max_tokens,omitempty"`
	Temperature   float64                `json:"temperature"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// BuildPayload returns the chat-completions request body for req (streaming, with usage),
// exactly as it is sent.
func BuildPayload(req commands.ModelRequest) ([]byte, error) {
	b, err := json.Marshal(chatRequest{Model: string(req.Model), Messages: req.Messages, Stream: true,
		StreamOptions: &streamOptions{IncludeUsage: true}, MaxTokens: req.MaxTokens, Temperature: 0.1})
	if err != nil {
		return nil, domain.Wrap(domain.KindInternal, "llm.payload", err, "encode the model request")
	}
	return b, nil
}

// SplitPayload splits a JSON payload into runs: every place where an excerpt's text
// appears (JSON-escaped, as encoding/json writes it) becomes a run carrying that excerpt's
// document; the rest carries none. The runs concatenate to payload. An excerpt whose text
// is not found marks the whole payload as carrying its document, so erasure can never miss
// it.
func SplitPayload(payload []byte, excerpts []commands.ModelExcerpt) []domain.PayloadPart {
	type span struct {
		start, end int
		docs       []string
	}
	var spans []span
	var unfound []string
	for _, e := range excerpts {
		if e.Text == "" {
			continue
		}
		q, err := json.Marshal(e.Text)
		if err != nil || len(q) < 3 {
			unfound = append(unfound, e.DocumentID)
			continue
		}
		needle := q[1 : len(q)-1]
		found := false
		for off := 0; ; {
			i := bytes.Index(payload[off:], needle)
			if i < 0 {
				break
			}
			found = true
			spans = append(spans, span{off + i, off + i + len(needle), []string{e.DocumentID}})
			off += i + len(needle)
		}
		if !found {
			unfound = append(unfound, e.DocumentID)
		}
	}
	if len(unfound) > 0 {
		docs := unfound
		for _, s := range spans {
			docs = append(docs, s.docs...)
		}
		return []domain.PayloadPart{{Text: string(payload), Documents: distinct(docs)}}
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].start < spans[j].start })
	var merged []span
	for _, s := range spans {
		if n := len(merged); n > 0 && s.start < merged[n-1].end {
			merged[n-1].end = max(merged[n-1].end, s.end)
			merged[n-1].docs = append(merged[n-1].docs, s.docs...)
			continue
		}
		merged = append(merged, s)
	}
	var parts []domain.PayloadPart
	pos := 0
	for _, s := range merged {
		if s.start > pos {
			parts = append(parts, domain.PayloadPart{Text: string(payload[pos:s.start])})
		}
		parts = append(parts, domain.PayloadPart{Text: string(payload[s.start:s.end]), Documents: distinct(s.docs)})
		pos = s.end
	}
	if pos < len(payload) {
		parts = append(parts, domain.PayloadPart{Text: string(payload[pos:])})
	}
	return parts
}

func distinct(ids []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, id := range ids {
		if id != "" && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}
