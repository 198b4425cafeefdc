package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/google/uuid"

	usecase "github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/history"
)

// asOfAnswer is what `arkiv audit as-of` prints.
type asOfAnswer struct {
	OrganizationID string    `json:"organizationId"`
	At             time.Time `json:"at"`
	Question       string    `json:"question"`
	TargetID       string    `json:"targetId,omitempty"`
	Answer         any       `json:"answer"`
}

// operator is the actor a CLI read is recorded for: the Admin --actor names, or the system
// actor for the operator running the tool.
func operator(actor string) string {
	if actor == "" {
		return domain.SystemActor
	}
	return actor
}

// auditAsOf runs `arkiv audit as-of --org ID [--actor ADMIN] --reason TEXT --at T
// access|settings|space ID|user ID|assistant ID`: the organisation as it was at T, folded
// from its events (never the read models), printed as JSON. The read is recorded first, as
// the Admin --actor (or the operator, as the system actor), in an audit session the reason
// opens (or continues).
func auditAsOf(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "audit as-of")
	org := fs.String("org", "", "organisation id (required)")
	actor := fs.String("actor", envOr("ARKIV_ACTOR", ""), "id of an Admin of the organisation to record the read for (ARKIV_ACTOR; default: the operator, recorded as the system actor)")
	reason := fs.String("reason", "", "why the history is read, 10 to 500 characters (required; recorded)")
	at := fs.String("at", "", "the instant, RFC 3339 (required)")
	var cfg writeConfig
	fs.StringVar(&cfg.ESDBURL, "esdb-url", envOr("ARKIV_ESDB_URL", ""), "EventStoreDB connection string (ARKIV_ESDB_URL)")
	fs.StringVar(&cfg.PGURL, "pg-url", envOr("ARKIV_PG_URL", ""), "Postgres URL the key store's default is derived from (ARKIV_PG_URL)")
	fs.StringVar(&cfg.KeystoreURL, "keystore-url", envOr("ARKIV_KEYSTORE_URL", ""), "key store database (ARKIV_KEYSTORE_URL; default: <ARKIV_PG_URL database>_keys)")
	fs.StringVar(&cfg.KEKFile, "kek-file", envOr("ARKIV_KEK_FILE", ""), "key-encryption key file (ARKIV_KEK_FILE)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	query, target, err := asOfQuestion(fs.Args())
	if err != nil {
		return err
	}
	t, err := time.Parse(time.RFC3339Nano, *at)
	switch {
	case *org == "" || *reason == "" || *at == "":
		return usageError{"--org, --reason and --at are required"}
	case err != nil:
		return usageError{"--at must be an RFC 3339 time, e.g. 2026-03-03T12:00:00Z"}
	case cfg.ESDBURL == "":
		return usageError{"no event store: set ARKIV_ESDB_URL (or --esdb-url)"}
	case cfg.KEKFile == "":
		return usageError{"no key-encryption key: set ARKIV_KEK_FILE (or --kek-file)"}
	case cfg.PGURL == "" && cfg.KeystoreURL == "":
		return usageError{"no key store: set ARKIV_PG_URL or ARKIV_KEYSTORE_URL"}
	}
	w, err := openWriteSide(ctx, env, cfg)
	if err != nil {
		return err
	}
	defer w.Close()
	app, err := usecase.NewApp(w.Deps, env.log)
	if err != nil {
		return err
	}
	res, err := app.ViewHistory.Handle(ctx, usecase.ViewHistory{Meta: usecase.Meta{CommandID: uuid.NewString(), ActorID: operator(*actor)},
		OrganizationID: *org, Query: query, TargetID: target, AsOf: t, Justification: *reason})
	if err != nil {
		return fmt.Errorf("%s (%s)", domain.PublicMessage(err), domain.KindOf(err))
	}
	if res.ID != *org {
		return fmt.Errorf("the actor is not an Admin of organisation %s (%s)", *org, domain.KindForbidden)
	}
	st, err := history.Fold(ctx, w.Store, w.Deps.Codec, w.Deps.Events, *org, t)
	if err != nil {
		return fmt.Errorf("%s (%s)", domain.PublicMessage(err), domain.KindOf(err))
	}
	out := json.NewEncoder(env.stdout)
	out.SetIndent("", "  ")
	return out.Encode(asOfAnswer{OrganizationID: *org, At: t.UTC(), Question: query, TargetID: target, Answer: answerOf(st, query, target)})
}

// asOfQuestion reads the question of `audit as-of`: access, settings, space ID, user ID or
// assistant ID.
func asOfQuestion(args []string) (query, target string, err error) {
	const want = "want one of: access, settings, space ID, user ID, assistant ID"
	if len(args) == 0 {
		return "", "", usageError{"audit as-of needs a question: " + want}
	}
	q := map[string]string{"access": domain.HistorySpaceAccess, "settings": domain.HistorySettings,
		"space": domain.HistorySpace, "user": domain.HistoryUserAccess, "assistant": domain.HistoryAssistant}[args[0]]
	switch {
	case q == "":
		return "", "", usageError{fmt.Sprintf("unknown question %q: %s", args[0], want)}
	case (q == domain.HistorySpaceAccess || q == domain.HistorySettings) && len(args) != 1,
		q != domain.HistorySpaceAccess && q != domain.HistorySettings && len(args) != 2:
		return "", "", usageError{fmt.Sprintf("bad arguments %v: %s", args, want)}
	}
	if len(args) == 2 {
		target = args[1]
	}
	return q, target, nil
}

// spaceAccess is one space's access list in the answer to `audit as-of access`.
type spaceAccess struct {
	SpaceID string           `json:"spaceId"`
	Access  []history.Access `json:"access"`
}

// spaceAnswer is the answer to `audit as-of space ID`: the space and who could access it.
type spaceAnswer struct {
	*history.Space
	Access []history.Access `json:"access"`
}

func answerOf(st *history.State, query, target string) any {
	switch query {
	case domain.HistorySpaceAccess:
		out := []spaceAccess{}
		for _, id := range st.SpaceIDs() {
			out = append(out, spaceAccess{SpaceID: id, Access: st.WhoCanAccess(id)})
		}
		return out
	case domain.HistorySettings:
		return st.Settings()
	case domain.HistorySpace:
		if sp := st.Space(target); sp != nil {
			return spaceAnswer{Space: sp, Access: st.WhoCanAccess(target)}
		}
		return nil
	case domain.HistoryUserAccess:
		return st.AccessOf(target)
	}
	return st.Assistant(target)
}
