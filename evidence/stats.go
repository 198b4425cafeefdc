package evidence

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"
	"strings"
	"time"

	"github.com/arkiv/arkiv/domain"
)

// stats counts the safeguards exercised in the period.
type stats struct {
	denials      map[string]int
	denialsByCmd map[string]int
	loginsOK     int
	loginsFailed map[string]int
	models       map[string]*modelStat
	erasures     map[string]int
	erasureCerts []erasureCert
	retention    map[string]int
	auditReads   []auditRead
	exports      []exportMade
}

type modelStat struct {
	Region         domain.Region         `json:"region"`
	Classification domain.Classification `json:"classification"`
	Calls          int                   `json:"calls"`
	Excerpts       int                   `json:"excerpts"`
	RequestParts   int                   `json:"requestParts"`
	SealedBytes    int                   `json:"sealedRequestBytes"`
	PromptTokens   int                   `json:"promptTokens"`
	PayloadsLogged int                   `json:"payloadsLogged"`
}

type erasureCert struct {
	ErasureID   string    `json:"erasureId"`
	SubjectType string    `json:"subjectType"`
	SubjectID   string    `json:"subjectId"`
	CompletedAt time.Time `json:"completedAt"`
	EventID     string    `json:"eventId"`
	Leaf        uint64    `json:"leaf"`
}

type auditRead struct {
	At    time.Time `json:"at"`
	Actor string    `json:"actor"`
	Type  string    `json:"type"`
	// JustificationRef is the SHA-256 of the sealed justification as stored: a reference
	// to it in the log, never its text.
	JustificationRef string `json:"justificationRef,omitempty"`
	EventID          string `json:"eventId"`
	Leaf             uint64 `json:"leaf"`
}

type exportMade struct {
	At               time.Time `json:"at"`
	Actor            string    `json:"actor"`
	Type             string    `json:"type"`
	Format           string    `json:"format,omitempty"`
	JustificationRef string    `json:"justificationRef,omitempty"`
	EventID          string    `json:"eventId"`
	Leaf             uint64    `json:"leaf"`
}

func newStats() *stats {
	return &stats{denials: map[string]int{}, denialsByCmd: map[string]int{}, loginsFailed: map[string]int{},
		models: map[string]*modelStat{}, erasures: map[string]int{"requested": 0, "restored": 0, "completed": 0}, retention: map[string]int{}}
}

// The payloads the statistics read (non-sealed fields; sealed ones stay raw).
type (
	deniedData struct {
		Command string `json:"command"`
		Reason  string `json:"reason"`
	}
	loginFailedData struct {
		Reason string `json:"reason"`
	}
	invocationData struct {
		Region        domain.Region       `json:"region"`
		Excerpts      []domain.ExcerptRef `json:"excerpts"`
		PayloadLogged bool                `json:"payloadLogged"`
		RequestParts  []struct {
			Text json.RawMessage `json:"text"`
		} `json:"requestParts"`
		PromptTokens int `json:"promptTokens"`
	}
	erasureData struct {
		ErasureID   string `json:"erasureId"`
		SubjectType string `json:"subjectType"`
		SubjectID   string `json:"subjectId"`
	}
	retentionData struct {
		BucketKind string `json:"bucketKind"`
	}
	justifiedData struct {
		Justification json.RawMessage `json:"justification"`
		Format        string          `json:"format"`
		What          string          `json:"what"`
	}
)

func ref(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" || string(raw) == `""` {
		return ""
	}
	s := sha256.Sum256(raw)
	return "sha256:" + hex.EncodeToString(s[:])
}

