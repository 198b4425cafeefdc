package graphql_test

import (
	"testing"
)

// testPasswordPolicyShown: OrganizationSettings shows the whole password policy, maximum age
// and history included, as set through updateOrganizationSettings.
func testPasswordPolicyShown(t *testing.T, s *stack) {
	st := testSettings()
	st.Password.MaxAgeDays, st.Password.HistoryEntries = 90, 5
	o := s.newOrg(t, st)
	const q = `{ organizationSettings { settings { passwordMinLength passwordPolicy { minLength requireUpper requireDigit requireSymbol maxAgeDays historyEntries } } } }`
	policy := func() map[string]any {
		got := s.ok(t, o.adminKey, q, nil)["organizationSettings"].(map[string]any)["settings"].(map[string]any)
		return got["passwordPolicy"].(map[string]any)
	}
	if p := policy(); p["maxAgeDays"] != float64(90) || p["historyEntries"] != float64(5) || p["minLength"] != float64(10) {
		t.Fatalf("policy %v", p)
	}
	in := settingsInput(false)
	in["password"] = map[string]any{"minLength": 12, "requireUpper": true, "requireDigit": false, "requireSymbol": false,
		"maxAgeDays": 30, "historyEntries": 12}
	s.mutate(t, o.adminKey, `mutation($in: UpdateOrganizationSettingsInput!) { updateOrganizationSettings(input: $in) { id position } }`,
		map[string]any{"in": in})
	if p := policy(); p["maxAgeDays"] != float64(30) || p["historyEntries"] != float64(12) || p["minLength"] != float64(12) || p["requireUpper"] != true {
		t.Fatalf("policy after the update %v", p)
	}
}
