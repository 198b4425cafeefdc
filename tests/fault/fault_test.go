package fault_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/arkiv/arkiv/infra/devstack"
)

// writersN is the number of concurrent GraphQL clients that write during a fault.
const writersN = 16

// outage is how long the short suite keeps a dependency down; ARKIV_FAULT_OUTAGE (e.g. 30s,
// as `make soak` sets it) lengthens it.
func outage() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("ARKIV_FAULT_OUTAGE")); err == nil && d > 0 {
		return d
	}
	return 5 * time.Second
}

// during runs writers from now until the returned stop is called, and returns their results.
func during(d *deployment, tag string) (stop func() writeResult) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan writeResult, 1)
	go func() { done <- d.writers(ctx, writersN, tag) }()
	return func() writeResult { cancel(); return <-done }
}

// waitReady waits until /readyz answers want and, for 503, names the failing check.
func waitReady(t *testing.T, d *deployment, want int, check string, bound time.Duration) {
	t.Helper()
	waitUntil(t, bound, fmt.Sprintf("/readyz answers %d (%s)", want, check), func() bool {
		select {
		case <-d.serve.done:
			t.Fatalf("serve exited: %s", lastLines(d.serve.output(), 5))
		default:
		}
		code, failing := d.ready()
		return code == want && (check == "" || slices.Contains(failing, check))
	})
}

// TestServeKilled: `arkiv serve` killed with SIGKILL while 16 clients write; after a restart
// every acknowledged write is there exactly once.
func TestServeKilled(t *testing.T) {
	t.Parallel()
	d := deploy(t, "kill9", deployOptions{})
	checkServeTLS(t, d)
	stop := during(d, "before")
	time.Sleep(4 * time.Second)
	d.killServe()
	time.Sleep(500 * time.Millisecond)
	res := stop()
	if len(res.acked) == 0 {
		t.Fatalf("no write was acknowledged before the kill: %v", res.failed)
	}
	d.startServe()
	stop = during(d, "after")
	time.Sleep(2 * time.Second)
	res.merge(stop())
	// Before the kill writes succeed; at the kill they get no answer.
	res.checkOnlyCodes(t, "transport")
	d.verify(res)
}

// TestEventStoreKilled: the embedded event store killed with SIGKILL and started again;
// serve reconnects by itself, writes meanwhile fail UNAVAILABLE, /readyz shows it.
func TestEventStoreKilled(t *testing.T) {
	t.Parallel()
	d := deploy(t, "eskill", deployOptions{})
	stop := during(d, "es")
	time.Sleep(2 * time.Second)
	d.es.stop(syscall.SIGKILL)
	waitReady(t, d, 503, "eventstore", 15*time.Second)
	time.Sleep(outage())
	d.startEventStore()
	waitReady(t, d, 200, "", 60*time.Second)
	res := stop()
	stop = during(d, "es-after")
	time.Sleep(2 * time.Second)
	after := stop()
	if len(after.acked) == 0 {
		t.Fatalf("no write succeeded after the event store came back: %v", after.failed)
	}
	res.merge(after)
	res.checkOnlyCodes(t, "UNAVAILABLE")
	d.verify(res)
}

// TestPostgresRestarted: the Postgres cluster (read models and the event store's tables)
// stopped and started again under load.
func TestPostgresRestarted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pg, err := devstack.StartPostgres(context.Background(), dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pg.Close() })
	d := deploy(t, "pgrestart", deployOptions{cluster: pg})
	stop := during(d, "pg")
	time.Sleep(2 * time.Second)
	if err := pg.Close(); err != nil {
		t.Logf("stopping Postgres: %v", err)
	}
	waitReady(t, d, 503, "postgres", 15*time.Second)
	time.Sleep(outage())
	pg2, err := devstack.StartPostgresOnPort(context.Background(), dir, pg.Port, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pg2.Close() })
	waitReady(t, d, 200, "", 60*time.Second)
	res := stop()
	stop = during(d, "pg-after")
	time.Sleep(2 * time.Second)
	after := stop()
	if len(after.acked) == 0 {
		t.Fatalf("no write succeeded after Postgres came back: %v", after.failed)
	}
	res.merge(after)
	res.checkOnlyCodes(t, "UNAVAILABLE")
	d.verify(res)
}

