package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/arkiv/arkiv/app/eventlog"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/esdbserver"
	"github.com/arkiv/arkiv/infra/esdbwatermill"
	"github.com/arkiv/arkiv/infra/eventstore"
	"github.com/arkiv/arkiv/infra/keyring"
	"github.com/arkiv/arkiv/infra/pgtest"
	"github.com/arkiv/arkiv/infra/postgres"
	"github.com/arkiv/arkiv/ledger"
	"github.com/arkiv/arkiv/projections/engine"
	ledgerproj "github.com/arkiv/arkiv/projections/ledger"
)

// auditLog is a log on the real embedded event store with the ledger projection and the
// checkpointer run over it, ready to be tampered with through its Postgres tables.
type auditLog struct {
	t       *testing.T
	dsn     string
	conn    string
	keyFile string
	pool    *pgxpool.Pool
	store   *eventstore.Store
	ids     map[string][]string // stream -> event ids by revision
	order   []string            // event ids in $all order (content events only)
	cancel  context.CancelFunc
	done    chan error
	cp      *ledgerproj.Checkpointer
}

func newAuditLog(t *testing.T) *auditLog {
	t.Helper()
	ctx := context.Background()
	a := &auditLog{t: t, dsn: pgtest.NewDatabase(t), ids: map[string][]string{}}
	if err := postgres.Migrate(ctx, a.dsn); err != nil {
		t.Fatal(err)
	}
	srv, err := esdbserver.Start(ctx, esdbserver.Config{PGURL: a.dsn, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Close(ctx)
	})
	a.conn = srv.ConnectionString()
	if a.store, err = eventstore.Open(a.conn); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.store.Close() })
	if a.pool, err = pgxpool.New(ctx, a.dsn); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.pool.Close)
	a.keyFile = filepath.Join(t.TempDir(), "ledger-key")
	if err := createSigningKey(a.keyFile, "arkiv.test/ledger"); err != nil {
		t.Fatal(err)
	}
	key, err := ledger.LoadKeyFile(a.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	a.cp = a.checkpointer(key)
	runner, err := engine.NewRunner(engine.Config{Pool: a.pool,
		Log:         eventlog.New(a.store.Client(), esdbwatermill.Options{BackoffInitial: 20 * time.Millisecond}),
		Projections: []engine.Projection{ledgerproj.NewProjection()}, BatchWait: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	a.cancel, a.done = cancel, make(chan error, 1)
	go func() { a.done <- runner.Run(rctx) }()
	t.Cleanup(a.stop)
	return a
}

func (a *auditLog) checkpointer(key *ledger.Key) *ledgerproj.Checkpointer {
	c, err := ledgerproj.NewCheckpointer(ledgerproj.CheckpointerConfig{Pool: a.pool, Store: a.store, Key: key, Every: 1,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		a.t.Fatal(err)
	}
	return c
}

// stop ends the projection runner (tampering happens behind its back, as a DBA's would).
func (a *auditLog) stop() {
	if a.cancel != nil {
		a.cancel()
		<-a.done
		a.cancel = nil
	}
}

// add appends n events round-robin to streams, each chained to its predecessor.
func (a *auditLog) add(n int, streams ...string) {
	a.t.Helper()
	ctx := context.Background()
	for i := 0; i < n; i++ {
		s := streams[i%len(streams)]
		a.appendTo(s, "thing.recorded.v1", []byte(fmt.Sprintf(`{"n":%d,"note":"event %d of %s"}`, i, i, s)))
	}
	_ = ctx
}

func (a *auditLog) appendTo(stream, typ string, data []byte) string {
	a.t.Helper()
	ctx := context.Background()
	last, found, err := a.store.Last(ctx, stream)
	if err != nil {
		a.t.Fatal(err)
	}
	expected, prev := domain.NoStream, ""
	if found {
		expected, prev = int64(last.Revision), domain.HashOf(last)
	}
	id := uuid.NewString()
	md, _ := json.Marshal(domain.Metadata{Actor: "u-1", Organization: "o-1", CommandID: id, SchemaVersion: 1, PrevHash: prev, OccurredAt: time.Now().UTC()})
	if _, err := a.store.Append(ctx, stream, expected, []domain.Proposed{{EventID: id, Type: typ, Data: data, Metadata: md}}); err != nil {
		a.t.Fatal(err)
	}
	a.ids[stream] = append(a.ids[stream], id)
	a.order = append(a.order, id)
	return id
}

// treeSize is the number of leaves the ledger projection has applied.
func (a *auditLog) treeSize() uint64 {
	n, err := ledgerproj.NewReader(a.pool, "").TreeSize(context.Background())
	if err != nil {
		a.t.Fatal(err)
	}
	return n
}

func (a *auditLog) waitTree(size uint64) {
	a.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for a.treeSize() < size {
		if time.Now().After(deadline) {
			a.t.Fatalf("the ledger projection has %d leaves, want %d", a.treeSize(), size)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkpoint waits until the ledger has every event appended so far, signs a checkpoint
// with c and waits until the ledger has the checkpoint event too.
func (a *auditLog) checkpoint(c *ledgerproj.Checkpointer) ledger.Checkpoint {
	a.t.Helper()
	head, err := a.store.ReadAll(context.Background(), 0, 1<<20)
	if err != nil {
		a.t.Fatal(err)
	}
	a.waitTree(uint64(len(head)))
	cp, err := c.Tick(context.Background())
	if err != nil || cp == nil {
		a.t.Fatalf("no checkpoint: %v", err)
	}
	a.waitTree(cp.Size + 1)
	return *cp
}

// standard builds the log the tamper tests share: 3 streams, a checkpoint, 2 more streams,
// another checkpoint, and a short unanchored tail.
func (a *auditLog) standard() {
	a.add(12, "space-a", "space-b", "user-c")
	a.checkpoint(a.cp)
	a.add(8, "space-a", "doc-d", "doc-e", "user-c")
	a.checkpoint(a.cp)
	a.add(2, "doc-d")
	a.waitTree(uint64(len(a.order)) + 2)
}

func (a *auditLog) exec(sql string, args ...any) {
	a.t.Helper()
	if _, err := a.pool.Exec(context.Background(), sql, args...); err != nil {
		a.t.Fatalf("%s: %v", sql, err)
	}
}

// audit runs `arkiv audit ARGS` as the CLI does, configured like serve through the
// environment, and returns the exit status and stdout.
func (a *auditLog) audit(args ...string) (int, string) {
	a.t.Helper()
	var out, errOut bytes.Buffer
	env := &cliEnv{stdout: &out, stderr: &errOut, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	full := append([]string{"audit"}, args...)
	if args[0] == "verify" || args[0] == "checkpoints" {
		full = append(full, "--esdb-url", a.conn)
	}
	if args[0] == "verify" {
		full = append(full, "--pg-url", a.dsn, "--signing-key-file", a.keyFile)
	}
	if args[0] == "prove" {
		full = append(full, "--pg-url", a.dsn)
	}
	code := run(context.Background(), env, full)
	if errOut.Len() > 0 {
		a.t.Logf("stderr of arkiv %s: %s", strings.Join(args, " "), errOut.String())
	}
	return code, out.String()
}

func (a *auditLog) mustVerify() ledger.Report {
	a.t.Helper()
	code, out := a.audit("verify", "--json")
	var r ledger.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		a.t.Fatalf("verify --json printed %q: %v", out, err)
	}
	if code != 0 || !r.OK {
		a.t.Fatalf("verify exited %d: %s", code, out)
	}
	return r
}

// mustFail runs verify and requires exit 1 and the human report naming want (event ids,
// check names).
func (a *auditLog) mustFail(extra []string, want ...string) string {
	a.t.Helper()
	code, out := a.audit(append([]string{"verify"}, extra...)...)
	if code != 1 {
		a.t.Fatalf("verify exited %d, want 1: %s", code, out)
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			a.t.Fatalf("verify output does not name %q:\n%s", w, out)
		}
	}
	a.t.Logf("verify output:\n%s", out)
	return out
}

func (a *auditLog) position(id string) int64 {
	var pos int64
	if err := a.pool.QueryRow(context.Background(), `SELECT pos FROM esdb.events WHERE event_id = $1`, id).Scan(&pos); err != nil {
		a.t.Fatal(err)
	}
	return pos
}

func TestAuditVerifiesACleanLog(t *testing.T) {
	t.Parallel()
	a := newAuditLog(t)
	a.standard()
	a.stop()
	r := a.mustVerify()
	if r.Leaves != uint64(len(a.order))+2 || r.Checkpoints != 2 || r.Streams != 6 || r.UnanchoredTail != 3 || r.Latest == nil || r.Latest.Size != 21 {
		t.Fatalf("report %+v", r)
	}
	code, out := a.audit("verify")
	if code != 0 || !strings.Contains(out, "ledger verified: 24 events in 6 streams") || !strings.Contains(out, "unanchored tail: 3") {
		t.Fatalf("exit %d: %s", code, out)
	}
	// Without the ledger's records too: only the log and the public key.
	if code, out := a.audit("verify", "--no-ledger-records"); code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
}

func TestAuditTamperingIsNamed(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		tamper func(a *auditLog) (want []string)
	}{
		{"a byte flipped in an event's data", func(a *auditLog) []string {
			id := a.ids["space-b"][1]
			a.exec(`UPDATE esdb.events SET data = set_byte(data, 3, get_byte(data, 3) # 1) WHERE event_id = $1`, id)
			return []string{id, "ledger-record check", "data differs", "stream:        space-b", "revision:      1"}
		}},
		{"a byte flipped in an event's metadata", func(a *auditLog) []string {
			id := a.ids["user-c"][2]
			a.exec(`UPDATE esdb.events SET metadata = set_byte(metadata, 12, get_byte(metadata, 12) # 1) WHERE event_id = $1`, id)
			return []string{id, "metadata differs", "stream:        user-c"}
		}},
		{"an event deleted from the middle of a stream", func(a *auditLog) []string {
			id := a.ids["space-a"][2]
			a.exec(`DELETE FROM esdb.events WHERE event_id = $1`, id)
			return []string{"event id:      " + id, "stream:        space-a", "revision:      2", "deleted or moved"}
		}},
		{"a whole stream deleted", func(a *auditLog) []string {
			a.exec(`DELETE FROM esdb.events WHERE stream = 'doc-e'`)
			a.exec(`DELETE FROM esdb.streams WHERE name = 'doc-e'`)
			return []string{"event id:      " + a.ids["doc-e"][0], "stream:        doc-e", "revision:      0"}
		}},
		{"two events' positions swapped", func(a *auditLog) []string {
			x, y := a.ids["space-a"][1], a.ids["user-c"][1]
			px, py := a.position(x), a.position(y)
			a.exec(`UPDATE esdb.events SET pos = -1 WHERE event_id = $1`, x)
			a.exec(`UPDATE esdb.events SET pos = $1 WHERE event_id = $2`, px, y)
			a.exec(`UPDATE esdb.events SET pos = $1 WHERE event_id = $2`, py, x)
			return []string{"event id:      " + x, "the log has event " + y}
		}},
		{"a forged event inserted with a recomputed chain", func(a *auditLog) []string {
			// Make room in the positions, then insert, right after space-b's last event
			// (before the first checkpoint), its "next" event with the correct prevHash.
			a.exec(`UPDATE esdb.events SET pos = -pos * 2`)
			a.exec(`UPDATE esdb.events SET pos = -pos`)
			var r domain.Recorded
			var created int64
			if err := a.pool.QueryRow(context.Background(), `SELECT stream, revision, event_id::text, event_type, data, metadata, created, pos
				FROM esdb.events WHERE event_id = $1`, a.ids["space-b"][3]).Scan(&r.Stream, &r.Revision, &r.EventID, &r.Type, &r.Data, &r.Metadata, &created, &r.Position); err != nil {
				a.t.Fatal(err)
			}
			forged := uuid.NewString()
			md, _ := json.Marshal(domain.Metadata{Actor: "u-evil", Organization: "o-1", CommandID: forged, SchemaVersion: 1, PrevHash: domain.HashOf(r)})
			a.exec(`INSERT INTO esdb.events (pos, stream, revision, event_id, event_type, content_type, created, data, metadata)
				VALUES ($1, 'space-b', 4, $2, 'thing.recorded.v1', 'application/json', $3, $4, $5)`,
				r.Position+1, forged, created+1, []byte(`{"n":99,"note":"granted myself admin"}`), md)
			a.exec(`UPDATE esdb.streams SET last_revision = 4 WHERE name = 'space-b'`)
			return []string{"event id:      " + forged, "ledger-record check", "stream:        space-b", "revision:      4", "never recorded"}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			a := newAuditLog(t)
			a.standard()
			a.stop()
			a.mustVerify()
			want := c.tamper(a)
			a.mustFail(nil, want...)
			// The signed checkpoints alone (no ledger records) catch it too.
			a.mustFail([]string{"--no-ledger-records"})
		})
	}
}

func TestAuditTruncatedTailNeedsATrustedCheckpoint(t *testing.T) {
	t.Parallel()
	a := newAuditLog(t)
	a.standard()
	a.stop()
	dir := t.TempDir()
	if code, out := a.audit("checkpoints", "--out", dir); code != 0 || !strings.Contains(out, "wrote 2 checkpoints") {
		t.Fatalf("exit %d: %s", code, out)
	}
	trusted := filepath.Join(dir, fmt.Sprintf("checkpoint-%012d.txt", 21))
	if _, err := os.Stat(trusted); err != nil {
		t.Fatal(err)
	}
	if code, out := a.audit("verify", "--trusted-checkpoint", trusted); code != 0 || !strings.Contains(out, "consistent with 1 trusted") {
		t.Fatalf("exit %d: %s", code, out)
	}
	// Delete the newest events: everything from doc-d's first event of the second batch on,
	// the second checkpoint included.
	cut := a.position(a.ids["doc-d"][0])
	a.exec(`DELETE FROM esdb.events WHERE pos >= $1 AND stream NOT LIKE '$%'`, cut)
	// The ledger's own records still name the first deleted event...
	a.mustFail(nil, "event id:      "+a.ids["doc-d"][0], "the log ends before it")
	// ...until the administrator removes them as well: then the log looks whole.
	a.exec(`DELETE FROM ledger_leaves WHERE idx >= 14`)
	a.exec(`DELETE FROM ledger_checkpoints WHERE size > 13`)
	if code, out := a.audit("verify"); code != 0 {
		t.Fatalf("a consistent truncation without a trusted checkpoint: exit %d: %s", code, out)
	}
	// The checkpoint an auditor saved earlier catches it.
	a.mustFail([]string{"--trusted-checkpoint", trusted}, "trusted-checkpoint check", "the trusted checkpoint covers 21")
}

func TestAuditWrongKeyCheckpointFails(t *testing.T) {
	t.Parallel()
	a := newAuditLog(t)
	a.add(6, "space-a", "user-c")
	a.checkpoint(a.cp)
	a.add(3, "space-a")
	otherFile := filepath.Join(t.TempDir(), "other-key")
	if err := createSigningKey(otherFile, "arkiv.test/ledger"); err != nil {
		t.Fatal(err)
	}
	other, err := ledger.LoadKeyFile(otherFile)
	if err != nil {
		t.Fatal(err)
	}
	a.checkpoint(a.checkpointer(other))
	a.stop()
	var forgedCP string
	if err := a.pool.QueryRow(context.Background(), `SELECT event_id::text FROM ledger_checkpoints WHERE size = 10`).Scan(&forgedCP); err != nil {
		t.Fatal(err)
	}
	a.mustFail(nil, "checkpoint-signature check", "event id:      "+forgedCP, "stream:        arkiv-ledger")
	// After a rotation the old public key is given too, and both verify.
	pub := filepath.Join(t.TempDir(), "other.pub")
	if err := os.WriteFile(pub, []byte(other.VerifierKey+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out := a.audit("verify", "--key", pub); code != 0 {
		t.Fatalf("with both keys: exit %d: %s", code, out)
	}
}

func TestAuditVerifiesAfterErasure(t *testing.T) {
	t.Parallel()
	a := newAuditLog(t)
	ctx := context.Background()
	kek, err := keyring.LoadOrCreateKEKFile(filepath.Join(t.TempDir(), "kek.json"))
	if err != nil {
		t.Fatal(err)
	}
	kr, err := keyring.Open(ctx, a.pool, kek, domain.SystemClock{})
	if err != nil {
		t.Fatal(err)
	}
	defer kr.Close()
	subject := domain.UserSubject(uuid.NewString())
	var blobs [][]byte
	for i := 0; i < 4; i++ {
		b, err := kr.Seal(ctx, []domain.Subject{subject}, []byte("ad"), []byte(fmt.Sprintf("personal data %d", i)))
		if err != nil {
			t.Fatal(err)
		}
		blobs = append(blobs, b)
		data, _ := json.Marshal(map[string][]byte{"sealed": b})
		a.appendTo("user-x", "user.noted.v1", data)
	}
	a.add(5, "space-a")
	a.checkpoint(a.cp)
	if err := kr.StartShredding(ctx, subject, "erasure", "u-dpo", 0); err != nil {
		t.Fatal(err)
	}
	if err := kr.Destroy(ctx, subject); err != nil {
		t.Fatal(err)
	}
	if _, err := kr.Open(ctx, blobs[0], []byte("ad")); err == nil {
		t.Fatal("the erased subject's data still opens")
	}
	a.stop()
	if r := a.mustVerify(); r.Checkpoints != 1 || r.Leaves != 10 {
		t.Fatalf("%+v", r)
	}
}

func TestAuditProveAndVerifyProofOffline(t *testing.T) {
	t.Parallel()
	a := newAuditLog(t)
	a.standard()
	a.stop()
	dir := t.TempDir()
	pub := filepath.Join(dir, "ledger.pub")
	code, out := a.audit("public-key", "--signing-key-file", a.keyFile)
	if code != 0 || !strings.HasPrefix(out, "arkiv.test/ledger+") {
		t.Fatalf("public-key: exit %d: %s", code, out)
	}
	if err := os.WriteFile(pub, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	id := a.ids["user-c"][1]
	code, proofText := a.audit("prove", "--event", id)
	if code != 0 || !strings.HasPrefix(proofText, "c2sp.org/tlog-proof@v1\n") {
		t.Fatalf("prove: exit %d: %s", code, proofText)
	}
	proofFile := filepath.Join(dir, "proof")
	if err := os.WriteFile(proofFile, []byte(proofText), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out := a.audit("verify-proof", proofFile, "--key", pub); code != 0 || !strings.Contains(out, "proof verified: event "+id+" (stream user-c, revision 1") {
		t.Fatalf("verify-proof: exit %d: %s", code, out)
	}
	// A proof whose leaf was edited (here: the revision) does not verify.
	p, err := ledger.ParseProof([]byte(proofText))
	if err != nil {
		t.Fatal(err)
	}
	p.Leaf.Revision = 0
	if err := os.WriteFile(proofFile, p.Marshal(), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out := a.audit("verify-proof", proofFile, "--key", pub); code != 1 || !strings.Contains(out, "PROOF DOES NOT VERIFY") {
		t.Fatalf("edited proof: exit %d: %s", code, out)
	}
	// The unanchored tail has no proof yet; an unknown event none at all.
	if code, _ := a.audit("prove", "--event", a.ids["doc-d"][len(a.ids["doc-d"])-1]); code != 1 {
		t.Fatalf("prove of an unanchored event: exit %d", code)
	}
	if code, _ := a.audit("prove", "--event", uuid.NewString()); code != 1 {
		t.Fatalf("prove of an unknown event: exit %d", code)
	}
}

func TestAuditGenerateKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k")
	var out bytes.Buffer
	env := &cliEnv{stdout: &out, stderr: io.Discard, log: slog.New(slog.DiscardHandler)}
	if code := run(context.Background(), env, []string{"audit", "generate-key", "--out", path, "--origin", "example.org/log"}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("%v %v", st.Mode(), err)
	}
	if !strings.Contains(out.String(), "public key: example.org/log+") {
		t.Fatal(out.String())
	}
	if code := run(context.Background(), env, []string{"audit", "generate-key", "--out", path}); code != 1 {
		t.Fatalf("overwrote a key: exit %d", code)
	}
}
