package domain

import (
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ReasonModelPolicy is the access-denied reason of a model call the organisation's model
// policy refuses (not allow-listed, not enabled in the space, not cleared for the space's
// classification, or hosted outside the EU in an EU-only organisation).
const ReasonModelPolicy = "model not permitted by the organisation's model policy"

// CheckModelUse decides whether the model id may serve a space classified class in which
// the models enabled are enabled, under the organisation's settings s. It returns the
// model's allow-list entry (endpoint and region), or a KindForbidden error whose message
// says why, safe to show to the user:
//   - the model must be on the organisation's allow-list;
//   - in an EU-only organisation it must be hosted in Sweden, the EU or on premises (on-prem
//     models run on the organisation's own infrastructure, so they count as EU);
//   - it must be enabled in the space;
//   - its maximum classification must be at least the space's.
//
// Settings validation already keeps non-EU models off an EU-only allow-list; this check
// repeats it at call time so no stored state can send data outside the EU.
func CheckModelUse(s OrganizationSettings, class Classification, enabled []ModelID, id ModelID) (AllowedModel, error) {
	const op = "model.check_use"
	m, ok := s.Model(id)
	if !ok {
		return AllowedModel{}, Errorf(KindForbidden, op, "model %s is not on the organisation's allow-list", id)
	}
	if s.EUOnly && !m.Region.InEU() {
		return AllowedModel{}, Errorf(KindForbidden, op, "the organisation is EU-only and model %s is hosted in %s", id, m.Region)
	}
	if !m.Region.Valid() {
		return AllowedModel{}, Errorf(KindForbidden, op, "model %s has no known hosting region", id)
	}
	found := false
	for _, e := range enabled {
		if e == id {
			found = true
			break
		}
	}
	if !found {
		return AllowedModel{}, Errorf(KindForbidden, op, "model %s is not enabled in the space", id)
	}
	rank := s.Rank(class)
	if rank < 0 {
		return AllowedModel{}, E(KindForbidden, op, "the space's classification is not one of the organisation's levels")
	}
	if s.Rank(m.MaxClassification) < rank {
		return AllowedModel{}, Errorf(KindForbidden, op, "model %s may not see data classified %s", id, class)
	}
	return m, nil
}

// Retrieval limits: how many excerpts, and how many characters of them in total, reach a
// model. An assistant may lower or raise them within the hard bounds; models hosted outside
// the EU always get at most the stricter non-EU limits.
const (
	DefaultMaxExcerpts     = 5
	DefaultMaxExcerptChars = 4000
	NonEUMaxExcerpts       = 3
	NonEUMaxExcerptChars   = 1500
	MaxExcerptsBound       = 12
	MaxExcerptCharsBound   = 32000
	MinExcerptCharsBound   = 100
	// minExcerptRunes is the shortest truncated excerpt worth sending.
	minExcerptRunes = 40
)

// RetrievalLimits bound what reaches a model: at most MaxExcerpts excerpts and MaxChars
// characters (runes) of excerpt text in total.
type RetrievalLimits struct {
	MaxExcerpts int
	MaxChars    int
}

// ValidateRetrievalSettings checks an assistant's retrieval settings: 0 means the default,
// otherwise 1..MaxExcerptsBound excerpts and MinExcerptCharsBound..MaxExcerptCharsBound
// characters.
func ValidateRetrievalSettings(maxExcerpts, maxChars int) error {
	const op = "retrieval.validate"
	if maxExcerpts != 0 && (maxExcerpts < 1 || maxExcerpts > MaxExcerptsBound) {
		return Errorf(KindInvalid, op, "maximum excerpts must be 0 (default) or 1 to %d", MaxExcerptsBound)
	}
	if maxChars != 0 && (maxChars < MinExcerptCharsBound || maxChars > MaxExcerptCharsBound) {
		return Errorf(KindInvalid, op, "maximum excerpt characters must be 0 (default) or %d to %d", MinExcerptCharsBound, MaxExcerptCharsBound)
	}
	return nil
}

// LimitsFor returns the limits for an assistant's settings (0 = default) and a model hosted
// in region: the defaults are 5 excerpts and 4000 characters; outside the EU at most 3 and
// 1500, whatever the assistant says.
func LimitsFor(maxExcerpts, maxChars int, region Region) RetrievalLimits {
	l := RetrievalLimits{MaxExcerpts: DefaultMaxExcerpts, MaxChars: DefaultMaxExcerptChars}
	if maxExcerpts > 0 {
		l.MaxExcerpts = min(maxExcerpts, MaxExcerptsBound)
	}
	if maxChars > 0 {
		l.MaxChars = min(maxChars, MaxExcerptCharsBound)
	}
	if !region.InEU() {
		l.MaxExcerpts = min(l.MaxExcerpts, NonEUMaxExcerpts)
		l.MaxChars = min(l.MaxChars, NonEUMaxExcerptChars)
	}
	return l
}

// Candidate is a retrieved chunk that may become an excerpt sent to a model.
type Candidate struct {
	DocumentID string
	ChunkID    string
	ChunkIndex int
	Text       string
	Score      float64
	// DocumentChunks is how many chunks the document has in the index; 0 when unknown
	// (then the document is treated as a single chunk).
	DocumentChunks int
}

// Ref returns the excerpt's reference as recorded in events.
func (c Candidate) Ref() ExcerptRef {
	return ExcerptRef{DocumentID: c.DocumentID, ChunkID: c.ChunkID, ChunkIndex: c.ChunkIndex, Score: c.Score}
}

// SelectExcerpts applies limits to retrieved candidates and returns what may be sent, best
// first:
//   - candidates are taken by descending score, each chunk once;
//   - at most MaxExcerpts excerpts and MaxChars runes in total (the last one is cut at a word
//     boundary to fit; a remainder too short to be useful is dropped);
//   - a whole document is never sent: from a document of n chunks at most max(1, n/2)
//     chunks are taken, and when that would still be all of it (a one-chunk document, or
//     one of unknown size) the excerpt is cut to at most half its text.
func SelectExcerpts(cands []Candidate, lim RetrievalLimits) []Candidate {
	sorted := append([]Candidate(nil), cands...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Score > sorted[j].Score })
	type key struct {
		doc   string
		chunk int
	}
	seen := map[key]bool{}
	perDoc := map[string]int{}
	budget := lim.MaxChars
	var out []Candidate
	for _, c := range sorted {
		if len(out) >= lim.MaxExcerpts || budget < minExcerptRunes {
			break
		}
		k := key{c.DocumentID, c.ChunkIndex}
		if c.DocumentID == "" || seen[k] || strings.TrimSpace(c.Text) == "" {
			continue
		}
		n := max(c.DocumentChunks, 1)
		if perDoc[c.DocumentID] >= max(1, n/2) {
			continue
		}
		if perDoc[c.DocumentID]+1 >= n {
			// Taking this chunk would send the whole document: send at most half of it.
			c.Text = truncateRunes(c.Text, utf8.RuneCountInString(c.Text)/2)
		}
		if utf8.RuneCountInString(c.Text) > budget {
			c.Text = truncateRunes(c.Text, budget)
		}
		r := utf8.RuneCountInString(c.Text)
		if r < min(minExcerptRunes, budget) || strings.TrimSpace(c.Text) == "" {
			continue
		}
		seen[k] = true
		perDoc[c.DocumentID]++
		budget -= r
		out = append(out, c)
	}
	return out
}