// TestWeaviateStopped: Weaviate stopped for the outage and started again: writes (documents
// included) succeed or fail UNAVAILABLE, /readyz shows it, the search index catches up and
// finds every acknowledged document.
func TestWeaviateStopped(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bin, err := devstack.WeaviateBinary(ctx, os.Getenv("ARKIV_BIN_DIR"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	// Weaviate's Raft ports are the two after its data port, which another process may
	// have taken meanwhile: retry on a bind failure.
	var w *devstack.Weaviate
	for attempt := 0; ; attempt++ {
		if w, err = devstack.StartWeaviate(ctx, bin, dir, log); err == nil || attempt == 3 {
			break
		}
		t.Logf("starting Weaviate (attempt %d): %s", attempt+1, lastLines(err.Error(), 1))
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	d := deploy(t, "weaviate", deployOptions{weaviate: w.URL, weaviateGRPC: fmt.Sprintf("127.0.0.1:%d", w.GRPCPort)})
	r, err := d.gql(d.adminKey, `mutation { createSpace(input: {name: "library", classification: "INTERNAL"}) { id } }`, nil)
	if err != nil || len(r.Errors) > 0 {
		t.Fatalf("createSpace: %v %+v", err, r.Errors)
	}
	var space struct{ ID string }
	_ = json.Unmarshal(r.Data["createSpace"], &space)

	ingestCtx, stopIngest := context.WithCancel(ctx)
	var mu sync.Mutex
	docs := map[string]string{} // token → document id
	failed := map[string]int{}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ingestCtx.Err() == nil {
				token := "zq" + strings.ReplaceAll(uuid.NewString()[:13], "-", "")
				r, err := d.gql(d.adminKey, `mutation($in: IngestDocumentInput!) { ingestDocument(input: $in) { id } }`,
					map[string]any{"in": map[string]any{"spaceId": space.ID, "title": "Note " + token,
						"content": "The archive keeps the note " + token + " about retention of records."}})
				mu.Lock()
				switch {
				case err != nil:
					failed["transport"]++
				case len(r.Errors) > 0:
					failed[r.code()]++
				default:
					var out struct{ ID string }
					_ = json.Unmarshal(r.Data["ingestDocument"], &out)
					docs[token] = out.ID
				}
				mu.Unlock()
				time.Sleep(150 * time.Millisecond)
			}
		}()
	}
	stop := during(d, "wv")
	time.Sleep(2 * time.Second)
	if err := w.Close(); err != nil {
		t.Logf("stopping Weaviate: %v", err)
	}
	down := time.Now()
	waitReady(t, d, 503, "weaviate", 15*time.Second)
	time.Sleep(outage() - time.Since(down))
	w2, err := devstack.StartWeaviateOnPorts(ctx, bin, dir, w.Ports, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w2.Close() })
	t.Logf("Weaviate was down for %s", time.Since(down).Round(time.Second))
	waitReady(t, d, 200, "", 60*time.Second)
	time.Sleep(time.Second)
	res := stop()
	stopIngest()
	wg.Wait()
	for code, n := range failed {
		if code != "UNAVAILABLE" {
			t.Errorf("%d document ingestions failed with %q", n, code)
		}
	}
	res.checkOnlyCodes(t, "UNAVAILABLE")
	if len(docs) == 0 {
		t.Fatal("no document was acknowledged")
	}
	d.verify(res)
	// Every acknowledged document is found by its token.
	missing := 0
	for token, id := range docs {
		r, err := d.gql(d.adminKey, `query($s: ID!, $q: String!) { search(spaceId: $s, query: $q, limit: 3) { documentId } }`,
			map[string]any{"s": space.ID, "q": token})
		if err != nil || len(r.Errors) > 0 {
			t.Fatalf("search: %v %+v", err, r.Errors)
		}
		var hits []struct{ DocumentID string }
		_ = json.Unmarshal(r.Data["search"], &hits)
		if len(hits) == 0 || hits[0].DocumentID != id {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged documents are not found by their own token", missing, len(docs))
	}
	t.Logf("%d documents acknowledged, all found after the outage; failures %v", len(docs), failed)
	recordFigures(t, 0, len(docs), missing)
}

// TestEventStoreDiskFull: the event store's database on a tablespace of a tiny filesystem
// (a tmpfs with a size limit, mounted by the test, which needs root): once it is full,
// appends fail cleanly and nothing is half-written; when space returns, writes succeed
// again.
func TestEventStoreDiskFull(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("mounting a size-limited tmpfs needs root")
	}
	mnt, err := os.MkdirTemp("", "arkiv-tiny-")
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=48m,mode=0700"); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(mnt, syscall.MNT_DETACH); _ = os.Remove(mnt) })
	pg := sharedCluster(t)
	space := filepath.Join(mnt, "ts")
	if err := os.Mkdir(space, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := chownPostgres(space, mnt); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	admin := strings.Replace(pg.URL, "/arkiv?", "/postgres?", 1)
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	ts := "tiny_" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	esDB := "es_" + ts
	for _, q := range []string{
		"CREATE TABLESPACE " + ts + " LOCATION '" + space + "'",
		"CREATE DATABASE " + esDB + " TABLESPACE " + ts,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+esDB+" WITH (FORCE)")
		_, _ = conn.Exec(ctx, "DROP TABLESPACE IF EXISTS "+ts)
	})
	d := deploy(t, "diskfull", deployOptions{esPGURL: strings.Replace(pg.URL, "/arkiv?", "/"+esDB+"?", 1)})
	stop := during(d, "full")
	time.Sleep(2 * time.Second)
	ballast := filepath.Join(mnt, "ballast")
	if err := fill(ballast); err != nil {
		t.Fatal(err)
	}
	// Writes go on against the full disk for the outage.
	time.Sleep(outage())
	res := stop()
	if res.failed["UNAVAILABLE"]+res.failed["INTERNAL"] == 0 {
		t.Errorf("no append failed on a full disk: acked %d, failed %v", len(res.acked), res.failed)
	}
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	stop = during(d, "full-after")
	time.Sleep(3 * time.Second)
	after := stop()
	if len(after.acked) == 0 {
		t.Fatalf("no write succeeded once space returned: %v", after.failed)
	}
	res.merge(after)
	res.checkOnlyCodes(t, "UNAVAILABLE", "INTERNAL")
	// Nothing half-written: every stream's revisions are contiguous and end where the
	// stream's state says.
	esConn, err := pgx.Connect(ctx, d.envValue("ARKIV_ESDB_PG_URL"))
	if err != nil {
		t.Fatal(err)
	}
	defer esConn.Close(ctx)
	var broken int
	if err := esConn.QueryRow(ctx, `SELECT count(*) FROM (SELECT stream, max(revision) AS m, count(*) AS c FROM esdb.events GROUP BY stream) e
		FULL JOIN esdb.streams s ON s.name = e.stream
		WHERE e.stream IS NULL AND s.last_revision >= 0 OR s.name IS NULL OR e.m <> s.last_revision OR e.c <> e.m + 1`).Scan(&broken); err != nil {
		t.Fatal(err)
	}
	if broken > 0 {
		t.Errorf("%d streams are half-written (revisions not contiguous or not matching the stream's state)", broken)
	}
	d.verify(res)
}

