package graphql_test

import (
	"testing"
)

// TestEndToEnd runs the scenarios that share one platform; each uses its own organisation.
func TestEndToEnd(t *testing.T) {
	s := startStack(t, stackOptions{})
	t.Run("RBAC matrix", func(t *testing.T) { testRBACMatrix(t, s) })
	t.Run("API key shown once, refused after revocation", func(t *testing.T) { testAPIKeyShownOnce(t, s) })
	t.Run("erasure hides from every query", func(t *testing.T) { testErasure(t, s) })
	t.Run("OIDC with MFA", func(t *testing.T) { testOIDC(t, s) })
	t.Run("identity providers configured through the API", func(t *testing.T) { testIdentityProviders(t, s) })
	t.Run("subscriptions", func(t *testing.T) { testSubscriptions(t, s) })
	t.Run("socket authorisation", func(t *testing.T) { testSocketAuthorisation(t, s) })
	t.Run("hardening", func(t *testing.T) { testHardening(t, s) })
	t.Run("ask through models", func(t *testing.T) { testAskThroughModels(t, s) })
	t.Run("erasure through the process manager", func(t *testing.T) { testErasureProcessManager(t, s) })
	t.Run("logins audited", func(t *testing.T) { testLoginAudit(t, s) })
	t.Run("deactivation and erasure end access", func(t *testing.T) { testOffboarding(t, s) })
	t.Run("SCIM provisioning", func(t *testing.T) { testSCIM(t, s) })
	t.Run("role-directive denials and set passwords audited", func(t *testing.T) { testDenialsAudited(t, s) })
	t.Run("password policy shown whole", func(t *testing.T) { testPasswordPolicyShown(t, s) })
	// It moves the shared clock by seconds.
	t.Run("password flows", func(t *testing.T) { testPasswordFlows(t, s) })
	t.Run("audit trail and export", func(t *testing.T) { testAuditTrail(t, s) })
	t.Run("audit export in the background", func(t *testing.T) { testAuditExportInBackground(t, s) })
	// Last: it moves the shared clock forward.
	t.Run("session idle expiry", func(t *testing.T) { testSession(t, s) })
	t.Run("space with members, read your writes", func(t *testing.T) {
		o := s.newOrg(t, testSettings())
		uid, _ := s.user(t, o, "USER")
		sp := s.space(t, o.adminKey)
		data := s.ok(t, o.adminKey, `mutation($in: AddSpaceMemberInput!) { addSpaceMember(input: $in) { id position } }`,
			map[string]any{"in": map[string]any{"spaceId": sp, "userId": uid, "role": "VIEWER"}})
		pos := data["addSpaceMember"].(map[string]any)["position"].(string)
		got := s.ok(t, o.adminKey, `query($id: ID!, $at: String) { space(id: $id, consistentAt: $at) { id name classification myRole members { id role user { id name role } } } }`,
			map[string]any{"id": sp, "at": pos})
		space := got["space"].(map[string]any)
		if space["name"] != "Space" || space["myRole"] != "ADMIN" || len(space["members"].([]any)) != 2 {
			t.Fatalf("space = %v", space)
		}
	})
}

// TestDevIntrospection: `arkiv dev` (Dev) serves introspection, which is off otherwise.
func TestDevIntrospection(t *testing.T) {
	s := startStack(t, stackOptions{dev: true})
	testHardening(t, s)
}
