package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/note"

	"github.com/arkiv/arkiv/app"
	arkivcmd "github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/backup"
	"github.com/arkiv/arkiv/infra/esdbserver"
	"github.com/arkiv/arkiv/infra/eventstore"
	"github.com/arkiv/arkiv/infra/eventstore/eventstoretest"
	"github.com/arkiv/arkiv/infra/keyring"
	"github.com/arkiv/arkiv/infra/pgtest"
	"github.com/arkiv/arkiv/infra/search"
	"github.com/arkiv/arkiv/infra/shredjournal"
	"github.com/arkiv/arkiv/infra/weaviatetest"
	"github.com/arkiv/arkiv/ledger"
	ledgerproj "github.com/arkiv/arkiv/projections/ledger"
)

// backupStack is Arkiv in-process on one read-model database with the embedded event store
// in its esdb schema and the key store in the sibling <db>_keys: the layout `arkiv backup`
// finds by default.
type backupStack struct {
	p    *app.Platform
	es   *esdbserver.Server
	gql  *httptest.Server
	stop func()
}

func startBackupStack(t *testing.T, pg, kek, journal, class string, opts ...func(*app.Config)) *backupStack {
	t.Helper()
	return startBackupStackWith(t, pg, kek, journal, class, app.BackupConfig{ShredJournal: journal}, opts...)
}

// withLedger runs the stack's ledger with the signing key of keyFile, checkpointing often.
func withLedger(t *testing.T, keyFile string) func(*app.Config) {
	k, err := ledger.LoadKeyFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return func(c *app.Config) {
		c.SigningKey, c.CheckpointEvery, c.CheckpointInterval = k, 50, 100*time.Millisecond
	}
}

func startBackupStackWith(t *testing.T, pg, kek, journal, class string, bc app.BackupConfig, opts ...func(*app.Config)) *backupStack {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	es, err := esdbserver.Start(ctx, esdbserver.Config{PGURL: pg, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := app.Config{
		PGURL: pg, ESDBURL: es.ConnectionString(), WeaviateURL: weaviatetest.URL(t), WeaviateGRPC: os.Getenv("ARKIV_WEAVIATE_GRPC"),
		SearchClass: class, KEKFile: kek, LoginKey: bytes.Repeat([]byte{7}, 32), Projections: true, Version: "test",
		ErasureEvery: 100 * time.Millisecond, MaintenanceEvery: 100 * time.Millisecond,
		Backup: bc,
	}
	for _, o := range opts {
		o(&cfg)
	}
	p, err := app.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = p.Run(ctx) }()
	s := &backupStack{p: p, es: es, gql: httptest.NewServer(p.Handler())}
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			s.gql.Close()
			cancel()
			<-done
			p.Close()
			sctx, c := context.WithTimeout(context.Background(), 10*time.Second)
			defer c()
			_ = es.Close(sctx)
		})
	}
	t.Cleanup(s.stop)
	return s
}

