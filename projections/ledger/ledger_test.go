package ledger_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/mod/sumdb/note"

	"github.com/arkiv/arkiv/app/eventlog"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/clocktest"
	"github.com/arkiv/arkiv/infra/esdbserver"
	"github.com/arkiv/arkiv/infra/esdbwatermill"
	"github.com/arkiv/arkiv/infra/eventstore"
	"github.com/arkiv/arkiv/infra/pgtest"
	"github.com/arkiv/arkiv/infra/postgres"
	"github.com/arkiv/arkiv/ledger"
	"github.com/arkiv/arkiv/projections/engine"
	ledgerproj "github.com/arkiv/arkiv/projections/ledger"
)

type env struct {
	t      *testing.T
	pool   *pgxpool.Pool
	store  *eventstore.Store
	reader *ledgerproj.Reader
	key    *ledger.Key
	log    ledgerproj.LogReader
	ids    []string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	if err := postgres.Migrate(ctx, dsn); err != nil {
		t.Fatal(err)
	}
	srv, err := esdbserver.Start(ctx, esdbserver.Config{PGURL: dsn, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Close(ctx)
	})
	e := &env{t: t}
	if e.store, err = eventstore.Open(srv.ConnectionString()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.store.Close() })
	if e.pool, err = pgxpool.New(ctx, dsn); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.pool.Close)
	skey, vkey, err := ledger.GenerateKey("arkiv.test/ledger")
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	e.key = &ledger.Key{Signer: s, VerifierKey: vkey}
	e.reader = ledgerproj.NewReader(e.pool, vkey)
	wlog := eventlog.New(e.store.Client(), esdbwatermill.Options{BackoffInitial: 20 * time.Millisecond})
	e.log = ledgerproj.NewLogReader(wlog)
	runner, err := engine.NewRunner(engine.Config{Pool: e.pool, Log: wlog,
		Projections: []engine.Projection{ledgerproj.NewProjection()}, BatchWait: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = runner.Run(rctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return e
}

func (e *env) add(n int, stream string) {
	e.t.Helper()
	ctx := context.Background()
	for i := 0; i < n; i++ {
		last, found, err := e.store.Last(ctx, stream)
		if err != nil {
			e.t.Fatal(err)
		}
		expected, prev := domain.NoStream, ""
		if found {
			expected, prev = int64(last.Revision), domain.HashOf(last)
		}
		id := uuid.NewString()
		md, _ := json.Marshal(domain.Metadata{Actor: "u", CommandID: id, SchemaVersion: 1, PrevHash: prev})
		if _, err := e.store.Append(ctx, stream, expected, []domain.Proposed{{EventID: id, Type: "x.done.v1", Data: []byte(fmt.Sprintf(`{"i":%d}`, i)), Metadata: md}}); err != nil {
			e.t.Fatal(err)
		}
		e.ids = append(e.ids, id)
	}
}

func (e *env) waitTree(size uint64) {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		n, err := e.reader.TreeSize(context.Background())
		if err != nil {
			e.t.Fatal(err)
		}
		if n >= size {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("tree has %d leaves, want %d", n, size)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCheckpointerCadenceAndReader(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	clock := &clocktest.Clock{}
	var mu sync.Mutex
	var signed []uint64
	c, err := ledgerproj.NewCheckpointer(ledgerproj.CheckpointerConfig{Pool: e.pool, Store: e.store, Key: e.key, Every: 5, Interval: time.Hour,
		Clock: clock, Logger: slog.New(slog.DiscardHandler), Checkpointed: func(cp ledger.Checkpoint) {
			mu.Lock()
			signed = append(signed, cp.Size)
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	tick := func(want uint64) {
		t.Helper()
		cp, err := c.Tick(ctx)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case want == 0 && cp != nil:
			t.Fatalf("checkpoint of size %d, none due", cp.Size)
		case want != 0 && (cp == nil || cp.Size != want):
			t.Fatalf("checkpoint %v, want size %d", cp, want)
		}
		if cp != nil {
			e.waitTree(cp.Size + 1)
		}
	}
	tick(0) // empty log
	e.add(3, "a")
	e.waitTree(3)
	tick(3) // the first checkpoint is due at once
	tick(0) // only the checkpoint event is new: an idle log stays idle
	e.add(3, "b")
	e.waitTree(7)
	tick(0) // 3 new events, within the interval
	clock.Advance(time.Hour)
	tick(7)
	e.add(6, "a")
	e.waitTree(14)
	tick(14) // 6 new leaves ≥ Every
	if fmt.Sprint(signed) != "[3 7 14]" {
		t.Fatalf("signed %v", signed)
	}

	latest, err := e.reader.LatestCheckpoint(ctx)
	if err != nil || latest == nil || latest.Size != 14 || latest.KeyHash != fmt.Sprintf("%08x", e.key.Signer.KeyHash()) {
		t.Fatalf("latest %+v %v", latest, err)
	}
	if cp, _, err := ledger.OpenCheckpoint([]byte(latest.Note), note.VerifierList(e.key.Verifier())); err != nil || !cp.Equal(latest.Checkpoint) {
		t.Fatalf("latest note: %v", err)
	}
	if tail, err := e.reader.UnanchoredTail(ctx); err != nil || tail != 1 {
		t.Fatalf("tail %d %v", tail, err)
	}
	all, err := e.reader.Checkpoints(ctx)
	if err != nil || len(all) != 3 {
		t.Fatalf("%d checkpoints, %v", len(all), err)
	}
	for i, id := range e.ids {
		p, err := e.reader.Proof(ctx, id)
		if err != nil {
			t.Fatalf("proof of event %d: %v", i, err)
		}
		cp, err := ledger.VerifyProof(p, note.VerifierList(e.key.Verifier()))
		if err != nil || cp.Size != 14 || p.Leaf.EventID != id {
			t.Fatalf("proof of event %d: %v", i, err)
		}
	}
	if _, err := e.reader.Proof(ctx, "not-a-uuid"); domain.KindOf(err) != domain.KindInvalid {
		t.Fatalf("bad id: %v", err)
	}
	if _, err := e.reader.Proof(ctx, uuid.NewString()); domain.KindOf(err) != domain.KindNotFound {
		t.Fatalf("unknown id: %v", err)
	}
	if e.reader.PublicKey() != e.key.VerifierKey {
		t.Fatal("public key")
	}
	// The full verification agrees.
	rep, err := ledgerproj.VerifyLog(ctx, e.log, ledger.Options{Keys: note.VerifierList(e.key.Verifier()), Reference: e.reader.References()}, nil)
	if err != nil || !rep.OK || rep.Checkpoints != 3 || rep.Leaves != 15 {
		t.Fatalf("%+v %v", rep, err)
	}

	// A checkpointer starting while its ledger lags the log (here: the log's last checkpoint
	// is ahead of the projected tree) never signs a smaller tree than that checkpoint.
	last, _, err := e.store.Last(ctx, ledger.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	id := uuid.NewString()
	md, _ := json.Marshal(domain.Metadata{Actor: domain.SystemActor, CommandID: id, SchemaVersion: 1, PrevHash: domain.HashOf(last)})
	data, _ := json.Marshal(ledger.CheckpointData{Note: "elsewhere", Size: 1000})
	if _, err := e.store.Append(ctx, ledger.DefaultStream, int64(last.Revision), []domain.Proposed{{EventID: id, Type: ledger.CheckpointType, Data: data, Metadata: md}}); err != nil {
		t.Fatal(err)
	}
	e.add(3, "b")
	e.waitTree(19)
	c2, err := ledgerproj.NewCheckpointer(ledgerproj.CheckpointerConfig{Pool: e.pool, Store: e.store, Key: e.key, Every: 1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if cp, err := c2.Tick(ctx); err != nil || cp != nil {
		t.Fatalf("signed %v behind the log's checkpoint of size 1000 (%v)", cp, err)
	}
}

func TestMonitorRecordsAFailure(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	m, err := ledgerproj.NewMonitor(ledgerproj.MonitorConfig{Log: e.log, Store: e.store, Reader: e.reader,
		Keys: []note.Verifier{e.key.Verifier()}, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	c, err := ledgerproj.NewCheckpointer(ledgerproj.CheckpointerConfig{Pool: e.pool, Store: e.store, Key: e.key, Every: 1, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := e.reader.LastVerification(ctx); err != nil || v != nil {
		t.Fatalf("before any run: %+v %v", v, err)
	}
	e.add(4, "a")
	e.waitTree(4)
	if _, err := c.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := m.VerifyNew(ctx)
	if err != nil || !rep.OK || rep.Checkpoints != 1 {
		t.Fatalf("%+v %v", rep, err)
	}
	if v, err := e.reader.LastVerification(ctx); err != nil || v == nil || !v.OK || v.Checkpoint != 4 || v.Leaves != 5 {
		t.Fatalf("%+v %v", v, err)
	}
	// New events; one of them is altered in the store before the next checkpoint's run.
	e.add(3, "a")
	e.waitTree(8)
	if _, err := c.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	victim := e.ids[5]
	if _, err := e.pool.Exec(ctx, `UPDATE esdb.events SET data = '{"i":42}' WHERE event_id = $1`, victim); err != nil {
		t.Fatal(err)
	}
	rep, err = m.VerifyNew(ctx)
	if err != nil || rep.OK || rep.Failure.Check != ledger.CheckChain || rep.Failure.EventID != e.ids[6] {
		t.Fatalf("%+v %v", rep.Failure, err)
	}
	v, err := e.reader.LastVerification(ctx)
	if err != nil || v == nil || v.OK || v.Failure == nil || v.Failure.EventID != e.ids[6] {
		t.Fatalf("%+v %v", v, err)
	}
	if !strings.Contains(logs.String(), `"msg":"ledger verification failed"`) || !strings.Contains(logs.String(), e.ids[6]) {
		t.Fatalf("no error log line: %s", logs.String())
	}
	recs, _, err := e.store.Load(ctx, ledger.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	last := recs[len(recs)-1]
	var f ledger.Failure
	if last.Type != ledger.VerificationFailedType || json.Unmarshal(last.Data, &f) != nil || f.EventID != e.ids[6] {
		t.Fatalf("last ledger event %s %s", last.Type, last.Data)
	}
	if _, err := domain.VerifyChain(recs); err != nil {
		t.Fatalf("the ledger stream's own chain: %v", err)
	}
	// A second run reports the same failure without appending it again.
	if _, err := m.VerifyNew(ctx); err != nil {
		t.Fatal(err)
	}
	if again, _, _ := e.store.Load(ctx, ledger.DefaultStream); len(again) != len(recs) {
		t.Fatalf("failure appended twice")
	}
}