// fill writes zeros to path until the filesystem is full.
func fill(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for {
		if _, err := f.Write(buf); err != nil {
			if strings.Contains(err.Error(), "no space left") {
				return nil
			}
			return err
		}
	}
}

// chownPostgres gives dirs to the postgres user that the cluster runs as (as root).
func chownPostgres(dirs ...string) error {
	pu, err := user.Lookup("postgres")
	if err != nil {
		return err
	}
	u, _ := strconv.Atoi(pu.Uid)
	g, _ := strconv.Atoi(pu.Gid)
	for _, d := range dirs {
		if err := os.Chown(d, u, g); err != nil {
			return err
		}
	}
	return nil
}

// checkServeTLS: the binary serves TLS only, 1.2 or newer: a plain HTTP request and a TLS 1.1
// handshake get nothing from the API, a TLS 1.3 handshake works.
func checkServeTLS(t *testing.T, d *deployment) {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", d.httpPort)
	resp, err := http.Get("http://" + addr + "/healthz")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("serve answered plain HTTP")
		}
	}
	if c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11}); err == nil {
		c.Close()
		t.Fatal("serve accepted a TLS 1.1 handshake")
	}
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
	if err != nil {
		t.Fatalf("TLS 1.3 handshake with serve: %v", err)
	}
	c.Close()
}