// gql runs a GraphQL operation that must succeed, waits for the read models when it returns
// a position, and returns its data.
func (s *backupStack) gqlOK(t *testing.T, key, query string, vars map[string]any) map[string]any {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, s.gql.URL, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Data   map[string]any `json:"data"`
		Errors []any          `json:"errors"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || len(out.Errors) > 0 {
		t.Fatalf("%s: %v %v", query, err, out.Errors)
	}
	for _, v := range out.Data {
		if m, ok := v.(map[string]any); ok {
			if p, ok := m["position"].(string); ok {
				s.waitAt(t, p)
			}
		}
	}
	return out.Data
}

func (s *backupStack) waitAt(t *testing.T, position string) {
	t.Helper()
	pos, err := strconv.ParseUint(position, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.p.Waiter.WaitFor(ctx, s.p.Runner.Names(), pos, 30*time.Second); err != nil {
		t.Fatalf("waiting for %d: %v", pos, err)
	}
}

// opens reports whether the first event of stream decodes with field readable (not
// redacted) through the platform's keyring.
func (s *backupStack) userName(t *testing.T, user string) domain.Sealed {
	t.Helper()
	ctx := context.Background()
	recs, _, err := s.p.Store.Load(ctx, domain.StreamPrefixUser+user)
	if err != nil || len(recs) == 0 {
		t.Fatalf("user stream: %d events, %v", len(recs), err)
	}
	var ev domain.UserRegistered
	if err := s.p.Codec.Decode(ctx, recs[0].EventID, recs[0].Data, &ev); err != nil {
		t.Fatal(err)
	}
	return ev.Name
}

func (s *backupStack) content(t *testing.T, key, doc string) any {
	t.Helper()
	d := s.gqlOK(t, key, `query($d: ID!) { document(id: $d) { content } }`, map[string]any{"d": doc})["document"]
	if d == nil {
		return nil
	}
	return d.(map[string]any)["content"]
}

func (s *backupStack) status(t *testing.T, sub domain.Subject) keyring.Status {
	t.Helper()
	st, err := s.p.Keyring.State(context.Background(), sub)
	if err != nil {
		t.Fatal(err)
	}
	return st.Status
}

func dropDatabase(t *testing.T, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pgtest.BaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	name := url[strings.LastIndex(url, "/")+1:]
	if i := strings.IndexByte(name, '?'); i >= 0 {
		name = name[:i]
	}
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		t.Fatal(err)
	}
}

// TestBackupRestoreNeverBringsErasedDataBack is issue 19 end to end: seed an organisation with
// canaries, back it up while 16 writers append, erase a user and a document with zero grace,
// drop every database, restore the earlier backup through `arkiv backup restore`: the erased
// canaries stay undecryptable and absent, every other canary reads as before, the restore and
// what it destroyed again are recorded in the log, and no acknowledged append is lost.
// Tampering with the backup fails `backup verify`; a missing or broken journal blocks restore.
func TestBackupRestoreNeverBringsErasedDataBack(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	pg := pgtest.NewDatabase(t)
	keys, err := keyring.KeystoreURL("", pg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropDatabase(t, keys) })
	dir := t.TempDir()
	kek, journal := filepath.Join(dir, "kek.json"), filepath.Join(dir, "journal", "shred-journal")
	class := weaviatetest.ClassName(t, "Backup")
	skey, vkey, err := ledger.GenerateKey("arkiv.test/ledger")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "ledger.key")
	if err := ledger.WriteKeyFile(keyFile, skey, vkey); err != nil {
		t.Fatal(err)
	}
	s := startBackupStack(t, pg, kek, journal, class, withLedger(t, keyFile))

	settings := domain.DefaultOrganizationSettings()
	settings.MFARequired = false
	res, err := s.p.App.Bootstrap.Handle(ctx, arkivcmd.Bootstrap{CommandID: uuid.NewString(), OrganizationName: "Canary Org",
		AdminEmail: "admin@canary.example", AdminName: "Admin", Settings: &settings})
	if err != nil {
		t.Fatal(err)
	}
	s.waitAt(t, strconv.FormatUint(res.Position, 10))
	admin := res.APIKey
	invite := func(name string) string {
		d := s.gqlOK(t, admin, `mutation($in: InviteUserInput!) { inviteUser(input: $in) { id position } }`,
			map[string]any{"in": map[string]any{"email": strings.ReplaceAll(strings.ToLower(name), " ", ".") + "@canary.example", "name": name, "role": "USER"}})
		return d["inviteUser"].(map[string]any)["id"].(string)
	}
	kept, erased := invite("Kept Canary"), invite("Erased Canary")
	space := s.gqlOK(t, admin, `mutation($in: CreateSpaceInput!) { createSpace(input: $in) { id position } }`,
		map[string]any{"in": map[string]any{"name": "Canaries", "classification": "INTERNAL"}})["createSpace"].(map[string]any)["id"].(string)
	keptText, erasedText := "KEPTCANARY "+uuid.NewString(), "ERASEDCANARY "+uuid.NewString()
	ingest := func(title, text string) string {
		d := s.gqlOK(t, admin, `mutation($in: IngestDocumentInput!) { ingestDocument(input: $in) { id position } }`,
			map[string]any{"in": map[string]any{"spaceId": space, "title": title, "content": text}})
		return d["ingestDocument"].(map[string]any)["id"].(string)
	}
	keptDoc, erasedDoc := ingest("Kept", keptText), ingest("Erased", erasedText)
	if c := s.content(t, admin, erasedDoc); c != erasedText {
		t.Fatalf("seeded content = %v", c)
	}
	chunks := func(st *backupStack) map[string]int {
		t.Helper()
		n, err := st.p.Index.ChunkCounts(ctx, space, []string{keptDoc, erasedDoc})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := chunks(s); n[keptDoc] == 0 || n[erasedDoc] == 0 {
		t.Fatalf("the canaries are not in the search index: %v", n)
	}

	call := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		env := &cliEnv{stdout: &out, stderr: &errOut, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		return run(ctx, env, args), out.String(), errOut.String()
	}

	// An erasure completed and certified before the backup: its certificate is in the log the
	// backup holds (issue 18).
	certDoc := ingest("Certified", "CERTIFIEDCANARY "+uuid.NewString())
	certErasure := s.gqlOK(t, admin, `mutation($in: RequestErasureInput!) { requestErasure(input: $in) { id position } }`,
		map[string]any{"in": map[string]any{"subjectType": "DOCUMENT", "subjectId": certDoc, "graceDays": 0,
			"legalBasis": "GDPR Art. 17(1)(a)"}})["requestErasure"].(map[string]any)["id"].(string)
	certificate := func(st *backupStack) any {
		return st.gqlOK(t, admin, `query($id: ID!) { erasureCertificate(id: $id) { subjectId certificate } }`,
			map[string]any{"id": certErasure})["erasureCertificate"]
	}
	for deadline := time.Now().Add(30 * time.Second); certificate(s) == nil; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the erasure made before the backup was not certified")
		}
	}

	// The backup, taken while 16 writers append through the official client.
	type ack struct {
		id  uuid.UUID
		pos uint64
	}
	var (
		mu    sync.Mutex
		acks  []ack
		wg    sync.WaitGroup
		stopW = make(chan struct{})
	)
	client := s.p.Store.Client()
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each writer's stream is a hash chain, as Arkiv's appends are, so the ledger
			// verifies after the restore.
			prev := ""
			for n := 0; ; n++ {
				select {
				case <-stopW:
					return
				default:
				}
				id := uuid.New()
				meta, _ := json.Marshal(domain.Metadata{CommandID: id.String(), PrevHash: prev})
				r, err := client.AppendToStream(ctx, fmt.Sprintf("backup-writer-%d", w), esdb.AppendToStreamOptions{},
					esdb.EventData{EventID: id, EventType: "test.writer.v1", ContentType: esdb.ContentTypeJson, Data: []byte(`{}`), Metadata: meta})
				prev = domain.EventHash(id.String(), "test.writer.v1", []byte(`{}`), meta)
				if err != nil {
					if ctx.Err() == nil {
						t.Errorf("writer %d: %v", w, err)
					}
					return
				}
				mu.Lock()
				acks = append(acks, ack{id, r.CommitPosition})
				mu.Unlock()
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	// A checkpoint signed before the backup, as an auditor would have saved it: the restored
	// log must be consistent with it.
	var saved *ledgerproj.CheckpointInfo
	for deadline := time.Now().Add(30 * time.Second); saved == nil || saved.Size < 10; time.Sleep(50 * time.Millisecond) {
		if saved, err = s.p.Ledger.LatestCheckpoint(ctx); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint before the backup: %+v", saved)
		}
	}
	savedFile := filepath.Join(dir, "saved-checkpoint")
	if err := os.WriteFile(savedFile, []byte(saved.Note), 0o600); err != nil {
		t.Fatal(err)
	}
	b1 := filepath.Join(dir, "backups", "b1")
	code, out, stderr := call("backup", "create", "--out", b1, "--pg-url", pg, "--kek-file", kek, "--shred-journal", journal)
	time.Sleep(200 * time.Millisecond)
	close(stopW)
	wg.Wait()
	if code != 0 {
		t.Fatalf("backup create: exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, "embedded event store") {
		t.Fatalf("backup create printed %q", out)
	}
	m, _, err := backup.ReadManifest(b1)
	if err != nil || m.LogPosition == nil {
		t.Fatalf("manifest: %+v, %v", m, err)
	}
	var before, after int
	for _, a := range acks {
		if a.pos <= m.LogPosition.Commit {
			before++
		} else {
			after++
		}
	}
	if before == 0 || after == 0 {
		t.Fatalf("the writers did not overlap the backup: %d acknowledged before its position, %d after", before, after)
	}
	t.Logf("%d appends acknowledged at or before the backup's position %d, %d after", before, m.LogPosition.Commit, after)
	for _, f := range m.Files {
		raw, _ := os.ReadFile(filepath.Join(b1, f.Name))
		if bytes.Contains(raw, []byte("PGCOPY")) || bytes.Contains(raw, []byte(domain.UserSubject(kept).String())) {
			t.Fatalf("backup file %s is not encrypted", f.Name)
		}
	}
	if kekRaw, _ := os.ReadFile(kek); len(kekRaw) > 0 {
		var doc struct{ Versions map[string]string }
		_ = json.Unmarshal(kekRaw, &doc)
		for _, v := range doc.Versions {
			if findInDir(t, b1, v) {
				t.Fatal("the KEK is in the backup")
			}
		}
	}

	// Erase one user and one document, with no grace; the keys are destroyed.
	for _, e := range []struct{ typ, id string }{{"USER", erased}, {"DOCUMENT", erasedDoc}} {
		s.gqlOK(t, admin, `mutation($in: RequestErasureInput!) { requestErasure(input: $in) { id position } }`,
			map[string]any{"in": map[string]any{"subjectType": e.typ, "subjectId": e.id, "graceDays": 0}})
	}
	deadline := time.Now().Add(30 * time.Second)
	for s.status(t, domain.UserSubject(erased)) != keyring.StatusDestroyed || s.status(t, domain.DocumentSubject(erasedDoc)) != keyring.StatusDestroyed {
		if time.Now().After(deadline) {
			t.Fatal("the erased canaries' keys were not destroyed")
		}
		time.Sleep(100 * time.Millisecond)
	}

	// verify: the backup is whole; one changed byte anywhere fails it.
	if code, out, stderr := call("backup", "verify", b1, "--kek-file", kek); code != 0 || !strings.Contains(out, "all in the key store") {
		t.Fatalf("backup verify: exit %d: %s %s", code, out, stderr)
	}
	for _, target := range []string{m.Files[0].Name, m.Files[len(m.Files)-1].Name, backup.ManifestFile} {
		b2 := filepath.Join(dir, "tampered-"+strconv.Itoa(len(target)))
		copyDir(t, b1, b2)
		p := filepath.Join(b2, target)
		data, _ := os.ReadFile(p)
		data[len(data)/2] ^= 0x01
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if code, _, stderr := call("backup", "verify", b2, "--kek-file", kek); code == 0 {
			t.Fatalf("backup verify passed with one byte of %s changed", target)
		} else if stderr == "" {
			t.Fatal("a failing verify printed nothing")
		}
	}
	extra := filepath.Join(dir, "extra")
	copyDir(t, b1, extra)
	if err := os.WriteFile(filepath.Join(extra, "keystore", "stray.enc"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := call("backup", "verify", extra); code == 0 {
		t.Fatal("backup verify passed with a file the manifest does not list")
	}
	if code, out, _ := call("backup", "list", "--dir", filepath.Join(dir, "backups")); code != 0 || !strings.Contains(out, m.ID) {
		t.Fatalf("backup list: %d %s", code, out)
	}

	// Disaster: every database is dropped.
	s.stop()
	dropDatabase(t, pg)
	dropDatabase(t, keys)

	// The search index is left to the restored platform's runner (this test's own class).
	restoreArgs := []string{"backup", "restore", b1, "--pg-url", pg, "--kek-file", kek, "--weaviate-url", ""}
	if code, _, stderr := call(append(restoreArgs, "--shred-journal", filepath.Join(dir, "no-journal"))...); code == 0 ||
		!strings.Contains(stderr, "--allow-missing-journal") || !strings.Contains(stderr, "missing") {
		t.Fatalf("restore without a journal: exit %d: %s", code, stderr)
	}
	brokenJournal := filepath.Join(dir, "broken-journal")
	jr, _ := os.ReadFile(journal)
	if err := os.WriteFile(brokenJournal, bytes.Replace(jr, []byte(`"seq":1,`), []byte(`"seq":1, `), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := call(append(restoreArgs, "--shred-journal", brokenJournal)...); code == 0 ||
		!strings.Contains(stderr, "--allow-missing-journal") || !strings.Contains(stderr, "chain") {
		t.Fatalf("restore with a broken journal: exit %d: %s", code, stderr)
	}
	code, out, stderr = call(append(restoreArgs, "--shred-journal", journal)...)
	if code != 0 {
		t.Fatalf("restore: exit %d: %s\n%s", code, out, stderr)
	}
	t.Logf("restore: %s", out)
	if !strings.Contains(out, "keys destroyed again") || !strings.Contains(out, "rebuilt readmodel") {
		t.Fatalf("restore printed %q", out)
	}

	// The restored system: erased canaries stay erased, the rest reads as before.
	r := startBackupStack(t, pg, kek, journal, class, withLedger(t, keyFile))
	if st := r.status(t, domain.UserSubject(erased)); st != keyring.StatusDestroyed {
		t.Fatalf("erased user's key after restore: %s", st)
	}
	if st := r.status(t, domain.DocumentSubject(erasedDoc)); st != keyring.StatusDestroyed {
		t.Fatalf("erased document's key after restore: %s", st)
	}
	if n := r.userName(t, erased); !n.Redacted || n.Plain != "" {
		t.Fatal("the erased user's name decrypts after restore")
	}
	if n := r.userName(t, kept); n.Redacted || n.Plain != "Kept Canary" {
		t.Fatalf("the kept user's name after restore: %+v", n)
	}
	if c := r.content(t, admin, keptDoc); c != keptText {
		t.Fatalf("kept document's content after restore = %v", c)
	}
	if c := r.content(t, admin, erasedDoc); c != nil {
		t.Fatalf("erased document's content after restore = %v", c)
	}
	for _, url := range []string{pg, keys} {
		if where := findText(t, url, strings.Fields(erasedText)[1]); where != "" {
			t.Fatalf("the erased document's text is in Postgres after restore (%s)", where)
		}
	}

	// The certificate of the erasure made before the backup is there, over GraphQL and through
	// `arkiv erasure certificate`.
	r.waitAt(t, strconv.FormatUint(m.LogPosition.Commit, 10))
	if c, _ := certificate(r).(map[string]any); c == nil || c["subjectId"] != certDoc {
		t.Fatalf("the erasure certificate after restore: %v", c)
	}
	code, out, stderr = call("erasure", "certificate", certErasure, "--esdb-url", r.es.ConnectionString())
	var printed struct {
		Certificate struct {
			SubjectID  string `json:"subjectId"`
			LegalBasis string `json:"legalBasis"`
			PostCheck  struct {
				Passed bool `json:"passed"`
			} `json:"postCheck"`
		} `json:"certificate"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &printed) != nil || printed.Certificate.SubjectID != certDoc ||
		printed.Certificate.LegalBasis != "GDPR Art. 17(1)(a)" || !printed.Certificate.PostCheck.Passed {
		t.Fatalf("arkiv erasure certificate after restore: exit %d: %s %s", code, out, stderr)
	}

	// The log: every append acknowledged by the backup's position is there; the restore is
	// recorded with the subjects it destroyed again.
	seen := map[uuid.UUID]bool{}
	var restored *backup.Restored
	var head uint64
	rs, err := r.p.Store.Client().ReadAll(ctx, esdb.ReadAllOptions{From: esdb.Start{}}, ^uint64(0))
	if err != nil {
		t.Fatal(err)
	}
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		oe := ev.OriginalEvent()
		seen[oe.EventID] = true
		head = oe.Position.Commit
		if oe.EventType == backup.RestoredEventType {
			restored = new(backup.Restored)
			if err := json.Unmarshal(oe.Data, restored); err != nil {
				t.Fatal(err)
			}
		}
	}
	rs.Close()
	for _, a := range acks {
		if a.pos <= m.LogPosition.Commit && !seen[a.id] {
			t.Fatalf("an append acknowledged at %d (backup position %d) is missing after restore", a.pos, m.LogPosition.Commit)
		}
	}
	if restored == nil || restored.BackupID != m.ID || restored.JournalOverride {
		t.Fatalf("restore record: %+v", restored)
	}
	for _, want := range []string{domain.UserSubject(erased).String(), domain.DocumentSubject(erasedDoc).String()} {
		found := false
		for _, d := range restored.Redestroyed {
			found = found || (d.Subject == want && strings.HasPrefix(d.Reason, "erasure ") && !d.DestroyedAt.Before(m.CreatedAt))
		}
		if !found {
			t.Fatalf("the restore record does not list %s as destroyed again: %v", want, restored.Redestroyed)
		}
	}
	// The restored platform's runner rebuilds its search index from the log: the kept
	// document is found again, the erased one is not.
	r.waitAt(t, strconv.FormatUint(head, 10))
	if n := chunks(r); n[keptDoc] == 0 || n[erasedDoc] != 0 {
		t.Fatalf("search index after restore: %v (want the kept document only)", n)
	}
	// The ledger verifies after restore, from the log's start through the official client:
	// hash chains, Merkle roots and checkpoint signatures, consistent with the checkpoint an
	// auditor saved before the backup.
	if code, out, stderr := call("audit", "verify", "--esdb-url", r.es.ConnectionString(), "--pg-url", pg,
		"--signing-key-file", keyFile, "--trusted-checkpoint", savedFile, "--json"); code != 0 {
		t.Fatalf("audit verify after restore: exit %d: %s %s", code, out, stderr)
	} else {
		var rep ledger.Report
		if err := json.Unmarshal([]byte(out), &rep); err != nil || !rep.OK || rep.Leaves < saved.Size || rep.TrustedChecked != 1 || rep.Checkpoints == 0 {
			t.Fatalf("verification report after restore: %+v, %v", rep, err)
		}
	}
	r.stop()

	// The override restores, and says so in the log.
	dropDatabase(t, pg)
	dropDatabase(t, keys)
	code, _, stderr = call(append(restoreArgs, "--shred-journal", filepath.Join(dir, "lost-journal"), "--allow-missing-journal")...)
	if code != 0 || !strings.Contains(stderr, "WARNING") {
		t.Fatalf("restore with --allow-missing-journal: exit %d: %s", code, stderr)
	}
	st, err := eventstoreAt(t, pg)
	if err != nil {
		t.Fatal(err)
	}
	recs, _, err := st.Load(ctx, backup.RestoredStream)
	if err != nil || len(recs) != 1 || !bytes.Contains(recs[0].Data, []byte(`"journalOverride":true`)) {
		t.Fatalf("override not recorded: %d events, %v", len(recs), err)
	}
}

