package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime/debug"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"golang.org/x/mod/sumdb/note"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/evidence"
	"github.com/arkiv/arkiv/ledger"
	ledgerproj "github.com/arkiv/arkiv/projections/ledger"
)

// evidenceScenarios measure the DPIA evidence export (issue 17).
func evidenceScenarios() []Scenario {
	return []Scenario{{Name: "evidence-export", Issue: 17, Run: benchEvidenceExport}}
}

// evidenceStart is the first business day of the seeded 90 days.
var evidenceStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// seedEvidenceLog writes n events of one organisation spread evenly over 90 days of business
// time straight into the embedded store's tables, chained and with a signed checkpoint every
// 1,000 events: denials, logins, model calls, membership changes, audit reads and a
// settings change every 10,000 events.
func seedEvidenceLog(key *ledger.Key, org string) func(ctx context.Context, pgURL string, n int) error {
	return func(ctx context.Context, pgURL string, n int) error {
		conn, err := pgx.Connect(ctx, pgURL)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		actor, space := uuid.NewString(), uuid.NewString()
		heads, revs := map[string]string{}, map[string]int64{}
		tree := ledger.NewTree()
		created := time.Now().UnixNano() / 100
		step := 90 * 24 * time.Hour / time.Duration(n)
		settings, _ := json.Marshal(map[string]any{"organizationId": org, "settings": domain.DefaultOrganizationSettings()})
		i, pos := 0, int64(0)
		var pending [][]any
		row := func(stream, typ string, data []byte, occurred time.Time, orgID string) ([]any, error) {
			id := uuid.New()
			md, err := json.Marshal(domain.Metadata{Actor: actor, Organization: orgID, Space: space, CommandID: uuid.NewString(),
				SchemaVersion: 1, PrevHash: heads[stream], OccurredAt: occurred})
			if err != nil {
				return nil, err
			}
			rev := revs[stream]
			pos++
			e := ledger.Entry{EventID: id.String(), Stream: stream, Revision: uint64(rev), Type: typ,
				Created: time.Unix(0, created*100), Data: data, Metadata: md}
			tree.Append(ledger.LeafOf(e).Hash(), nil)
			heads[stream] = domain.EventHash(e.EventID, typ, data, md)
			revs[stream] = rev + 1
			return []any{pos, stream, rev, pgtype.UUID{Bytes: id, Valid: true}, typ, "application/json", created, data, md}, nil
		}
		src := pgx.CopyFromFunc(func() ([]any, error) {
			if len(pending) > 0 {
				r := pending[0]
				pending = pending[1:]
				return r, nil
			}
			if i >= n {
				return nil, nil
			}
			at := evidenceStart.Add(time.Duration(i) * step)
			var stream, typ string
			var data []byte
			switch {
			case i == 0:
				stream, typ, data = "org-"+org, "organization.created.v1", settings
			case i%10_000 == 0:
				stream, typ, data = "org-"+org, "organization.settings_changed.v1", settings
			default:
				switch i % 5 {
				case 0:
					stream, typ = "access-"+org, "access.denied.v1"
					data = fmt.Appendf(nil, `{"actor":%q,"command":"ViewDocument","reason":"not_member","deniedAt":%q}`, actor, at.Format(time.RFC3339Nano))
				case 1:
					stream, typ = "access-"+org, "access.login_succeeded.v1"
					data = fmt.Appendf(nil, `{"organizationId":%q,"userId":%q,"loginDigest":"d","succeededAt":%q}`, org, actor, at.Format(time.RFC3339Nano))
				case 2:
					stream, typ = fmt.Sprintf("conversation-%d", i%1000), "conversation.model_invocation_recorded.v1"
					data = fmt.Appendf(nil, `{"conversationId":"c","invocationId":%q,"model":"m","region":"EU","excerpts":[{"documentId":"d","chunkIndex":0,"score":0.5},{"documentId":"d","chunkIndex":1,"score":0.4}],"requestParts":[{"text":"ak1.0123456789abcdef"}],"promptTokens":100,"invokedAt":%q}`, uuid.NewString(), at.Format(time.RFC3339Nano))
				case 3:
					stream, typ = "space-"+space, "space.member_added.v1"
					data = fmt.Appendf(nil, `{"spaceId":%q,"userId":%q,"role":"SPACE_VIEWER"}`, space, uuid.NewString())
				default:
					stream, typ = "access-"+org, "access.audit_log_viewed.v1"
					data = fmt.Appendf(nil, `{"viewer":%q,"justification":"ak1.justification","viewedAt":%q}`, actor, at.Format(time.RFC3339Nano))
				}
			}
			r, err := row(stream, typ, data, at, org)
			if err != nil {
				return nil, err
			}
			i++
			if i%1000 == 0 {
				cp := ledger.Checkpoint{Origin: key.Origin(), Size: tree.Size(), Root: tree.Root()}
				msg, err := cp.Sign(key.Signer)
				if err != nil {
					return nil, err
				}
				d, _ := json.Marshal(ledger.CheckpointData{Note: string(msg), Size: cp.Size})
				c, err := row(ledger.DefaultStream, ledger.CheckpointType, d, at, "")
				if err != nil {
					return nil, err
				}
				pending = append(pending, c)
			}
			return r, nil
		})
		if _, err := conn.CopyFrom(ctx, pgx.Identifier{"esdb", "events"},
			[]string{"pos", "stream", "revision", "event_id", "event_type", "content_type", "created", "data", "metadata"}, src); err != nil {
			return err
		}
		if _, err := conn.Exec(ctx, `INSERT INTO esdb.streams (name, last_revision)
			SELECT stream, max(revision) FROM esdb.events GROUP BY stream`); err != nil {
			return err
		}
		_, err = conn.Exec(ctx, `VACUUM ANALYZE esdb.events`)
		return err
	}
}

