package evidence

import (
	"encoding/json"
	"sort"
	"strings"

	oscal "github.com/defenseunicorns/go-oscal/src/types/oscal-1-1-2"
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

func id5(parts ...string) string {
	return uuid.NewSHA1(oscalNamespace, []byte(strings.Join(parts, "\x00"))).String()
}

// controlID is the OSCAL control id of an Annex A control ("8.15" → "a.8.15").
func controlID(c string) string { return "a." + c }

// OSCAL returns the bundle's OSCAL 1.1.2 assessment-results document, built with
// go-oscal's types: one observation per report claim (its evidence the JSON file and entry),
// one finding per Annex A control relating the observations that back it. Every id is a
// UUIDv5 of the content and every time the period's, so the document is reproducible.
func OSCAL(d reportData, files []File) ([]byte, error) {
	m := d.Manifest
	const ts = "2006-01-02T15:04:05Z"
	base := m.Organization + "\x00" + m.From.Format(ts) + "\x00" + m.To.Format(ts)
	end := m.To.UTC()
	res := oscal.Result{UUID: id5(base, "result"), Title: "Arkiv DPIA evidence", Start: m.From.UTC(), End: &end,
		Description: "Technical safeguards of organisation " + m.Organization + " as configured and exercised in the period, from Arkiv's verifiable log."}
	var ids []string
	for c := range Controls {
		ids = append(ids, c)
	}
	sort.Slice(ids, func(i, j int) bool { return controlLess(ids[i], ids[j]) })
	var include []oscal.AssessedControlsSelectControlById
	for _, c := range ids {
		include = append(include, oscal.AssessedControlsSelectControlById{ControlId: controlID(c)})
	}
	res.ReviewedControls.ControlSelections = []oscal.AssessedControls{{IncludeControls: &include}}
	var observations []oscal.Observation
	byControl := map[string][]string{}
	observe := func(u, title, text, href, what string) {
		ev := []oscal.RelevantEvidence{{Href: href, Description: what}}
		observations = append(observations, oscal.Observation{UUID: u, Title: title, Description: text, Methods: []string{"EXAMINE"},
			Collected: end, RelevantEvidence: &ev})
	}
	for _, c := range d.claims() {
		u := id5(base, "observation", c.File, c.Pointer, c.Text)
		observe(u, c.Heading, c.Text, c.File+"#"+c.Pointer, "bundle file "+c.File+", entry "+c.Pointer)
		for _, ctl := range c.Controls {
			byControl[ctl] = append(byControl[ctl], u)
		}
	}
	// 8.11 (data masking): pseudonymous ids only, sealed fields never in the bundle.
	u := id5(base, "observation", "masking")
	observe(u, "Data handling", "Events carry pseudonymous ids; personal data and content are sealed per subject, and this bundle holds no personal data beyond pseudonymous ids unless exported with names.",
		FileConfiguration+"#/changes", "sealed fields appear as [sealed]")
	byControl["8.11"] = append(byControl["8.11"], u)
	var findings []oscal.Finding
	for _, c := range ids {
		f := oscal.Finding{UUID: id5(base, "finding", c), Title: "A." + c + " " + Controls[c],
			Description: "Evidence from the period for ISO/IEC 27001:2022 Annex A control " + c + ".",
			Target:      oscal.FindingTarget{Type: "objective-id", TargetId: controlID(c) + "_obj", Status: oscal.ObjectiveStatus{State: "satisfied"}}}
		if len(byControl[c]) == 0 {
			f.Target.Status.State = "not-satisfied"
		}
		var rel []oscal.RelatedObservation
		for _, o := range byControl[c] {
			rel = append(rel, oscal.RelatedObservation{ObservationUuid: o})
		}
		if rel != nil {
			f.RelatedObservations = &rel
		}
		findings = append(findings, f)
	}
	res.Observations, res.Findings = &observations, &findings
	doc := oscal.OscalCompleteSchema{AssessmentResults: &oscal.AssessmentResults{UUID: id5(base, "assessment-results"),
		Metadata: oscal.Metadata{Title: "Arkiv DPIA evidence for " + m.Organization, LastModified: end, Version: m.ArkivVersion, OscalVersion: "1.1.2"},
		ImportAp: oscal.ImportAp{Href: "#arkiv-dpia-assessment-plan"}, Results: []oscal.Result{res}}}
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
