package domain

import (
	"strings"
	"testing"
)

func TestCheckEmbeddingUse(t *testing.T) {
	t.Parallel()
	s := DefaultOrganizationSettings()
	s.EUOnly = false
	s.Models = []AllowedModel{
		{ID: "emb-se", Endpoint: "https://se.example/v1", Region: RegionSE, MaxClassification: ClassRestricted},
		{ID: "emb-us", Endpoint: "https://us.example/v1", Region: RegionUS, MaxClassification: ClassRestricted},
		{ID: "emb-eu-internal", Endpoint: "https://eu.example/v1", Region: RegionEU, MaxClassification: ClassInternal},
	}
	eu := s
	eu.EUOnly = true
	for _, c := range []struct {
		name  string
		s     OrganizationSettings
		class Classification
		id    ModelID
		want  string
	}{
		{"SE model, Restricted space", s, ClassRestricted, "emb-se", ""},
		{"US model, Confidential space", s, ClassConfidential, "emb-us", ""},
		{"US model never sees Restricted", s, ClassRestricted, "emb-us", "is hosted in US and never sees data classified RESTRICTED"},
		{"not on the allow-list", s, ClassPublic, "emb-x", "is not on the organisation's allow-list"},
		{"EU-only refuses US", eu, ClassPublic, "emb-us", "the organisation is EU-only"},
		{"classification above the model's", s, ClassConfidential, "emb-eu-internal", "may not see data classified CONFIDENTIAL"},
		{"unknown classification", s, "SECRET", "emb-se", "not one of the organisation's levels"},
	} {
		m, err := CheckEmbeddingUse(c.s, c.class, c.id)
		if c.want == "" {
			if err != nil || m.ID != c.id {
				t.Errorf("%s: %v %v", c.name, m, err)
			}
			continue
		}
		if !Is(KindForbidden, err) || !strings.Contains(PublicMessage(err), c.want) {
			t.Errorf("%s: %v, want FORBIDDEN %q", c.name, err, c.want)
		}
	}
}
