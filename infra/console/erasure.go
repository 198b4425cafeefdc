package console

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// legalHold is a legal hold as legalHolds lists it.
type legalHold struct {
	ID          string  `json:"id"`
	SubjectType string  `json:"subjectType"`
	SubjectID   string  `json:"subjectId"`
	SpaceID     *string `json:"spaceId"`
	Reason      string  `json:"reason"`
	PlacedBy    string  `json:"placedBy"`
	PlacedAt    string  `json:"placedAt"`
	LiftedBy    *string `json:"liftedBy"`
	LiftedAt    *string `json:"liftedAt"`
	LiftReason  *string `json:"liftReason"`
}

// deletedItem is a pending erasure order as deletedItems lists it.
type deletedItem struct {
	ErasureID       string  `json:"erasureId"`
	SubjectType     string  `json:"subjectType"`
	SubjectID       string  `json:"subjectId"`
	SpaceID         *string `json:"spaceId"`
	Origin          string  `json:"origin"`
	LegalBasis      *string `json:"legalBasis"`
	RequestedBy     string  `json:"requestedBy"`
	RequestedAt     string  `json:"requestedAt"`
	RestorableUntil string  `json:"restorableUntil"`
	LegalHold       *struct {
		ID     string `json:"id"`
		Reason string `json:"reason"`
	} `json:"legalHold"`
	// Left is the time left to restore it, for people.
	Left string
}

// certificate is a completed erasure's certificate.
type certificate struct {
	ErasureID   string `json:"erasureId"`
	SubjectType string `json:"subjectType"`
	SubjectID   string `json:"subjectId"`
	Signed      bool   `json:"signed"`
	CertifiedAt string `json:"certifiedAt"`
	Certificate string `json:"certificate"`
}

// erasureData is the erasure page: its forms, the pending erasures, the legal holds, a
// certificate asked for, and the outcome of the last action.
type erasureData struct {
	Done, DoneID, Position string
	SubjectTypes           []string
	HoldTypes              []string
	Pending                []deletedItem
	PendingErr             *Error
	Holds                  []legalHold
	HoldsErr               *Error
	CertID                 string
	Cert                   *certificate
	CertErr                *Error
	CertAsked              bool
}

var (
	subjectTypes = []string{"USER", "DOCUMENT", "CONVERSATION", "SPACE", "ASSISTANT", "ORGANIZATION"}
	holdTypes    = []string{"SPACE", "DOCUMENT", "CONVERSATION", "USER"}
)

const (
	qDeletedItems = `query($at: String) { deletedItems(first: 100, consistentAt: $at) { erasureId subjectType subjectId spaceId origin legalBasis
  requestedBy requestedAt restorableUntil legalHold { id reason } } }`
	qLegalHolds = `query($at: String) { legalHolds(includeLifted: true, consistentAt: $at) { id subjectType subjectId spaceId reason placedBy placedAt
  liftedBy liftedAt liftReason } }`
	qCertificate = `query($id: ID!) { erasureCertificate(id: $id) { erasureId subjectType subjectId signed certifiedAt certificate } }`
)

// refusal returns err as an *Error when the API refused the caller (FORBIDDEN), so a page
// can show it in place; any other failure is returned as the second result.
func refusal(err error) (*Error, error) {
	var ge *Error
	if errors.As(err, &ge) && ge.Code == "FORBIDDEN" {
		return ge, nil
	}
	return nil, err
}

// left says how long until t, for people.
func left(t string, now time.Time) string {
	p, err := time.Parse(time.RFC3339Nano, t)
	if err != nil {
		return ""
	}
	d := p.Sub(now)
	switch {
	case d <= 0:
		return "due now"
	case d >= 48*time.Hour:
		h := int(d.Hours())
		return strconv.Itoa(h/24) + " days " + strconv.Itoa(h%24) + " h left"
	case d >= time.Hour:
		return strconv.Itoa(int(d.Hours())) + " h left"
	default:
		return strconv.Itoa(int(d.Minutes())+1) + " min left"
	}
}

