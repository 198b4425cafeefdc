package scim

import "net/http"

// The discovery endpoints (RFC 7644 §4) answer without authentication: they describe
// what Arkiv supports, nothing of any organisation.

func (h *Handler) serviceProviderConfig(w http.ResponseWriter, r *http.Request) {
	type supported struct {
		Supported bool `json:"supported"`
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"schemas":          []string{schemaSPConfig},
		"documentationUri": "https://github.com/arkiv/arkiv#scim-provisioning",
		"patch":            supported{true},
		"bulk":             map[string]any{"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
		"filter":           map[string]any{"supported": true, "maxResults": maxCount},
		"changePassword":   supported{false},
		"sort":             supported{false},
		"etag":             supported{true},
		"authenticationSchemes": []map[string]any{{"type": "oauthbearertoken", "name": "SCIM token",
			"description": "A SCIM token an Admin of the organisation created (createScimToken)", "primary": true}},
		"meta": map[string]string{"resourceType": "ServiceProviderConfig", "location": "/scim/v2/ServiceProviderConfig"},
	})
}

func resourceType(name, endpoint, schema string) map[string]any {
	return map[string]any{"schemas": []string{schemaResourceType}, "id": name, "name": name, "endpoint": endpoint,
		"schema": schema, "meta": map[string]string{"resourceType": "ResourceType", "location": "/scim/v2/ResourceTypes/" + name}}
}

func (h *Handler) resourceTypes(w http.ResponseWriter, r *http.Request) {
	all := []any{resourceType("User", "/Users", SchemaUser), resourceType("Group", "/Groups", SchemaGroup)}
	writeJSON(w, http.StatusOK, listResponse{Schemas: []string{SchemaListResponse}, TotalResults: len(all), StartIndex: 1,
		ItemsPerPage: len(all), Resources: all})
}

func attr(name, typ string, required bool, mutability, uniqueness string) map[string]any {
	return map[string]any{"name": name, "type": typ, "multiValued": false, "required": required, "caseExact": false,
		"mutability": mutability, "returned": "default", "uniqueness": uniqueness}
}

func (h *Handler) schemas(w http.ResponseWriter, r *http.Request) {
	members := attr("members", "complex", false, "readWrite", "none")
	members["multiValued"] = true
	members["subAttributes"] = []any{attr("value", "string", true, "immutable", "none")}
	all := []any{
		map[string]any{"schemas": []string{schemaSchema}, "id": SchemaUser, "name": "User", "description": "User Account",
			"attributes": []any{attr("userName", "string", true, "readWrite", "server"), attr("displayName", "string", false, "readWrite", "none"),
				attr("externalId", "string", false, "readWrite", "none"), attr("active", "boolean", false, "readWrite", "none")},
			"meta": map[string]string{"resourceType": "Schema", "location": "/scim/v2/Schemas/" + SchemaUser}},
		map[string]any{"schemas": []string{schemaSchema}, "id": SchemaGroup, "name": "Group", "description": "Group",
			"attributes": []any{attr("displayName", "string", true, "readWrite", "server"), attr("externalId", "string", false, "readWrite", "none"), members},
			"meta":       map[string]string{"resourceType": "Schema", "location": "/scim/v2/Schemas/" + SchemaGroup}},
	}
	writeJSON(w, http.StatusOK, listResponse{Schemas: []string{SchemaListResponse}, TotalResults: len(all), StartIndex: 1,
		ItemsPerPage: len(all), Resources: all})
}