// eventstoreAt starts the embedded event store on pg and returns a store over it.
func eventstoreAt(t *testing.T, pg string) (*eventstore.Store, error) {
	es, err := esdbserver.Start(context.Background(), esdbserver.Config{PGURL: pg, Listen: "127.0.0.1:0"})
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { _ = es.Close(context.Background()) })
	st, err := eventstore.Open(es.ConnectionString())
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { _ = st.Close() })
	return st, nil
}

// findText returns "schema.table" of the first table in the database at url whose rows, as
// text, contain needle ("" when none does).
func findText(t *testing.T, url, needle string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT schemaname, tablename FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (pgx.Identifier, error) {
		var a, b string
		return pgx.Identifier{a, b}, r.Scan(&a, &b)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		var found bool
		q := fmt.Sprintf(`SELECT EXISTS (SELECT 1 FROM %s x WHERE x::text LIKE '%%' || $1 || '%%')`, tb.Sanitize())
		if err := conn.QueryRow(ctx, q, needle).Scan(&found); err != nil {
			t.Fatal(err)
		}
		if found {
			return strings.Join(tb, ".")
		}
	}
	return ""
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.Walk(from, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if fi.IsDir() {
			return os.MkdirAll(dst, 0o700)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestBackupSignedAndScheduled: with the ledger key set, backups are signed and verify
// against its public key (and not against another); `arkiv serve`'s schedule takes a backup
// at start into ARKIV_BACKUP_DIR when none is recent, and retention prunes old ones.
func TestBackupSignedAndScheduled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	pg := pgtest.NewDatabase(t)
	keys, _ := keyring.KeystoreURL("", pg)
	t.Cleanup(func() { dropDatabase(t, keys) })
	dir := t.TempDir()
	kek, journal := filepath.Join(dir, "kek.json"), filepath.Join(dir, "shred-journal")
	skey, vkey, err := note.GenerateKey(rand.Reader, "arkiv-test-ledger")
	if err != nil {
		t.Fatal(err)
	}
	_, otherKey, _ := note.GenerateKey(rand.Reader, "arkiv-test-ledger")
	keyFile := filepath.Join(dir, "signing.key")
	if err := os.WriteFile(keyFile, []byte(skey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	backups := filepath.Join(dir, "backups")
	if err := os.MkdirAll(filepath.Join(backups, "arkiv-old"), 0o700); err != nil {
		t.Fatal(err)
	}
	s := startBackupStackWith(t, pg, kek, journal, weaviatetest.ClassName(t, "BackupSched"), app.BackupConfig{
		ShredJournal: journal, Dir: backups, Every: time.Hour, Retention: 24 * time.Hour, SigningKeyFile: keyFile})
	_ = s
	var list []backup.Entry
	deadline := time.Now().Add(time.Minute)
	for len(list) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no scheduled backup was taken at start")
		}
		time.Sleep(200 * time.Millisecond)
		list, _ = backup.List(backups)
	}
	b := list[0].Dir
	call := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		env := &cliEnv{stdout: &out, stderr: &errOut, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		return run(ctx, env, args), out.String(), errOut.String()
	}
	if code, out, stderr := call("backup", "verify", b, "--kek-file", kek, "--public-key", vkey); code != 0 || !strings.Contains(out, "signature verified") {
		t.Fatalf("verify with the ledger's public key: %d %s %s", code, out, stderr)
	}
	if code, _, _ := call("backup", "verify", b, "--public-key", otherKey); code == 0 {
		t.Fatal("a backup verified against another key")
	}
	if code, out, _ := call("backup", "verify", b, "--signing-key-file", keyFile); code != 0 || !strings.Contains(out, "signature verified") {
		t.Fatalf("verify with the signing key file's public half: %d %s", code, out)
	}
	if err := os.Remove(filepath.Join(b, backup.SignatureFile)); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := call("backup", "verify", b, "--public-key", vkey); code == 0 || !strings.Contains(stderr, "not signed") {
		t.Fatalf("an unsigned backup verified against a public key: %d %s", code, stderr)
	}

	// Retention: a backup two days old is pruned, the newest is kept.
	old := filepath.Join(backups, "arkiv-older")
	copyDir(t, b, old)
	m, raw, err := backup.ReadManifest(old)
	if err != nil {
		t.Fatal(err)
	}
	raw = bytes.Replace(raw, []byte(m.CreatedAt.Format(time.RFC3339Nano)), []byte(m.CreatedAt.Add(-48*time.Hour).Format(time.RFC3339Nano)), 1)
	if err := os.WriteFile(filepath.Join(old, backup.ManifestFile), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	removed, err := backup.Prune(backups, 24*time.Hour, time.Now())
	if err != nil || len(removed) != 1 || removed[0] != old {
		t.Fatalf("Prune = %v, %v; want %s removed", removed, err, old)
	}
	if l, _ := backup.List(backups); len(l) != 1 || l[0].Dir != b {
		t.Fatalf("after pruning: %v", l)
	}
}

// findInDir reports whether any file under dir contains needle.
func findInDir(t *testing.T, dir, needle string) bool {
	t.Helper()
	found := false
	_ = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			data, _ := os.ReadFile(p)
			found = found || bytes.Contains(data, []byte(needle))
		}
		return nil
	})
	return found
}