// erasure shows the pending erasures with their restore deadlines and a restore button
// each, the legal holds, a completed erasure's certificate, and the forms to order an
// erasure and to place a hold.
func (c *Console) erasure(w http.ResponseWriter, r *http.Request, s sess) {
	v, ok := c.begin(w, r, s, "erasure", "Erasure")
	if !ok {
		return
	}
	q := r.URL.Query()
	d := erasureData{Done: q.Get("done"), DoneID: q.Get("id"), Position: q.Get("position"), SubjectTypes: subjectTypes, HoldTypes: holdTypes,
		CertID: strings.TrimSpace(q.Get("certificate"))}
	vars := map[string]any{}
	if d.Position != "" {
		vars["at"] = d.Position
	}
	var pend struct {
		D []deletedItem `json:"deletedItems"`
	}
	var err error
	if err = c.gql.do(r, s.token, qDeletedItems, vars, &pend); err != nil {
		if d.PendingErr, err = refusal(err); err != nil {
			c.fail(w, r, v, err)
			return
		}
	}
	now := time.Now()
	for _, it := range pend.D {
		it.Left = left(it.RestorableUntil, now)
		d.Pending = append(d.Pending, it)
	}
	var holds struct {
		H []legalHold `json:"legalHolds"`
	}
	if err = c.gql.do(r, s.token, qLegalHolds, vars, &holds); err != nil {
		if d.HoldsErr, err = refusal(err); err != nil {
			c.fail(w, r, v, err)
			return
		}
	}
	d.Holds = holds.H
	if d.CertID != "" {
		d.CertAsked = true
		var cert struct {
			C *certificate `json:"erasureCertificate"`
		}
		if err := c.gql.do(r, s.token, qCertificate, map[string]any{"id": d.CertID}, &cert); err != nil {
			var ge *Error
			if !errors.As(err, &ge) || ge.Code == "UNAUTHENTICATED" {
				c.fail(w, r, v, err)
				return
			}
			d.CertErr = ge
		}
		d.Cert = cert.C
	}
	v.Data = d
	c.render(w, http.StatusOK, "erasure", v)
}

// erasureAction orders (requestErasure) or restores (restoreErasure) an erasure, or places
// (placeLegalHold) or lifts (liftLegalHold) a legal hold, then shows the page again as of
// the mutation's position.
func (c *Console) erasureAction(w http.ResponseWriter, r *http.Request, s sess) {
	v, ok := c.begin(w, r, s, "erasure", "Erasure")
	if !ok {
		return
	}
	var out map[string]struct {
		ID       string `json:"id"`
		Position string `json:"position"`
	}
	var err error
	f := func(k string) string { return strings.TrimSpace(r.PostFormValue(k)) }
	action := r.PostFormValue("action")
	switch action {
	case "request":
		in := map[string]any{"subjectType": f("subjectType"), "subjectId": f("subjectId")}
		if g := f("graceDays"); g != "" {
			n, perr := strconv.Atoi(g)
			if perr != nil {
				c.fail(w, r, v, &Error{Code: "INVALID", Message: "grace days must be a whole number"})
				return
			}
			in["graceDays"] = n
		}
		err = c.gql.do(r, s.token, `mutation($in: RequestErasureInput!) { requestErasure(input: $in) { id position } }`, map[string]any{"in": in}, &out)
	case "restore":
		err = c.gql.do(r, s.token, `mutation($id: ID!) { restoreErasure(id: $id) { id position } }`,
			map[string]any{"id": f("erasureId")}, &out)
	case "hold":
		err = c.gql.do(r, s.token, `mutation($in: PlaceLegalHoldInput!) { placeLegalHold(input: $in) { id position } }`,
			map[string]any{"in": map[string]any{"subjectType": f("subjectType"), "subjectId": f("subjectId"), "reason": f("reason")}}, &out)
	case "lift":
		err = c.gql.do(r, s.token, `mutation($in: LiftLegalHoldInput!) { liftLegalHold(input: $in) { id position } }`,
			map[string]any{"in": map[string]any{"holdId": f("holdId"), "reason": f("reason")}}, &out)
	default:
		err = &Error{Code: "INVALID", Message: "unknown action"}
	}
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	for _, res := range out {
		c.redirect(w, r, Base+"/erasure?"+url.Values{"done": {action}, "id": {res.ID}, "position": {res.Position}}.Encode())
		return
	}
}
