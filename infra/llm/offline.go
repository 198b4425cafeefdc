package llm

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"unicode"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
)

// OfflineEndpoint is the allow-list endpoint of the offline answerer. The ".invalid" domain
// never resolves, so nothing is ever sent anywhere: Router serves it with Offline.
const OfflineEndpoint = domain.OfflineEndpoint

// OfflineModel is the model id under which `arkiv dev` allow-lists the offline answerer.
const OfflineModel domain.ModelID = "arkiv-offline"

// NoAnswer is the offline answerer's reply when no excerpt matches the question.
const NoAnswer = "I found nothing in this space's documents that answers the question."

// Offline is an extractive answerer that needs no network and no model: it picks the
// sentences of the excerpts most similar to the question and cites them [1], [2] with their
// documents. Its request payload is the chat-completions body a remote model would get, so
// invocations are recorded the same way.
type Offline struct {
	// Sentences is the most sentences in a reply (default 3).
	Sentences int
}

// NewOffline returns the offline answerer.
func NewOffline() *Offline { return &Offline{Sentences: 3} }

type scored struct {
	text   string
	ref    int
	score  float64
	excIdx int
	pos    int
}

// Complete composes the reply and streams it word by word to req.OnToken.
func (o *Offline) Complete(ctx context.Context, req commands.ModelRequest) (commands.ModelResponse, error) {
	payload, err := BuildPayload(req)
	if err != nil {
		return commands.ModelResponse{}, err
	}
	res := commands.ModelResponse{RequestPayload: payload, RequestParts: SplitPayload(payload, req.Excerpts), Attempts: 1}
	if err := ctx.Err(); err != nil {
		return res, domain.Wrap(domain.KindUnavailable, "llm.offline", err, "the request was cancelled")
	}
	res.Text = o.answer(req)
	if req.OnToken != nil {
		for _, tok := range tokens(res.Text) {
			req.OnToken(tok)
		}
	}
	res.PromptTokens, res.CompletionTokens = EstimateTokens(string(payload)), EstimateTokens(res.Text)
	body, err := json.Marshal(map[string]any{
		"object":  "chat.completion",
		"model":   string(req.Model),
		"choices": []any{map[string]any{"index": 0, "message": commands.ChatMessage{Role: "assistant", Content: res.Text}, "finish_reason": "stop"}},
		"usage":   map[string]int{"prompt_tokens": res.PromptTokens, "completion_tokens": res.CompletionTokens},
	})
	if err != nil {
		return res, domain.Wrap(domain.KindInternal, "llm.offline", err, "encode the answer")
	}
	res.ResponsePayload = body
	return res, nil
}

func (o *Offline) answer(req commands.ModelRequest) string {
	q := terms(req.Question)
	if len(q) == 0 || len(req.Excerpts) == 0 {
		return NoAnswer
	}
	// Inverse document frequency over the excerpts' sentences weighs rare words up.
	var cands []scored
	df := map[string]int{}
	var sentTerms [][]string
	for i, e := range req.Excerpts {
		for j, s := range sentences(e.Text) {
			ts := terms(s)
			seen := map[string]bool{}
			for _, t := range ts {
				if !seen[t] {
					seen[t] = true
					df[t]++
				}
			}
			sentTerms = append(sentTerms, ts)
			cands = append(cands, scored{text: s, ref: e.Number, excIdx: i, pos: j})
		}
	}
	n := float64(len(cands))
	qset := map[string]bool{}
	for _, t := range q {
		qset[t] = true
	}
	for i := range cands {
		ts := sentTerms[i]
		if len(ts) == 0 {
			continue
		}
		hit := 0.0
		seen := map[string]bool{}
		for _, t := range ts {
			if qset[t] && !seen[t] {
				seen[t] = true
				hit += math.Log(1 + n/float64(df[t]))
			}
		}
		// Favour sentences that cover the question, not merely long ones.
		cands[i].score = hit / math.Sqrt(float64(len(ts)))
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].score > cands[j].score })
	k := o.Sentences
	if k <= 0 {
		k = 3
	}
	var picked []scored
	for _, c := range cands {
		if len(picked) == k || c.score <= 0 {
			break
		}
		picked = append(picked, c)
	}
	if len(picked) == 0 {
		return NoAnswer
	}
	// Present in the order of the sources, as a reader would.
	sort.SliceStable(picked, func(i, j int) bool {
		if picked[i].excIdx != picked[j].excIdx {
			return picked[i].excIdx < picked[j].excIdx
		}
		return picked[i].pos < picked[j].pos
	})
	var b strings.Builder
	b.WriteString("From the space's documents:\n")
	cited := map[int]bool{}
	var refs []int
	for _, p := range picked {
		fmt.Fprintf(&b, "\n- %s [%d]", p.text, p.ref)
		if !cited[p.ref] {
			cited[p.ref] = true
			refs = append(refs, p.ref)
		}
	}
	b.WriteString("\n\nSources:")
	for _, r := range refs {
		for _, e := range req.Excerpts {
			if e.Number == r {
				fmt.Fprintf(&b, "\n[%d] document %s", r, e.DocumentID)
				break
			}
		}
	}
	return b.String()
}

// sentences splits text at sentence ends (. ! ? and line breaks), trimming each.
func sentences(text string) []string {
	var out []string
	start := 0
	flush := func(end int) {
		if s := strings.Join(strings.Fields(text[start:end]), " "); s != "" {
			out = append(out, s)
		}
		start = end
	}
	for i, r := range text {
		switch r {
		case '\n':
			flush(i)
		case '.', '!', '?':
			if i+1 == len(text) || text[i+1] == ' ' || text[i+1] == '\n' {
				flush(i + 1)
			}
		}
	}
	flush(len(text))
	return out
}

// terms returns the lower-cased words of s of at least three letters, minus common stop
// words (English and Swedish).
func terms(s string) []string {
	var out []string
	for _, w := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		if len([]rune(w)) < 3 || stop[w] {
			continue
		}
		out = append(out, w)
	}
	return out
}

var stop = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`the and for are but not you all any can her was one our out has have had him his how its may new now see two who did does what when where which why with this that from they them then than there their these those into about would could should will shall been being were your yours also only some such very just
	och att det som för med den har inte var ett till kan ska vad hur när där vem vilka vilken eller men han hon dem deras sin sitt sina också från efter under över`) {
		m[w] = true
	}
	return m
}()

// tokens splits a reply into streamable pieces: each word with the space before it.
func tokens(s string) []string {
	var out []string
	start := 0
	for i := 1; i < len(s); i++ {
		if (s[i] == ' ' || s[i] == '\n') && s[i-1] != ' ' && s[i-1] != '\n' {
			out = append(out, s[start:i])
			start = i
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}
