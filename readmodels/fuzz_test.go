package readmodels_test

import (
	"context"
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/keyring"
	"github.com/arkiv/arkiv/infra/pgtest"
	"github.com/arkiv/arkiv/infra/postgres"
	"github.com/arkiv/arkiv/readmodels"
)

// FuzzListInputs pages every list of the read models with an arbitrary cursor, page size,
// filter strings and dates, against the real (migrated, empty) read-model database (issue
// 24, "bad input"). A cursor, filter or date the lists cannot take is a KindInvalid error —
// never Unavailable or Internal, which would tell a client to retry — and a cursor that a
// list accepts is one it could have issued: base64url of "<list>:<key>". Seeds:
// testdata/fuzz/FuzzListInputs/; `make fuzz` runs it for a bounded time.
func FuzzListInputs(f *testing.F) {
	ctx := context.Background()
	dsn := pgtest.NewDatabase(f)
	if err := postgres.Migrate(ctx, dsn); err != nil {
		f.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(pool.Close)
	rm := readmodels.New(pool, keyring.NewPlainCodec())
	const org = "00000000-0000-4000-8000-000000000001"
	f.Fuzz(func(t *testing.T, cursor, text string, first int, from, span int64) {
		p := readmodels.Page{First: first, After: cursor}
		at := time.Unix(from%(1<<40), 0).UTC()
		to := at.Add(time.Duration(span))
		calls := map[string]func() error{
			"Spaces": func() error { _, err := rm.Spaces(ctx, org, text, p); return err },
			"Assistants": func() error {
				_, err := rm.Assistants(ctx, org, text, p)
				return err
			},
			"Documents": func() error { _, err := rm.Documents(ctx, org, text, p); return err },
			"Messages":  func() error { _, err := rm.Messages(ctx, org, text, p); return err },
			"AuditLog": func() error {
				_, err := rm.AuditLog(ctx, org, readmodels.AuditFilter{ActorID: text, Action: text, TargetID: text,
					SpaceID: text, Outcome: text, From: at, To: to}, p)
				return err
			},
			"AuditLog(ok)": func() error {
				_, err := rm.AuditLog(ctx, org, readmodels.AuditFilter{Outcome: readmodels.AuditOK, From: at}, p)
				return err
			},
			"AccessDenials": func() error { _, err := rm.AccessDenials(ctx, org, p); return err },
			"APIKeys":       func() error { _, err := rm.APIKeys(ctx, org, text, p); return err },
			"ModelInvocations": func() error {
				_, err := rm.ModelInvocations(ctx, org, readmodels.ModelInvocationFilter{AssistantID: text, SpaceID: text,
					UserID: text, From: at, To: to}, p)
				return err
			},
		}
		for name, call := range calls {
			err := call()
			if err == nil {
				continue
			}
			var de *domain.Error
			if !errors.As(err, &de) || domain.KindOf(err) != domain.KindInvalid {
				t.Fatalf("%s(after %q, text %q, first %d, %v..%v): %s error: %v", name, cursor, text, first, at, to, domain.KindOf(err), err)
			}
		}
		if cursor == "" {
			return
		}
		// A cursor that a list takes is base64url of "<list>:<key>".
		if _, err := rm.AccessDenials(ctx, org, readmodels.Page{After: cursor}); err == nil {
			b, derr := base64.RawURLEncoding.DecodeString(cursor)
			if derr != nil || len(b) < len("denied:") || string(b[:len("denied:")]) != "denied:" {
				t.Fatalf("AccessDenials took the cursor %q", cursor)
			}
		}
	})
}
