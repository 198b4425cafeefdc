package graphql_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestJSIntegration runs the JavaScript suite of tests/integration (graphql-ws,
// graphql-request, Apollo Client, graphql-js, graphql-inspector, graphql-schema-linter,
// pinned in its package-lock.json) against a stack: `npm ci` installs the pinned packages
// (again whenever package.json names one node_modules lacks), `node --test`
// runs them. ARKIV_SKIP_JS=1 skips it on a machine without Node.
func TestJSIntegration(t *testing.T) {
	if os.Getenv("ARKIV_SKIP_JS") == "1" {
		t.Skip("ARKIV_SKIP_JS=1")
	}
	dir, err := filepath.Abs("../tests/integration")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("node (20 or later) is needed for the JavaScript suite; ARKIV_SKIP_JS=1 skips it")
	}
	if !installed(t, dir) {
		npm := exec.Command("npm", "ci", "--no-audit", "--no-fund")
		npm.Dir = dir
		if out, err := npm.CombinedOutput(); err != nil {
			t.Fatalf("npm ci: %v\n%s", err, out)
		}
	}
	s := startStack(t, stackOptions{dev: true})
	o := s.newOrg(t, testSettings())
	uid, _ := s.user(t, o, "USER")
	schema, _ := filepath.Abs("../schema.graphql")
	baseline, _ := filepath.Abs("testdata/schema.baseline.graphql")
	cmd := exec.Command("node", "--test", "--test-concurrency=1", "--test-force-exit")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "ARKIV_URL="+s.url, "ARKIV_ADMIN_KEY="+o.adminKey, "ARKIV_USER_ID="+uid,
		"ARKIV_SCHEMA="+schema, "ARKIV_BASELINE="+baseline)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}

// installed reports whether node_modules holds every package package.json names.
func installed(t *testing.T, dir string) bool {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if err != nil {
		t.Fatal(err)
	}
	var pkg struct {
		DevDependencies map[string]string `json:"devDependencies"`
	}
	if err := json.Unmarshal(raw, &pkg); err != nil {
		t.Fatal(err)
	}
	for name := range pkg.DevDependencies {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", name, "package.json")); err != nil {
			return false
		}
	}
	return true
}