// TestRestoreDropsTheSearchCollection: the restore's first step on Weaviate deletes the
// collection (the rebuild creates it again), so nothing indexed after the backup stays
// searchable; deleting one that is not there is fine.
func TestRestoreDropsTheSearchCollection(t *testing.T) {
	ctx := context.Background()
	base, class := weaviatetest.URL(t), weaviatetest.ClassName(t, "BackupDrop")
	ix, err := search.New(ctx, search.Config{URL: base, Class: class})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	exists := func() int {
		resp, err := http.Get(base + "/v1/schema/" + class)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := exists(); c != http.StatusOK {
		t.Fatalf("collection before: %d", c)
	}
	for i := 0; i < 2; i++ {
		if err := dropSearchClass(ctx, base, class); err != nil {
			t.Fatal(err)
		}
	}
	if c := exists(); c != http.StatusNotFound {
		t.Fatalf("collection after the drop: %d", c)
	}
}

// TestBackupConfigurationErrors: bad schedule or retention values and a journal inside the
// backup directory are configuration errors (exit 2, one line) before anything connects.
func TestBackupConfigurationErrors(t *testing.T) {
	dir := t.TempDir()
	for name, c := range map[string]struct{ env map[string]string }{
		"schedule":  {map[string]string{"ARKIV_BACKUP_SCHEDULE": "weekly"}},
		"retention": {map[string]string{"ARKIV_BACKUP_RETENTION": "forever"}},
		"journal in the backups": {map[string]string{"ARKIV_BACKUP_DIR": dir,
			"ARKIV_SHRED_JOURNAL": filepath.Join(dir, "shred-journal")}},
	} {
		t.Run(name, func(t *testing.T) {
			for _, v := range []string{"ARKIV_BACKUP_SCHEDULE", "ARKIV_BACKUP_RETENTION", "ARKIV_BACKUP_DIR", "ARKIV_SHRED_JOURNAL"} {
				t.Setenv(v, c.env[v])
			}
			code, _, stderr := runCLI(t, "serve", "--pg-url", "postgres://x@127.0.0.1:1/x", "--esdb-url", "esdb://127.0.0.1:1?tls=false",
				"--weaviate-url", "http://127.0.0.1:1", "--kek-file", filepath.Join(dir, "kek.json"), "--auth-login-key", strings.Repeat("ab", 32))
			if code != 2 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			oneLine(t, stderr)
		})
	}
	if code, _, stderr := runCLI(t, "backup", "restore"); code != 2 || !strings.Contains(stderr, "usage") {
		t.Fatalf("restore without DIR: %d %s", code, stderr)
	}
	if code, _, _ := runCLI(t, "backup", "nope"); code != 2 {
		t.Fatal("unknown backup command accepted")
	}
}

// TestBackupAgainstAnExternalEventStore: when the event store is not in ARKIV_PG_URL's
// database (a real cluster; here an embedded server on a database of its own stands in for
// one), the backup holds the key store only and records the head of $all it pairs with; a
// restore loads the key store, records itself in the cluster's log and rebuilds from it.
func TestBackupAgainstAnExternalEventStore(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	es := eventstoretest.New(t)
	pg := pgtest.NewDatabase(t)
	keys, _ := keyring.KeystoreURL("", pg)
	t.Cleanup(func() { dropDatabase(t, keys) })
	dir := t.TempDir()
	kek, journal := filepath.Join(dir, "kek.json"), filepath.Join(dir, "shred-journal")
	if code, _, stderr := runCLI(t, "bootstrap", "--org", "External", "--admin-email", "a@b.example",
		"--esdb-url", es.URL, "--pg-url", pg, "--kek-file", kek); code != 0 {
		t.Fatalf("bootstrap: %d %s", code, stderr)
	}
	b := filepath.Join(dir, "b")
	code, out, stderr := runCLI(t, "backup", "create", "--out", b, "--pg-url", pg, "--esdb-url", es.URL, "--kek-file", kek, "--shred-journal", journal)
	if code != 0 || !strings.Contains(out, "external event store") || !strings.Contains(out, "cluster's own backup") {
		t.Fatalf("backup create: %d %s %s", code, out, stderr)
	}
	m, _, err := backup.ReadManifest(b)
	if err != nil {
		t.Fatal(err)
	}
	head, err := backup.ClientHead(es.Store.Client())(ctx)
	if err != nil || m.Backend != backup.BackendExternal || m.LogPosition == nil || *m.LogPosition != *head || len(m.Databases) != 1 {
		t.Fatalf("manifest %+v, head %+v, %v", m, head, err)
	}
	if code, out, stderr := runCLI(t, "backup", "verify", b, "--kek-file", kek); code != 0 {
		t.Fatalf("verify: %d %s %s", code, out, stderr)
	}
	dropDatabase(t, keys)
	if _, err := shredjournal.Open(journal); err != nil {
		t.Fatal(err)
	}
	code, out, stderr = runCLI(t, "backup", "restore", b, "--pg-url", pg, "--esdb-url", es.URL, "--kek-file", kek,
		"--shred-journal", journal, "--weaviate-url", "")
	if code != 0 || !strings.Contains(out, "rebuilt readmodel") {
		t.Fatalf("restore: %d %s %s", code, out, stderr)
	}
	recs, _, err := es.Store.Load(ctx, backup.RestoredStream)
	if err != nil || len(recs) != 1 {
		t.Fatalf("the restore is not recorded in the cluster's log: %d, %v", len(recs), err)
	}
}
