package commands

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the layering: domain and commands import no database, GraphQL,
// Weaviate or EventStoreDB client package, and domain imports nothing of Arkiv.
func TestDependencies(t *testing.T) {
	forbidden := []string{
		"github.com/jackc/pgx",
		"github.com/99designs/gqlgen",
		"github.com/weaviate/",
		"github.com/EventStore/",
		"github.com/ThreeDotsLabs/watermill",
		"github.com/arkiv/arkiv/infra",
		"github.com/arkiv/arkiv/graphql",
		"github.com/arkiv/arkiv/projections",
		"github.com/arkiv/arkiv/readmodels",
	}
	for _, pkg := range []string{"github.com/arkiv/arkiv/domain", "github.com/arkiv/arkiv/commands"} {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		deps := strings.Fields(string(out))
		if len(deps) < 5 {
			t.Fatalf("go list -deps %s listed only %v", pkg, deps)
		}
		for _, d := range deps {
			for _, f := range forbidden {
				if strings.HasPrefix(d, f) {
					t.Errorf("%s depends on %s", pkg, d)
				}
			}
			if pkg == "github.com/arkiv/arkiv/domain" && strings.HasPrefix(d, "github.com/arkiv/arkiv/") && d != pkg {
				t.Errorf("domain imports %s", d)
			}
		}
	}
}
