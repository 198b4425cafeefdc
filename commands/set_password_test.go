package commands_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
)

// accountBook is the users read model and local-account store SetPassword talks to, as a
// table: the roles it answers and the passwords it was asked to set.
type accountBook struct {
	roles map[string]domain.OrgRole // active users of orgA
	set   []string
}

const orgA = "00000000-0000-4000-8000-00000000000a"

func (b *accountBook) OrgRole(_ context.Context, orgID, userID string) (domain.OrgRole, bool, error) {
	role, ok := b.roles[userID]
	return role, ok && orgID == orgA, nil
}

func (b *accountBook) SetPassword(_ context.Context, orgID, userID, login, _ string) error {
	b.set = append(b.set, orgID+"/"+userID+"/"+login)
	return nil
}

// TestSetPassword: anyone sets their own password; only an active Admin sets another
// active user's of the organisation; an unknown or inactive target is not found.
func TestSetPassword(t *testing.T) {
	const admin, user, gone = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002", "00000000-0000-4000-8000-000000000003"
	w := newWorld(t, false)
	for _, tc := range []struct {
		name, org, actor, target string
		kind                     domain.Kind // the refusal expected when set is empty
		set                      string
	}{
		{"self", orgA, user, "", 0, orgA + "/" + user + "/login"},
		{"self by id", orgA, user, user, 0, orgA + "/" + user + "/login"},
		{"Admin for a user", orgA, admin, user, 0, orgA + "/" + user + "/login"},
		{"user for an Admin", orgA, user, admin, domain.KindForbidden, ""},
		{"Admin of another organisation", "00000000-0000-4000-8000-00000000000b", admin, user, domain.KindForbidden, ""},
		{"Admin for an unknown user", orgA, admin, gone, domain.KindNotFound, ""},
		{"unauthenticated", "", user, "", domain.KindUnauthenticated, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			book := &accountBook{roles: map[string]domain.OrgRole{admin: domain.OrgRoleAdmin, user: domain.OrgRoleUser}}
			d := w.deps
			d.Accounts = book
			app, err := commands.NewApp(d, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			res, err := app.SetPassword.Handle(context.Background(), commands.SetPassword{Meta: commands.Meta{CommandID: "c1", ActorID: tc.actor},
				OrganizationID: tc.org, UserID: tc.target, Login: "login", Password: "a long enough password"})
			if tc.set == "" {
				if !domain.Is(tc.kind, err) || len(book.set) != 0 {
					t.Fatalf("err %v (set %v), want %s", err, book.set, tc.kind)
				}
				return
			}
			if err != nil || len(book.set) != 1 || book.set[0] != tc.set || res.ID == "" {
				t.Fatalf("res %+v err %v set %v, want %s", res, err, book.set, tc.set)
			}
		})
	}
	// Without local accounts the command is unavailable, not a crash.
	if _, err := w.app.SetPassword.Handle(context.Background(), commands.SetPassword{Meta: commands.Meta{CommandID: "c2", ActorID: user},
		OrganizationID: orgA, Login: "login", Password: "a long enough password"}); !domain.Is(domain.KindUnavailable, err) {
		t.Errorf("without accounts: %v, want UNAVAILABLE", err)
	}
}
