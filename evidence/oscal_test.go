package evidence

import (
	"bytes"
	"encoding/json"
	"regexp"
	"testing"
	"time"
)

// The formats of OSCAL 1.1.2's metaschema datatypes the document uses.
var (
	uuidRE     = regexp.MustCompile(`^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[45][0-9A-Fa-f]{3}-[89ABab][0-9A-Fa-f]{3}-[0-9A-Fa-f]{12}$`)
	dateTimeTZ = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$`)
	tokenRE    = regexp.MustCompile(`^[\p{L}_][\p{L}\p{N}_\-.]*$`)
)

// TestOSCALAssessmentResults checks the document against the OSCAL 1.1.2 assessment-results
// model: every required field present, uuid and date-time formats, token ids, observation
// references that resolve, the ten Annex A controls reviewed and found, and ids that are the
// same in two exports of the same period. (go-oscal's validator would check the official
// schema; the module proxy here does not serve it.)
func TestOSCALAssessmentResults(t *testing.T) {
	signer, keys := testKey(t)
	h, _ := scriptedHistory(t, signer, 3)
	a, _ := export(t, h, signer, keys, time.Now())
	b, _ := export(t, h, signer, keys, time.Now().Add(time.Hour))
	doc := unzip(t, a)[FileOSCAL]
	if !bytes.Equal(doc, unzip(t, b)[FileOSCAL]) {
		t.Fatal("the OSCAL document differs between two exports of the same period")
	}
	// Decode strictly into the model: an unknown field is an error.
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	var d oscalDoc
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("not an assessment-results document: %v", err)
	}
	ar := d.AR
	need := func(what, v string, re *regexp.Regexp) {
		t.Helper()
		if v == "" || (re != nil && !re.MatchString(v)) {
			t.Errorf("%s = %q is missing or malformed", what, v)
		}
	}
	need("uuid", ar.UUID, uuidRE)
	need("metadata.title", ar.Metadata.Title, nil)
	need("metadata.last-modified", ar.Metadata.LastModified, dateTimeTZ)
	need("metadata.version", ar.Metadata.Version, nil)
	need("metadata.oscal-version", ar.Metadata.OSCALVersion, regexp.MustCompile(`^1\.\d+\.\d+$`))
	need("import-ap.href", ar.ImportAP.Href, nil)
	if len(ar.Results) != 1 {
		t.Fatalf("%d results, want 1", len(ar.Results))
	}
	r := ar.Results[0]
	need("result.uuid", r.UUID, uuidRE)
	need("result.title", r.Title, nil)
	need("result.description", r.Description, nil)
	need("result.start", r.Start, dateTimeTZ)
	need("result.end", r.End, dateTimeTZ)
	reviewed := map[string]bool{}
	for _, sel := range r.ReviewedControls.ControlSelections {
		for _, c := range sel.IncludeControls {
			need("control-id", c.ControlID, tokenRE)
			reviewed[c.ControlID] = true
		}
	}
	obs := map[string]bool{}
	for _, o := range r.Observations {
		need("observation.uuid", o.UUID, uuidRE)
		need("observation.description", o.Description, nil)
		need("observation.collected", o.Collected, dateTimeTZ)
		if obs[o.UUID] {
			t.Errorf("observation uuid %s twice", o.UUID)
		}
		obs[o.UUID] = true
		for _, m := range o.Methods {
			if m != "EXAMINE" && m != "INTERVIEW" && m != "TEST" && m != "UNKNOWN" {
				t.Errorf("observation method %q", m)
			}
		}
		for _, e := range o.RelevantEvidence {
			need("relevant-evidence.description", e.Description, nil)
		}
	}
	found := map[string]bool{}
	for _, f := range r.Findings {
		need("finding.uuid", f.UUID, uuidRE)
		need("finding.title", f.Title, nil)
		need("finding.description", f.Description, nil)
		need("finding.target.target-id", f.Target.TargetID, tokenRE)
		if f.Target.Type != "objective-id" && f.Target.Type != "statement-id" {
			t.Errorf("finding target type %q", f.Target.Type)
		}
		if f.Target.Status.State != "satisfied" {
			t.Errorf("finding %s: state %q, want satisfied (every control has evidence)", f.Title, f.Target.Status.State)
		}
		for _, ro := range f.RelatedObservations {
			if !obs[ro.ObservationUUID] {
				t.Errorf("finding %s relates the unknown observation %s", f.Title, ro.ObservationUUID)
			}
		}
		found[f.Target.TargetID] = true
	}
	for _, c := range []string{"5.15", "5.17", "5.18", "8.5", "8.10", "8.11", "8.12", "8.15", "8.16", "8.24"} {
		if !reviewed["a."+c] || !found["a."+c+"_obj"] {
			t.Errorf("Annex A control %s is not reviewed and found", c)
		}
	}
}