// pageSource is evidence.Source over the ledger's LogReader, as `arkiv evidence export`
// reads the log.
type pageSource struct{ log ledgerproj.LogReader }

// Scan implements evidence.Source.
func (s pageSource) Scan(ctx context.Context, fn func(ledger.Entry) error) error {
	var after *ledgerproj.Position
	for {
		pg, err := s.log.ReadPage(ctx, after, ledgerproj.PageSize)
		if err != nil {
			return err
		}
		for _, e := range pg.Entries {
			if err := fn(e); err != nil {
				return err
			}
		}
		if pg.End || pg.Last == nil {
			return nil
		}
		after = pg.Last
	}
}

// benchEvidenceExport exports the middle 30 days of an organisation's 90-day log of
// 1,000,000 events (quick: 20,000) through the official client — one pass that verifies the
// whole log, folds the configuration and counts the safeguards — and reads the same log
// plainly, alternating the two.
func benchEvidenceExport(ctx context.Context, env *Env) ([]Result, error) {
	key, err := benchKey()
	if err != nil {
		return nil, err
	}
	n := env.Size(1_000_000, 20_000)
	org := uuid.NewString()
	_, wlog, release, err := seededLog(ctx, env, n, seedEvidenceLog(key, org))
	if err != nil {
		return nil, err
	}
	defer release()
	log := ledgerproj.NewLogReader(wlog)
	src := pageSource{log}
	total := n + n/1000
	defer debug.SetGCPercent(debug.SetGCPercent(ledgerproj.VerifyGCPercent))
	req := evidence.Request{Organization: org, From: evidenceStart.AddDate(0, 0, 30), To: evidenceStart.AddDate(0, 0, 60), Version: "bench",
		Keys: note.VerifierList(key.Verifier()), Signer: key.Signer}
	var reads, exports, ratios []float64
	for round := 0; round < env.Size(3, 2); round++ {
		start := time.Now()
		got := 0
		if err := src.Scan(ctx, func(ledger.Entry) error { got++; return nil }); err != nil {
			return nil, err
		}
		read := time.Since(start).Seconds()
		if got != total {
			return nil, fmt.Errorf("read %d of %d events", got, total)
		}
		req.SignedAt = time.Now()
		start = time.Now()
		res, err := evidence.Export(ctx, src, req, io.Discard)
		if err != nil {
			return nil, err
		}
		exp := time.Since(start).Seconds()
		if !res.Verification.OK || res.Events < n/4 {
			return nil, fmt.Errorf("export: %d events in the window, verification %+v", res.Events, res.Verification.Failure)
		}
		reads, exports, ratios = append(reads, read), append(exports, exp), append(ratios, exp/read)
	}
	ratio := Median(ratios)
	return []Result{
		{Metric: fmt.Sprintf("plain $all read of %d events (median)", total), Value: Median(reads), Unit: "s"},
		{Metric: "evidence export of the middle 30 of 90 days, whole log verified (median)", Value: Median(exports), Unit: "s"},
		{Metric: fmt.Sprintf("export / read (median of %d rounds)", len(ratios)), Value: ratio, Unit: "ratio", Target: "<= 3", Met: Met(ratio <= 3)},
	}, nil
}
