package evidence

import (
	"encoding/json"
	"sort"
	"strings"

	"github.com/google/uuid"
)

// Controls are the ISO/IEC 27001:2022 Annex A controls the bundle maps evidence to.
var Controls = map[string]string{
	"5.15": "Access control", "5.17": "Authentication information", "5.18": "Access rights",
	"8.5": "Secure authentication", "8.10": "Information deletion", "8.11": "Data masking",
	"8.12": "Data leakage prevention", "8.15": "Logging", "8.16": "Monitoring activities",
	"8.24": "Use of cryptography",
}

// oscalNamespace is the UUIDv5 namespace of the bundle's OSCAL ids.
var oscalNamespace = uuid.MustParse("6f1c5a52-7f1e-4f0c-9a3e-2b9d7e4c1a10")

// OSCAL document types (assessment-results, OSCAL 1.1.2), the subset the bundle fills.
type (
	oscalDoc struct {
		AR oscalAR `json:"assessment-results"`
	}
	oscalAR struct {
		UUID     string        `json:"uuid"`
		Metadata oscalMetadata `json:"metadata"`
		ImportAP oscalImportAP `json:"import-ap"`
		Results  []oscalResult `json:"results"`
	}
	oscalMetadata struct {
		Title        string `json:"title"`
		LastModified string `json:"last-modified"`
		Version      string `json:"version"`
		OSCALVersion string `json:"oscal-version"`
	}
	oscalImportAP struct {
		Href string `json:"href"`
	}
	oscalResult struct {
		UUID             string             `json:"uuid"`
		Title            string             `json:"title"`
		Description      string             `json:"description"`
		Start            string             `json:"start"`
		End              string             `json:"end"`
		ReviewedControls oscalReviewed      `json:"reviewed-controls"`
		Observations     []oscalObservation `json:"observations"`
		Findings         []oscalFinding     `json:"findings"`
	}
	oscalReviewed struct {
		ControlSelections []oscalSelection `json:"control-selections"`
	}
	oscalSelection struct {
		IncludeControls []oscalControlRef `json:"include-controls"`
	}
	oscalControlRef struct {
		ControlID string `json:"control-id"`
	}
	oscalObservation struct {
		UUID             string          `json:"uuid"`
		Title            string          `json:"title"`
		Description      string          `json:"description"`
		Methods          []string        `json:"methods"`
		Collected        string          `json:"collected"`
		RelevantEvidence []oscalEvidence `json:"relevant-evidence"`
	}
	oscalEvidence struct {
		Href        string `json:"href"`
		Description string `json:"description"`
	}
	oscalFinding struct {
		UUID                string            `json:"uuid"`
		Title               string            `json:"title"`
		Description         string            `json:"description"`
		Target              oscalTarget       `json:"target"`
		RelatedObservations []oscalRelatedObs `json:"related-observations"`
	}
	oscalTarget struct {
		Type     string      `json:"type"`
		TargetID string      `json:"target-id"`
		Status   oscalStatus `json:"status"`
	}
	oscalStatus struct {
		State string `json:"state"`
	}
	oscalRelatedObs struct {
		ObservationUUID string `json:"observation-uuid"`
	}
)

func id5(parts ...string) string {
	return uuid.NewSHA1(oscalNamespace, []byte(strings.Join(parts, "\x00"))).String()
}

// controlID is the OSCAL control id of an Annex A control ("8.15" → "a.8.15").
func controlID(c string) string { return "a." + c }