// truncateRunes returns the longest prefix of s of at most n runes that ends at a word
// boundary (or at n runes when the first word is longer).
func truncateRunes(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	end, count := len(s), 0
	for i := range s {
		if count == n {
			end = i
			break
		}
		count++
	}
	cut := s[:end]
	if i := strings.LastIndexFunc(cut, unicode.IsSpace); i > 0 {
		cut = cut[:i]
	}
	return strings.TrimRightFunc(cut, unicode.IsSpace)
}

// PayloadPart is one piece of a model request payload as recorded: Text is a run of the
// payload's bytes and Documents the documents whose text the run carries (none for the
// framing, the question and the instructions). The parts of a payload concatenate to it
// byte for byte.
type PayloadPart struct {
	Text      string
	Documents []string
}

// SealedPart is a PayloadPart in an event: its text is sealed under the conversation, its
// owner, the model-log bucket and each of its documents, so erasing a document makes the
// runs carrying its text unreadable while the rest of the payload stays readable.
type SealedPart struct {
	Text      Sealed   `json:"text"`
	Documents []string `json:"documents,omitempty"`
}

// RedactedMarker replaces an unreadable part in the readable form of a recorded payload.
const RedactedMarker = "[erased]"

// JoinParts returns the readable form of a recorded payload: the parts' texts
// concatenated, each unreadable part replaced by RedactedMarker; complete is false when
// any part was unreadable.
func JoinParts(parts []SealedPart) (text string, complete bool) {
	var b strings.Builder
	complete = true
	for _, p := range parts {
		if p.Text.Redacted {
			b.WriteString(RedactedMarker)
			complete = false
			continue
		}
		b.WriteString(p.Text.Plain)
	}
	return b.String(), complete
}

// Request returns the readable form of the recorded request payload (see JoinParts), from
// its parts or, for events recorded before parts existed, from RequestPayload.
func (e ModelInvocationRecorded) Request() (text string, complete bool) {
	if len(e.RequestParts) > 0 {
		return JoinParts(e.RequestParts)
	}
	return JoinParts([]SealedPart{{Text: e.RequestPayload}})
}
