package commands_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
)

// accountBook is the local-account store SetPassword talks to, as a table: the current
// passwords it verifies and the passwords it was asked to set or reset.
type accountBook struct {
	current map[string]string // user → current password
	set     []string
}

func (b *accountBook) SetPassword(_ context.Context, orgID, userID, login, _ string) error {
	b.set = append(b.set, "set/"+orgID+"/"+userID+"/"+login)
	return nil
}

func (b *accountBook) ResetPassword(_ context.Context, orgID, userID, login, _ string) error {
	b.set = append(b.set, "reset/"+orgID+"/"+userID+"/"+login)
	return nil
}

func (b *accountBook) HasPassword(_ context.Context, _, userID string) (bool, error) {
	_, ok := b.current[userID]
	return ok, nil
}

func (b *accountBook) CheckPassword(_ context.Context, _, userID, password string) error {
	if pw, ok := b.current[userID]; !ok || pw != password {
		return domain.E(domain.KindForbidden, "book.check", "the current password is not correct")
	}
	return nil
}

// TestSetPassword: anyone active sets their own password with the current one (or within
// five minutes of logging in); only an active Admin sets another active user's of the
// organisation, which is a reset; a deactivated actor is refused; every set password is a
// user.password_set.v1 event and a refusal by role an access.denied.v1 event.
func TestSetPassword(t *testing.T) {
	w := newWorld(t, false)
	a := w.bootstrap("Org A", "admin@a.example")
	b := w.bootstrap("Org B", "admin@b.example")
	user := w.user(a, domain.OrgRoleUser)
	gone := w.user(a, domain.OrgRoleUser)
	fresh := w.user(a, domain.OrgRoleUser) // no local account yet
	must(w.app.DeactivateUser.Handle(w.ctx, commands.DeactivateUser{Meta: meta(a.admin), UserID: gone}))(t)
	const never = time.Duration(-1) // no login time known (an API key, an OIDC token)
	for _, tc := range []struct {
		name, org, actor, target, current string
		age                               time.Duration // since the actor's login
		kind                              domain.Kind   // the refusal expected when set is empty
		set                               string
		denied                            bool
	}{
		{"self with the current password", a.id, user, "", "old password", never, 0, "set/" + a.id + "/" + user + "/login", false},
		{"self by id, fresh login", a.id, user, user, "", 4 * time.Minute, 0, "set/" + a.id + "/" + user + "/login", false},
		{"self without the current password", a.id, user, "", "", never, domain.KindForbidden, "", false},
		{"self, login too old", a.id, user, "", "", 6 * time.Minute, domain.KindForbidden, "", false},
		{"self with a wrong current password", a.id, user, "", "guess", never, domain.KindForbidden, "", false},
		{"self, first password", a.id, fresh, "", "", never, 0, "set/" + a.id + "/" + fresh + "/login", false},
		{"Admin for a user", a.id, a.admin, user, "", never, 0, "reset/" + a.id + "/" + user + "/login", false},
		{"user for an Admin", a.id, user, a.admin, "old password", never, domain.KindForbidden, "", true},
		{"Admin of another organisation", b.id, b.admin, user, "", never, domain.KindForbidden, "", true},
		{"Admin for a deactivated user", a.id, a.admin, gone, "", never, domain.KindNotFound, "", false},
		{"deactivated user for themselves", a.id, gone, "", "old password", 0, domain.KindUnauthenticated, "", true},
		{"unauthenticated", "", user, "", "", never, domain.KindUnauthenticated, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			book := &accountBook{current: map[string]string{user: "old password", gone: "old password"}}
			d := w.deps
			d.Accounts = book
			app, err := commands.NewApp(d, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			m := commands.Meta{CommandID: uuid.NewString(), ActorID: tc.actor}
			var at time.Time
			if tc.age != never {
				at = w.clock.Now().Add(-tc.age)
			}
			before := w.clock.Now().UTC()
			res, err := app.SetPassword.Handle(context.Background(), commands.SetPassword{Meta: m,
				OrganizationID: tc.org, UserID: tc.target, Login: "login", Password: "a long enough password",
				CurrentPassword: tc.current, AuthenticatedAt: at})
			if tc.set == "" {
				if !domain.Is(tc.kind, err) || len(book.set) != 0 {
					t.Fatalf("err %v (set %v), want %s", err, book.set, tc.kind)
				}
				if _, ok := w.denial(tc.org, m.CommandID); ok != tc.denied {
					t.Fatalf("access.denied recorded: %v, want %v", ok, tc.denied)
				}
				return
			}
			if err != nil || len(book.set) != 1 || book.set[0] != tc.set || res.ID == "" {
				t.Fatalf("res %+v err %v set %v, want %s", res, err, book.set, tc.set)
			}
			_, evs := w.events(domain.NewUser(res.ID).Stream())
			last, ok := evs[len(evs)-1].(domain.UserPasswordSet)
			want := domain.UserPasswordSet{UserID: res.ID, SetBy: tc.actor, Reset: tc.actor != res.ID, SetAt: last.SetAt}
			if !ok || last != want || last.SetAt.Before(before) {
				t.Fatalf("last event %#v, want %#v", evs[len(evs)-1], want)
			}
		})
	}
	// Without local accounts the command is unavailable, not a crash.
	if _, err := w.app.SetPassword.Handle(context.Background(), commands.SetPassword{Meta: meta(user),
		OrganizationID: a.id, Login: "login", Password: "a long enough password"}); !domain.Is(domain.KindUnavailable, err) {
		t.Errorf("without accounts: %v, want UNAVAILABLE", err)
	}
}

// TestRecordDenial: a refusal by the API's role directive lands in the actor's
// organisation's access log as access.denied.v1 with the refused operation.
func TestRecordDenial(t *testing.T) {
	w := newWorld(t, false)
	a := w.bootstrap("Org A", "admin@a.example")
	user := w.user(a, domain.OrgRoleUser)
	m := meta(user)
	_, err := w.app.RecordDenial.Handle(w.ctx, commands.RecordDenial{Meta: m, Operation: "Mutation.grantOrgRole"})
	if !domain.Is(domain.KindForbidden, err) {
		t.Fatalf("err %v, want FORBIDDEN", err)
	}
	d, ok := w.denial(a.id, m.CommandID)
	if !ok || d.Actor != user || d.Command != "Mutation.grantOrgRole" || d.OrgRole != domain.OrgRoleUser || d.Reason != domain.ReasonRole {
		t.Fatalf("denial %+v %v", d, ok)
	}
	if _, err := w.app.RecordDenial.Handle(w.ctx, commands.RecordDenial{Meta: meta(user), Operation: "drop table"}); !domain.Is(domain.KindInvalid, err) {
		t.Fatalf("a malformed operation: %v, want INVALID", err)
	}
}
