package evidence

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/defenseunicorns/go-oscal/src/pkg/validation"
	oscal "github.com/defenseunicorns/go-oscal/src/types/oscal-1-1-2"
)

// TestOSCALAssessmentResults validates the document against the OSCAL 1.1.2 JSON schema with
// go-oscal's validator, and checks what the schema cannot: observation references that
// resolve, the ten Annex A controls reviewed and found, and ids that are the same in two
// exports of the same period.
func TestOSCALAssessmentResults(t *testing.T) {
	signer, keys := testKey(t)
	h, _ := scriptedHistory(t, signer, 3)
	a, _ := export(t, h, signer, keys, time.Now())
	b, _ := export(t, h, signer, keys, time.Now().Add(time.Hour))
	doc := unzip(t, a)[FileOSCAL]
	if !bytes.Equal(doc, unzip(t, b)[FileOSCAL]) {
		t.Fatal("the OSCAL document differs between two exports of the same period")
	}
	v, err := validation.NewValidator(doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Validate(); err != nil {
		r, _ := v.GetValidationResult()
		out, _ := json.MarshalIndent(r, "", "  ")
		t.Fatalf("the OSCAL document does not validate: %v\n%s", err, out)
	}
	if got := v.GetModelType(); got != "assessment-results" {
		t.Errorf("model type %q", got)
	}
	var d oscal.OscalCompleteSchema
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	r := d.AssessmentResults.Results[0]
	reviewed := map[string]bool{}
	for _, sel := range r.ReviewedControls.ControlSelections {
		for _, c := range *sel.IncludeControls {
			reviewed[c.ControlId] = true
		}
	}
	obs := map[string]bool{}
	for _, o := range *r.Observations {
		obs[o.UUID] = true
	}
	found := map[string]bool{}
	for _, f := range *r.Findings {
		if f.Target.Status.State != "satisfied" || f.RelatedObservations == nil {
			t.Errorf("finding %s: %q without observations", f.Title, f.Target.Status.State)
			continue
		}
		for _, ro := range *f.RelatedObservations {
			if !obs[ro.ObservationUuid] {
				t.Errorf("finding %s relates the unknown observation %s", f.Title, ro.ObservationUuid)
			}
		}
		found[f.Target.TargetId] = true
	}
	for _, c := range []string{"5.15", "5.17", "5.18", "8.5", "8.10", "8.11", "8.12", "8.15", "8.16", "8.24"} {
		if !reviewed["a."+c] || !found["a."+c+"_obj"] {
			t.Errorf("Annex A control %s is not reviewed and found", c)
		}
	}
	// A broken document fails validation: the check is not vacuous.
	bad := bytes.Replace(doc, []byte(`"oscal-version": "1.1.2"`), []byte(`"oscal-version": 7`), 1)
	if v, err := validation.NewValidator(bad); err == nil && v.Validate() == nil {
		t.Error("a document with a numeric oscal-version validates")
	}
}
