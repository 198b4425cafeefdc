package evidence

import (
	"encoding/json"
	"sort"
	"strings"
	"time"

	"github.com/arkiv/arkiv/domain"
)

// erasureDoc is erasures.json: the erasure certificates recorded in the period (each as
// recorded, a signed note that VerifyCertificate checks offline), the legal holds placed or
// lifted in it, and the holds active at its end.
type erasureDoc struct {
	Schema       string             `json:"schema"`
	Period       docContext         `json:"period"`
	Certificates []certificateEntry `json:"certificates"`
	HoldChanges  []Change           `json:"legalHoldChanges"`
	ActiveHolds  []domain.LegalHold `json:"legalHoldsActiveAtEnd"`
	active       map[string]domain.LegalHold
}

// certificateEntry is one certificate with where it is in the log.
type certificateEntry struct {
	ErasureID   string    `json:"erasureId"`
	EventID     string    `json:"eventId"`
	Leaf        uint64    `json:"leaf"`
	CertifiedAt time.Time `json:"certifiedAt"`
	Signed      bool      `json:"signed"`
	Certificate string    `json:"certificate"`
}

func newErasureDoc() *erasureDoc {
	return &erasureDoc{Schema: "erasures.v1", Certificates: []certificateEntry{}, HoldChanges: []Change{},
		active: map[string]domain.LegalHold{}}
}

// add takes one event of the organisation before the period's end.
func (d *erasureDoc) add(e Event, at, from time.Time) error {
	inPeriod := !at.Before(from)
	switch e.Type {
	case domain.ErasureCertified{}.EventName():
		if !inPeriod {
			return nil
		}
		var c domain.ErasureCertified
		if err := json.Unmarshal(e.Data, &c); err != nil {
			return err
		}
		d.Certificates = append(d.Certificates, certificateEntry{ErasureID: c.ErasureID, EventID: strings.ToLower(e.EventID),
			Leaf: e.Leaf, CertifiedAt: c.CertifiedAt, Signed: c.Signed, Certificate: c.Certificate})
	case domain.LegalHoldPlaced{}.EventName():
		var h domain.LegalHoldPlaced
		if err := json.Unmarshal(e.Data, &h); err != nil {
			return err
		}
		d.active[h.HoldID] = domain.LegalHold{ID: h.HoldID, Subject: domain.Subject{Kind: h.SubjectType, ID: h.SubjectID},
			SpaceID: h.SpaceID, Reason: h.Reason, PlacedBy: h.PlacedBy, PlacedAt: h.PlacedAt}
	case domain.LegalHoldLifted{}.EventName():
		var h domain.LegalHoldLifted
		if err := json.Unmarshal(e.Data, &h); err != nil {
			return err
		}
		delete(d.active, h.HoldID)
	default:
		return nil
	}
	if inPeriod && e.Type != (domain.ErasureCertified{}).EventName() {
		d.HoldChanges = append(d.HoldChanges, Change{At: at, Actor: e.Meta.Actor, Type: e.Type, EventID: strings.ToLower(e.EventID),
			Leaf: e.Leaf, Data: e.Data})
	}
	return nil
}

func (d *erasureDoc) doc(period docContext) *erasureDoc {
	d.Period = period
	d.ActiveHolds = make([]domain.LegalHold, 0, len(d.active))
	for _, h := range d.active {
		d.ActiveHolds = append(d.ActiveHolds, h)
	}
	sort.Slice(d.ActiveHolds, func(i, j int) bool { return d.ActiveHolds[i].ID < d.ActiveHolds[j].ID })
	return d
}