// OSCAL returns the bundle's OSCAL assessment-results document: one observation per report
// claim (its evidence the JSON file and entry), one finding per Annex A control relating
// the observations that back it. Every id is a UUIDv5 of the content, every time the
// period's, so the document is reproducible.
func OSCAL(d reportData, files []File) ([]byte, error) {
	m := d.Manifest
	base := m.Organization + "\x00" + m.From.Format("2006-01-02T15:04:05Z") + "\x00" + m.To.Format("2006-01-02T15:04:05Z")
	end := m.To.Format("2006-01-02T15:04:05Z")
	res := oscalResult{UUID: id5(base, "result"), Title: "Arkiv DPIA evidence", Start: m.From.Format("2006-01-02T15:04:05Z"), End: end,
		Description: "Technical safeguards of organisation " + m.Organization + " as configured and exercised in the period, from Arkiv's verifiable log."}
	var ids []string
	for c := range Controls {
		ids = append(ids, c)
	}
	sort.Slice(ids, func(i, j int) bool { return controlLess(ids[i], ids[j]) })
	sel := oscalSelection{}
	for _, c := range ids {
		sel.IncludeControls = append(sel.IncludeControls, oscalControlRef{ControlID: controlID(c)})
	}
	res.ReviewedControls.ControlSelections = []oscalSelection{sel}
	byControl := map[string][]string{}
	for _, c := range d.claims() {
		u := id5(base, "observation", c.File, c.Pointer, c.Text)
		res.Observations = append(res.Observations, oscalObservation{UUID: u, Title: c.Heading, Description: c.Text, Methods: []string{"EXAMINE"},
			Collected: end, RelevantEvidence: []oscalEvidence{{Href: c.File + "#" + c.Pointer, Description: "bundle file " + c.File + ", entry " + c.Pointer}}})
		for _, ctl := range c.Controls {
			byControl[ctl] = append(byControl[ctl], u)
		}
	}
	// 8.11 (data masking): pseudonymous ids only, sealed fields never in the bundle.
	u := id5(base, "observation", "masking")
	res.Observations = append(res.Observations, oscalObservation{UUID: u, Title: "Data handling", Methods: []string{"EXAMINE"}, Collected: end,
		Description:      "Events carry pseudonymous ids; personal data and content are sealed per subject, and this bundle holds no personal data beyond pseudonymous ids unless exported with names.",
		RelevantEvidence: []oscalEvidence{{Href: FileConfiguration + "#/changes", Description: "sealed fields appear as [sealed]"}}})
	byControl["8.11"] = append(byControl["8.11"], u)
	for _, c := range ids {
		f := oscalFinding{UUID: id5(base, "finding", c), Title: "A." + c + " " + Controls[c],
			Description: "Evidence from the period for ISO/IEC 27001:2022 Annex A control " + c + ".",
			Target:      oscalTarget{Type: "objective-id", TargetID: controlID(c) + "_obj", Status: oscalStatus{State: "satisfied"}}}
		if len(byControl[c]) == 0 {
			f.Target.Status.State = "not-satisfied"
		}
		for _, o := range byControl[c] {
			f.RelatedObservations = append(f.RelatedObservations, oscalRelatedObs{ObservationUUID: o})
		}
		res.Findings = append(res.Findings, f)
	}
	doc := oscalDoc{AR: oscalAR{UUID: id5(base, "assessment-results"),
		Metadata: oscalMetadata{Title: "Arkiv DPIA evidence for " + m.Organization, LastModified: end, Version: m.ArkivVersion, OSCALVersion: "1.1.2"},
		ImportAP: oscalImportAP{Href: "#arkiv-dpia-assessment-plan"}, Results: []oscalResult{res}}}
	b, err := json.MarshalIndent(doc, "", "  ")
	return append(b, '\n'), err
}

func controlLess(a, b string) bool {
	var a1, a2, b1, b2 int
	sscan(a, &a1, &a2)
	sscan(b, &b1, &b2)
	if a1 != b1 {
		return a1 < b1
	}
	return a2 < b2
}

func sscan(s string, x, y *int) {
	p, q, _ := strings.Cut(s, ".")
	for _, c := range p {
		*x = *x*10 + int(c-'0')
	}
	for _, c := range q {
		*y = *y*10 + int(c-'0')
	}
}