func (s *stats) add(e Event, cfg *ConfigFold) error {
	id := strings.ToLower(e.EventID)
	switch e.Type {
	case domain.AccessDenied{}.EventName():
		var d deniedData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return err
		}
		s.denials[d.Reason]++
		s.denialsByCmd[d.Command]++
	case domain.LoginSucceeded{}.EventName():
		s.loginsOK++
	case domain.LoginFailed{}.EventName():
		var d loginFailedData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return err
		}
		s.loginsFailed[d.Reason]++
	case domain.ModelInvocationRecorded{}.EventName():
		var d invocationData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return err
		}
		c := cfg.Classification(e.Meta.Space)
		k := string(d.Region) + "\x00" + string(c)
		m := s.models[k]
		if m == nil {
			m = &modelStat{Region: d.Region, Classification: c}
			s.models[k] = m
		}
		m.Calls++
		m.Excerpts += len(d.Excerpts)
		m.RequestParts += len(d.RequestParts)
		for _, p := range d.RequestParts {
			m.SealedBytes += len(p.Text)
		}
		m.PromptTokens += d.PromptTokens
		if d.PayloadLogged {
			m.PayloadsLogged++
		}
	case domain.ErasureRequested{}.EventName():
		s.erasures["requested"]++
	case domain.ErasureRestored{}.EventName():
		s.erasures["restored"]++
	case domain.ErasureCompleted{}.EventName():
		var d erasureData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return err
		}
		s.erasures["completed"]++
		s.erasureCerts = append(s.erasureCerts, erasureCert{ErasureID: d.ErasureID, SubjectType: d.SubjectType, SubjectID: d.SubjectID,
			CompletedAt: e.At(), EventID: id, Leaf: e.Leaf})
	case domain.RetentionBucketDestroyed{}.EventName():
		var d retentionData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return err
		}
		s.retention[d.BucketKind]++
	case domain.AuditLogViewed{}.EventName(), domain.AuditIntegrityViewed{}.EventName(), domain.ModelInvocationsViewed{}.EventName(),
		domain.DocumentViewed{}.EventName():
		var d justifiedData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return err
		}
		if e.Type == (domain.DocumentViewed{}).EventName() {
			return nil // content reads, not audit reads
		}
		s.auditReads = append(s.auditReads, auditRead{At: e.At(), Actor: e.Meta.Actor, Type: e.Type, JustificationRef: ref(d.Justification), EventID: id, Leaf: e.Leaf})
	case domain.AuditLogExported{}.EventName(), domain.DataExported{}.EventName(), EvidenceExportedType:
		var d justifiedData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return err
		}
		s.exports = append(s.exports, exportMade{At: e.At(), Actor: e.Meta.Actor, Type: e.Type, Format: d.Format, JustificationRef: ref(d.Justification), EventID: id, Leaf: e.Leaf})
	}
	return nil
}

// EvidenceExportedType is the event an evidence export records (domain.EvidenceExported).
const EvidenceExportedType = "access.evidence_exported.v1"

type countEntry struct {
	Key   string `json:"key"`
	Count int    `json:"count"`
}

func counts(m map[string]int) []countEntry {
	out := []countEntry{}
	for k, n := range m {
		out = append(out, countEntry{k, n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

type safeguardsDoc struct {
	Schema            string        `json:"schema"`
	Period            docContext    `json:"period"`
	DenialsByReason   []countEntry  `json:"denialsByReason"`
	DenialsByCommand  []countEntry  `json:"denialsByCommand"`
	LoginsSucceeded   int           `json:"loginsSucceeded"`
	LoginsFailed      []countEntry  `json:"loginsFailedByReason"`
	ModelCalls        []modelStat   `json:"modelCalls"`
	Erasures          []countEntry  `json:"erasures"`
	ErasureCerts      []erasureCert `json:"erasureCertificates"`
	RetentionByBucket []countEntry  `json:"retentionDestructionsByBucketKind"`
	AuditReads        []auditRead   `json:"auditReads"`
	Exports           []exportMade  `json:"exports"`
}

func (s *stats) doc(p docContext) safeguardsDoc {
	d := safeguardsDoc{Schema: "safeguards.v1", Period: p, DenialsByReason: counts(s.denials), DenialsByCommand: counts(s.denialsByCmd),
		LoginsSucceeded: s.loginsOK, LoginsFailed: counts(s.loginsFailed), ModelCalls: []modelStat{}, Erasures: counts(s.erasures),
		ErasureCerts: s.erasureCerts, RetentionByBucket: counts(s.retention), AuditReads: s.auditReads, Exports: s.exports}
	for _, m := range s.models {
		d.ModelCalls = append(d.ModelCalls, *m)
	}
	sort.Slice(d.ModelCalls, func(i, j int) bool {
		a, b := d.ModelCalls[i], d.ModelCalls[j]
		return string(a.Region)+"\x00"+string(a.Classification) < string(b.Region)+"\x00"+string(b.Classification)
	})
	if d.ErasureCerts == nil {
		d.ErasureCerts = []erasureCert{}
	}
	if d.AuditReads == nil {
		d.AuditReads = []auditRead{}
	}
	if d.Exports == nil {
		d.Exports = []exportMade{}
	}
	return d
}
