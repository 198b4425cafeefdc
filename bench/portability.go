package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/keyring"
	"github.com/arkiv/arkiv/ledger"
	"github.com/arkiv/arkiv/portability"
	ledgerproj "github.com/arkiv/arkiv/projections/ledger"
)

// portabilityScenarios measure the whole-organisation export (issue 18 item 5).
func portabilityScenarios() []Scenario {
	return []Scenario{{Name: "organization-export", Issue: 18, Run: benchOrganizationExport}}
}

// seedOrganizationLog writes one organisation's log straight into the embedded store's
// tables: docs document.ingested events (their metadata, a sealed title) and msgs
// conversation.message_sent events (sealed texts of about 200 bytes) in 1 conversation per
// 50 messages, each conversation started first, all sealed with the plaintext codec.
func seedOrganizationLog(org string, docs, msgs int) func(ctx context.Context, pgURL string, n int) error {
	return func(ctx context.Context, pgURL string, _ int) error {
		conn, err := pgx.Connect(ctx, pgURL)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		codec := keyring.NewPlainCodec()
		space, actor := uuid.NewString(), uuid.NewString()
		created := time.Now().UnixNano() / 100
		at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		revs := map[string]int64{}
		pos := int64(0)
		i, total := 0, 1+docs+msgs+msgs/50+1
		var conv string
		text := strings.Repeat("Ett meddelande om bygglov och detaljplaner. ", 5)
		src := pgx.CopyFromFunc(func() ([]any, error) {
			if i >= total {
				return nil, nil
			}
			var stream string
			var ev domain.Event
			switch {
			case i == 0:
				stream, ev = "org-"+org, domain.OrganizationCreated{OrganizationID: org, Name: domain.Seal("Kommun", domain.OrganizationSubject(org)),
					Settings: domain.DefaultOrganizationSettings()}
			case i <= docs:
				d := uuid.NewString()
				stream, ev = "document-"+d, domain.DocumentIngested{DocumentID: d, OrganizationID: org, SpaceID: space,
					Title: domain.Seal("Protokoll "+strconv.Itoa(i), domain.DocumentSubject(d)), ContentType: "text/plain", SizeBytes: 4096, ChunkCount: 4, IngestedBy: actor}
			default:
				m := i - docs - 1
				if m%51 == 0 {
					conv = uuid.NewString()
					stream, ev = "conversation-"+conv, domain.ConversationStarted{ConversationID: conv, OrganizationID: org, SpaceID: space,
						AssistantID: actor, StartedBy: actor}
				} else {
					stream, ev = "conversation-"+conv, domain.MessageSent{ConversationID: conv, MessageID: uuid.NewString(), Author: actor,
						Text: domain.Seal(text, domain.ConversationSubject(conv), domain.UserSubject(actor)), SentAt: at}
				}
			}
			id := uuid.New()
			data, err := codec.Encode(ctx, id.String(), ev)
			if err != nil {
				return nil, err
			}
			md, err := json.Marshal(domain.Metadata{Actor: actor, Organization: org, Space: space, CommandID: id.String(),
				SchemaVersion: 1, OccurredAt: at.Add(time.Duration(i) * time.Second)})
			if err != nil {
				return nil, err
			}
			rev := revs[stream]
			revs[stream] = rev + 1
			pos++
			i++
			return []any{pos, stream, rev, pgtype.UUID{Bytes: id, Valid: true}, ev.EventName(), "application/json", created, data, md}, nil
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

// discardSink is a portability.Sink that keeps nothing: the export is measured without the
// disk.
type discardSink struct{ bytes atomic.Int64 }

type countingDiscard struct{ s *discardSink }

func (c countingDiscard) Write(p []byte) (int, error) {
	c.s.bytes.Add(int64(len(p)))
	return len(p), nil
}
func (countingDiscard) Close() error { return nil }

func (s *discardSink) Create(string) (io.WriteCloser, error) { return countingDiscard{s}, nil }

// rss returns the process's resident set size in bytes (Linux /proc/self/status).
func rss() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmRSS:")); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(string(v)), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// benchOrganizationExport exports an organisation of 100,000 documents' metadata and
// 1,000,000 messages (quick: 5,000 and 50,000) through the official client, as `arkiv
// export organization` does, to a sink that counts the bytes: MB/s of export written and
// the process's peak RSS above its idle RSS, sampled every 20 ms, with the RSS once a
// quarter of the log is read, to show it flat with the size. The plaintext codec opens the
// sealed fields: the keyring scenarios measure decryption.
func benchOrganizationExport(ctx context.Context, env *Env) ([]Result, error) {
	docs, msgs := env.Size(100_000, 5_000), env.Size(1_000_000, 50_000)
	org := uuid.NewString()
	_, wlog, release, err := seededLog(ctx, env, 0, seedOrganizationLog(org, docs, msgs))
	if err != nil {
		return nil, err
	}
	defer release()
	log := ledgerproj.NewLogReader(wlog)
	codec := keyring.NewPlainCodec()
	var speeds, peaks, quarters, ratios []float64
	var events int64
	var messages int
	for round := 0; round < env.Size(3, 2); round++ {
		// The plain read of the same log, for the export / read ratio (robust to a busy
		// machine).
		start := time.Now()
		if err := (pageSource{log}).Scan(ctx, func(ledger.Entry) error { return nil }); err != nil {
			return nil, err
		}
		readSecs := time.Since(start).Seconds()
		runtime.GC()
		time.Sleep(200 * time.Millisecond)
		idle := rss()
		var peak, quarter atomic.Int64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(20 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					if r := rss(); r > peak.Load() {
						peak.Store(r)
					}
				}
			}
		}()
		sink := &discardSink{}
		var read atomic.Int64
		totalEvents := int64(1 + docs + msgs + msgs/50 + 1)
		src := countingSource{pageSource{log}, func() {
			if n := read.Add(1); n == totalEvents/4 {
				quarter.Store(rss())
			}
		}}
		start = time.Now()
		m, err := portability.ExportOrganization(ctx, src, codec, portability.OrganizationRequest{Organization: org, Version: "bench",
			ExportedAt: time.Now()}, sink)
		secs := time.Since(start).Seconds()
		close(stop)
		wg.Wait()
		if err != nil {
			return nil, err
		}
		if m.Types[(domain.MessageSent{}).EventName()] < msgs*50/51-1 || m.Types[(domain.DocumentIngested{}).EventName()] != docs {
			return nil, fmt.Errorf("exported %v", m.Types)
		}
		events, messages = m.Events, m.Types[(domain.MessageSent{}).EventName()]
		speeds = append(speeds, float64(sink.bytes.Load())/1e6/secs)
		ratios = append(ratios, secs/readSecs)
		peaks = append(peaks, float64(max(peak.Load()-idle, 0))/1e6)
		quarters = append(quarters, float64(max(quarter.Load()-idle, 0))/1e6)
	}
	peak := Median(peaks)
	return []Result{
		{Metric: fmt.Sprintf("organisation export of %d events (%d documents, %d messages), MB/s of JSON written (median)", events, docs, messages),
			Value: Median(speeds), Unit: "MB/s"},
		{Metric: "export / plain read of the same log (median)", Value: Median(ratios), Unit: "ratio"},
		{Metric: "RSS above idle after a quarter of the log (median)", Value: Median(quarters), Unit: "MB"},
		{Metric: "peak RSS above idle over the whole export (median)", Value: peak, Unit: "MB", Target: "<= 200", Met: Met(peak <= 200)},
	}, nil
}

// countingSource calls tick for every entry it passes on.
type countingSource struct {
	src  portability.Source
	tick func()
}

// Scan implements portability.Source.
func (s countingSource) Scan(ctx context.Context, fn func(ledger.Entry) error) error {
	return s.src.Scan(ctx, func(e ledger.Entry) error { s.tick(); return fn(e) })
}
