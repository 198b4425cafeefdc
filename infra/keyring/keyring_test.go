package keyring

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/pgtest"
)

// testClock is an injected clock the test moves by hand. It stands still between moves
// (infra/clocktest's moves with the wall clock): tests compare stored times with Now.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *testClock {
	return &testClock{now: time.Date(2026, 3, 3, 9, 0, 0, 0, time.UTC)}
}

// Now implements domain.Clock.
func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type fixture struct {
	dsn   string
	pool  *pgxpool.Pool
	kek   *FileKEK
	clock *testClock
	kr    *Keyring
}

func newFixture(t testing.TB, opts ...Option) *fixture {
	t.Helper()
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	kek, err := LoadOrCreateKEKFile(filepath.Join(t.TempDir(), "kek.json"))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{dsn: dsn, kek: kek, clock: newClock()}
	f.pool = f.newPool(t)
	f.kr = f.open(t, f.pool, opts...)
	_ = ctx
	return f
}

func (f *fixture) newPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), f.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// open opens another keyring on the fixture's key store, as another process would.
func (f *fixture) open(t testing.TB, pool *pgxpool.Pool, opts ...Option) *Keyring {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kr, err := Open(ctx, pool, f.kek, f.clock, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kr.Close)
	return kr
}

func newID() string { return uuid.NewString() }

func allKinds(id string, day time.Time) []domain.Subject {
	return []domain.Subject{
		domain.UserSubject(id), domain.DocumentSubject(id), domain.ConversationSubject(id),
		domain.SpaceSubject(id), domain.OrganizationSubject(id),
		domain.RetentionBucket(id, day), domain.ModelLogBucket(id, day),
	}
}

func TestSealOpenEverySubjectCombination(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	subjects := allKinds(newID(), f.clock.Now())
	for mask := 1; mask < 1<<len(subjects); mask++ {
		var set []domain.Subject
		for i, s := range subjects {
			if mask&(1<<i) != 0 {
				set = append(set, s)
			}
		}
		ad := []byte(fmt.Sprintf("event-%d/text", mask))
		plain := []byte(fmt.Sprintf("hello %d", mask))
		blob, err := f.kr.Seal(ctx, set, ad, plain)
		if err != nil {
			t.Fatalf("seal %v: %v", set, err)
		}
		if bytes.Contains(blob, plain) {
			t.Fatal("blob holds the plaintext")
		}
		got, err := f.kr.Open(ctx, blob, ad)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("open %v = %q, %v", set, got, err)
		}
		// The subject order does not matter: the set is canonical.
		rev := append([]domain.Subject(nil), set...)
		for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
			rev[i], rev[j] = rev[j], rev[i]
		}
		blob2, err := f.kr.Seal(ctx, append(rev, rev[0]), ad, plain)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := f.kr.Open(ctx, blob2, ad); err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("open reversed %v = %q, %v", set, got, err)
		}
		subs, err := BlobSubjects(blob)
		if err != nil || len(subs) != len(set) {
			t.Fatalf("BlobSubjects = %v, %v", subs, err)
		}
	}
	// A second keyring with a cold cache opens what the first sealed.
	other := f.open(t, f.newPool(t))
	blob, err := f.kr.Seal(ctx, subjects, []byte("ad"), []byte("all seven"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := other.Open(ctx, blob, []byte("ad")); err != nil || string(got) != "all seven" {
		t.Fatalf("other keyring: %q, %v", got, err)
	}
}

func TestSealRefusesBadSubjects(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.kr.Seal(ctx, nil, nil, []byte("x")); !domain.Is(domain.KindInvalid, err) {
		t.Fatalf("no subjects: %v", err)
	}
	if _, err := f.kr.Seal(ctx, []domain.Subject{{Kind: domain.SubjectUser, ID: "u1"}}, nil, []byte("x")); !domain.Is(domain.KindInvalid, err) {
		t.Fatalf("bad id: %v", err)
	}
	many := make([]domain.Subject, MaxSubjects+1)
	for i := range many {
		many[i] = domain.UserSubject(newID())
	}
	if _, err := f.kr.Seal(ctx, many, nil, []byte("x")); !domain.Is(domain.KindInvalid, err) {
		t.Fatalf("too many subjects: %v", err)
	}
}

func TestTamperedBlobOrADFails(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	u, d := domain.UserSubject(newID()), domain.DocumentSubject(newID())
	blob, err := f.kr.Seal(ctx, []domain.Subject{u, d}, []byte("ev1/text"), []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.kr.Open(ctx, blob, []byte("ev2/text")); err == nil || domain.Is(domain.KindErased, err) {
		t.Fatalf("other ad: %v", err)
	}
	for _, i := range []int{len(blob) - 1, len(blob) - 20, 5} {
		bad := append([]byte(nil), blob...)
		bad[i] ^= 1
		if got, err := f.kr.Open(ctx, bad, []byte("ev1/text")); err == nil {
			t.Fatalf("flipped byte %d opened: %q", i, got)
		}
	}
	// Claiming fewer subjects (dropping one from the header) does not open either.
	single, err := f.kr.Seal(ctx, []domain.Subject{u}, []byte("ev1/text"), []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	_, hdr, _ := parseHeader(single)
	_, hdr2, _ := parseHeader(blob)
	forged := append(append([]byte(nil), hdr...), blob[len(hdr2):]...)
	if _, err := f.kr.Open(ctx, forged, []byte("ev1/text")); err == nil {
		t.Fatal("blob with a forged subject set opened")
	}
}

func TestConcurrentKeyCreationYieldsOneKey(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	rings := []*Keyring{f.kr, f.open(t, f.newPool(t)), f.open(t, f.newPool(t))}
	for round := 0; round < 5; round++ {
		s := []domain.Subject{domain.UserSubject(newID())}
		blobs := make([][]byte, len(rings))
		var wg sync.WaitGroup
		errs := make([]error, len(rings))
		for i, kr := range rings {
			wg.Go(func() { blobs[i], errs[i] = kr.Seal(ctx, s, []byte("ad"), []byte("same key")) })
		}
		wg.Wait()
		for i := range rings {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			for j, kr := range rings {
				if got, err := kr.Open(ctx, blobs[i], []byte("ad")); err != nil || string(got) != "same key" {
					t.Fatalf("keyring %d opening keyring %d's blob: %q, %v", j, i, got, err)
				}
			}
		}
		var n int
		if err := f.pool.QueryRow(ctx, `SELECT count(*) FROM keyring_keys WHERE subject = $1`, s[0].String()).Scan(&n); err != nil || n != 1 {
			t.Fatalf("rows for the subject: %d, %v", n, err)
		}
	}
}

func TestDestroyingAnySubjectOfAFieldMakesItUnreadable(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	for victim := 0; victim < 3; victim++ {
		subs := []domain.Subject{domain.UserSubject(newID()), domain.ConversationSubject(newID()), domain.RetentionBucket(newID(), f.clock.Now())}
		joint, err := f.kr.Seal(ctx, subs, []byte("joint"), []byte("joint text"))
		if err != nil {
			t.Fatal(err)
		}
		var others [][]byte
		for i, s := range subs {
			if i == victim {
				continue
			}
			b, err := f.kr.Seal(ctx, []domain.Subject{s}, []byte("solo"), []byte("solo text"))
			if err != nil {
				t.Fatal(err)
			}
			others = append(others, b)
		}
		if err := f.kr.StartShredding(ctx, subs[victim], "erasure request", "dpo-1", time.Hour); err != nil {
			t.Fatal(err)
		}
		if _, err := f.kr.Open(ctx, joint, []byte("joint")); !domain.Is(domain.KindErased, err) {
			t.Fatalf("victim %d shredding: open = %v, want erased", victim, err)
		}
		if err := f.kr.Destroy(ctx, subs[victim]); err != nil {
			t.Fatal(err)
		}
		if _, err := f.kr.Open(ctx, joint, []byte("joint")); !domain.Is(domain.KindErased, err) {
			t.Fatalf("victim %d destroyed: open = %v, want erased", victim, err)
		}
		for _, b := range others {
			if got, err := f.kr.Open(ctx, b, []byte("solo")); err != nil || string(got) != "solo text" {
				t.Fatalf("other subject's field: %q, %v", got, err)
			}
		}
		// A destroyed subject never gets a new key.
		if _, err := f.kr.Seal(ctx, subs[victim:victim+1], nil, []byte("new")); !domain.Is(domain.KindErased, err) {
			t.Fatalf("seal for a destroyed subject: %v", err)
		}
		st, err := f.kr.State(ctx, subs[victim])
		if err != nil || st.Status != StatusDestroyed || st.Reason != "erasure request" || st.Requester != "dpo-1" || st.DestroyedAt.IsZero() {
			t.Fatalf("state after destroy: %+v, %v", st, err)
		}
		if err := f.kr.Destroy(ctx, subs[victim]); err != nil {
			t.Fatalf("second destroy is not idempotent: %v", err)
		}
	}
}

func TestRestoreInsideWindowRefusedAfter(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	u := domain.UserSubject(newID())
	blob, err := f.kr.Seal(ctx, []domain.Subject{u}, []byte("ad"), []byte("back again"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.kr.StartShredding(ctx, u, "r", "q", MaxGrace+time.Hour); !domain.Is(domain.KindInvalid, err) {
		t.Fatalf("grace beyond 30 days: %v", err)
	}
	if err := f.kr.StartShredding(ctx, u, "r", "q", DefaultGrace); err != nil {
		t.Fatal(err)
	}
	if err := f.kr.StartShredding(ctx, u, "again", "q2", time.Hour); err != nil {
		t.Fatal(err)
	}
	st, err := f.kr.State(ctx, u)
	if err != nil || st.Status != StatusShredding || !st.DestroyAfter.Equal(f.clock.Now().Add(DefaultGrace)) || st.Reason != "r" {
		t.Fatalf("state while shredding (a second call keeps the first window): %+v, %v", st, err)
	}
	if _, err := f.kr.Seal(ctx, []domain.Subject{u}, nil, []byte("x")); !domain.Is(domain.KindErased, err) {
		t.Fatalf("seal while shredding: %v", err)
	}
	f.clock.Advance(DefaultGrace - time.Minute)
	if n, err := f.kr.DestroyDue(ctx); err != nil || n != 0 {
		t.Fatalf("DestroyDue inside the window: %d, %v", n, err)
	}
	if err := f.kr.Restore(ctx, u); err != nil {
		t.Fatal(err)
	}
	if got, err := f.kr.Open(ctx, blob, []byte("ad")); err != nil || string(got) != "back again" {
		t.Fatalf("after restore: %q, %v", got, err)
	}
	if st, _ := f.kr.State(ctx, u); st.Status != StatusActive || !st.DestroyAfter.IsZero() {
		t.Fatalf("state after restore: %+v", st)
	}

	// Shred again and let the window pass: restore is refused, with or without the sweep.
	if err := f.kr.StartShredding(ctx, u, "r", "q", 2*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(2 * 24 * time.Hour)
	if err := f.kr.Restore(ctx, u); err != ErrRestoreWindowClosed || !domain.Is(domain.KindConflict, err) {
		t.Fatalf("restore at the window's end: %v", err)
	}
	if n, err := f.kr.DestroyDue(ctx); err != nil || n != 1 {
		t.Fatalf("DestroyDue after the window: %d, %v", n, err)
	}
	if err := f.kr.Restore(ctx, u); err != ErrRestoreWindowClosed {
		t.Fatalf("restore after destruction: %v", err)
	}
	if _, err := f.kr.Open(ctx, blob, []byte("ad")); !domain.Is(domain.KindErased, err) {
		t.Fatalf("open after destruction: %v", err)
	}
	if err := f.kr.Restore(ctx, domain.UserSubject(newID())); !domain.Is(domain.KindNotFound, err) {
		t.Fatalf("restore of an unknown subject: %v", err)
	}
}

func TestShreddingLifecycleEdges(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	// Grace 0 destroys before returning.
	u := domain.UserSubject(newID())
	if _, err := f.kr.Seal(ctx, []domain.Subject{u}, nil, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := f.kr.StartShredding(ctx, u, "", "", 0); err != nil {
		t.Fatal(err)
	}
	if st, _ := f.kr.State(ctx, u); st.Status != StatusDestroyed {
		t.Fatalf("grace 0: %+v", st)
	}
	// Shredding a subject never seen blocks sealing for it during the window, and restores.
	fresh := domain.SpaceSubject(newID())
	if st, _ := f.kr.State(ctx, fresh); st.Status != StatusUnknown {
		t.Fatalf("unknown subject: %+v", st)
	}
	if err := f.kr.StartShredding(ctx, fresh, "", "", time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := f.kr.Seal(ctx, []domain.Subject{fresh}, nil, []byte("x")); !domain.Is(domain.KindErased, err) {
		t.Fatalf("seal for a fresh shredding subject: %v", err)
	}
	if err := f.kr.Restore(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	if _, err := f.kr.Seal(ctx, []domain.Subject{fresh}, nil, []byte("x")); err != nil {
		t.Fatal(err)
	}
	// Destroy refuses an active subject and an unknown one.
	if err := f.kr.Destroy(ctx, fresh); !domain.Is(domain.KindConflict, err) {
		t.Fatalf("destroy active: %v", err)
	}
	if err := f.kr.Destroy(ctx, domain.UserSubject(newID())); !domain.Is(domain.KindNotFound, err) {
		t.Fatalf("destroy unknown: %v", err)
	}
}

func TestInterruptedDestructionIsFinishedBySweep(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	u := domain.UserSubject(newID())
	if _, err := f.kr.Seal(ctx, []domain.Subject{u}, nil, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := f.kr.StartShredding(ctx, u, "", "", time.Hour); err != nil {
		t.Fatal(err)
	}
	// The key row is deleted and the tombstone written, then the process dies before vacuum.
	if _, err := f.kr.destroyOne(ctx, u.String(), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if st, _ := f.kr.State(ctx, u); st.Status != StatusDestroyed || !st.PurgedAt.IsZero() {
		t.Fatalf("after the interrupted destroy: %+v", st)
	}
	waitPurged(t, f.kr, u)
}

// waitPurged runs DestroyDue until s's tombstone says purged. Transactions of tests running in
// parallel (in other databases of the server) may hold a purge back for a moment, as any
// long transaction would in production.
func waitPurged(t *testing.T, kr *Keyring, s domain.Subject) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := kr.DestroyDue(ctx); err != nil {
			t.Fatal(err)
		}
		st, err := kr.State(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		if !st.PurgedAt.IsZero() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the destroyed key was never purged: %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDestroyedKeyLeavesNoTrace scans every row of every table of the key store — and, when
// the pageinspect extension is available, every raw page of every relation — for the
// destroyed DEK and its wrapped form.
func TestDestroyedKeyLeavesNoTrace(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	victim := domain.UserSubject(newID())
	for i := 0; i < 50; i++ { // neighbours on the same pages
		if _, err := f.kr.Seal(ctx, []domain.Subject{domain.UserSubject(newID())}, nil, []byte("n")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.kr.Seal(ctx, []domain.Subject{victim}, nil, []byte("x")); err != nil {
		t.Fatal(err)
	}
	var wrapped []byte
	var kekVer int64
	if err := f.pool.QueryRow(ctx, `SELECT wrapped, kek_version FROM keyring_keys WHERE subject = $1`, victim.String()).Scan(&wrapped, &kekVer); err != nil {
		t.Fatal(err)
	}
	raw, err := f.kek.Unwrap(ctx, uint32(kekVer), wrapped, dekAD(victim.String(), 1))
	if err != nil {
		t.Fatal(err)
	}
	needles := map[string][]byte{"raw DEK": raw, "wrapped DEK": wrapped}
	if found := scanRows(t, f.pool, needles); len(found) != 2 && !strings.Contains(strings.Join(found, ","), "wrapped") {
		t.Fatalf("the scan cannot find the live wrapped key: it would prove nothing (%v)", found)
	}
	if err := f.kr.StartShredding(ctx, victim, "", "", time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := f.kr.Destroy(ctx, victim); err != nil {
		t.Fatal(err)
	}
	if found := scanRows(t, f.pool, needles); len(found) > 0 {
		t.Fatalf("after Destroy, rows still hold: %v", found)
	}
	waitPurged(t, f.kr, victim)
	if found := scanPages(t, f.pool, needles); len(found) > 0 {
		t.Fatalf("purged, yet raw pages still hold: %v", found)
	}
	if _, err := f.pool.Exec(ctx, `VACUUM FULL`); err != nil {
		t.Fatal(err)
	}
	if found := scanRows(t, f.pool, needles); len(found) > 0 {
		t.Fatalf("after VACUUM FULL, rows still hold: %v", found)
	}
}

// scanRows reads every row of every ordinary table as text (bytea shows as hex) and reports
// which needles occur.
func scanRows(t *testing.T, pool *pgxpool.Pool, needles map[string][]byte) []string {
	t.Helper()
	ctx := context.Background()
	rows, err := pool.Query(ctx, `SELECT format('%I.%I', schemaname, tablename) FROM pg_tables
		WHERE schemaname NOT IN ('pg_catalog', 'information_schema')`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	if len(tables) < 3 {
		t.Fatalf("found only tables %v", tables)
	}
	var found []string
	for _, tbl := range tables {
		rows, err := pool.Query(ctx, `SELECT t::text FROM `+tbl+` t`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			for name, n := range needles {
				if strings.Contains(s, hex.EncodeToString(n)) || strings.Contains(s, string(n)) {
					found = append(found, name+" in "+tbl)
				}
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return found
}

// scanPages reads every block of every relation of the database with pageinspect (when it
// can be installed) and reports which needles occur in the raw bytes.
func scanPages(t *testing.T, pool *pgxpool.Pool, needles map[string][]byte) []string {
	t.Helper()
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS pageinspect`); err != nil {
		t.Logf("pageinspect unavailable, raw page scan skipped: %v", err)
		return nil
	}
	rows, err := pool.Query(ctx, `SELECT c.oid::regclass::text, pg_relation_size(c.oid) / current_setting('block_size')::int
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'i', 't') AND n.nspname NOT IN ('pg_catalog', 'information_schema')`)
	if err != nil {
		t.Fatal(err)
	}
	type rel struct {
		name   string
		blocks int64
	}
	var rels []rel
	for rows.Next() {
		var r rel
		if err := rows.Scan(&r.name, &r.blocks); err != nil {
			t.Fatal(err)
		}
		rels = append(rels, r)
	}
	var found []string
	for _, r := range rels {
		for b := int64(0); b < r.blocks; b++ {
			var page []byte
			if err := pool.QueryRow(ctx, `SELECT get_raw_page($1, $2::bigint)`, r.name, b).Scan(&page); err != nil {
				t.Fatal(err)
			}
			for name, n := range needles {
				if bytes.Contains(page, n) {
					found = append(found, fmt.Sprintf("%s in %s block %d", name, r.name, b))
				}
			}
		}
	}
	return found
}

func TestKEKRotationInterruptedAndResumed(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	type sealed struct {
		blob []byte
		text string
	}
	var all []sealed
	var shredSubject domain.Subject
	for i := 0; i < 3*rotateBatch+17; i++ {
		s := domain.DocumentSubject(newID())
		text := fmt.Sprintf("doc %d", i)
		b, err := f.kr.Seal(ctx, []domain.Subject{s}, []byte("ad"), []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, sealed{b, text})
		shredSubject = s
	}
	// A shredding key is live too: it must survive rotation and still restore.
	if err := f.kr.StartShredding(ctx, shredSubject, "", "", time.Hour); err != nil {
		t.Fatal(err)
	}
	oldVer, _ := f.kek.CurrentVersion(ctx)
	newVer, err := f.kek.AddVersion(ctx)
	if err != nil || newVer != oldVer+1 {
		t.Fatalf("AddVersion = %d, %v", newVer, err)
	}
	// Interrupt after the first batch.
	cctx, cancel := context.WithCancel(ctx)
	var calls []int
	err = f.kr.RotateKEK(cctx, func(done, total int) {
		calls = append(calls, done)
		if done > 0 {
			cancel()
		}
	})
	if err == nil {
		t.Fatal("rotation with a cancelled context reported success")
	}
	pending, err := f.kr.PendingRotation(ctx)
	if err != nil || pending == 0 || pending >= len(all) {
		t.Fatalf("after interruption: pending %d, %v (progress %v)", pending, err, calls)
	}
	// Keys created now are wrapped under the new version only.
	extra, err := f.kr.Seal(ctx, []domain.Subject{domain.UserSubject(newID())}, []byte("ad"), []byte("extra"))
	if err != nil {
		t.Fatal(err)
	}
	all = append(all, sealed{extra, "extra"})
	var last, lastTotal int
	if err := f.kr.RotateKEK(ctx, func(done, total int) { last, lastTotal = done, total }); err != nil {
		t.Fatal(err)
	}
	if last != pending || lastTotal != pending {
		t.Fatalf("resumed progress ended at %d/%d, want %d", last, lastTotal, pending)
	}
	if n, _ := f.kr.PendingRotation(ctx); n != 0 {
		t.Fatalf("pending after rotation: %d", n)
	}
	// The key store records when each version came into use and when the re-wrap finished,
	// counting the keys of the interrupted run too.
	hist, err := f.kr.KEKHistory(ctx)
	if err != nil || len(hist) != 2 {
		t.Fatalf("KEKHistory = %+v, %v", hist, err)
	}
	if h := hist[0]; h.Version != oldVer || h.RotationStartedAt != nil || h.RotationCompletedAt != nil || h.InUseSince.IsZero() {
		t.Fatalf("first version's record: %+v", h)
	}
	h := hist[1]
	if h.Version != newVer || h.RotationStartedAt == nil || h.RotationCompletedAt == nil || h.RotationCompletedAt.Before(*h.RotationStartedAt) {
		t.Fatalf("rotated version's record: %+v", h)
	}
	if want := int64(len(all) - 1); h.KeysRewrapped != want { // every key but the one created under the new version
		t.Fatalf("keys re-wrapped = %d, want %d", h.KeysRewrapped, want)
	}
	// Drop the old version from the file; every key still opens, in a cold keyring too.
	removed, err := f.kek.RemoveVersionsExcept(ctx, newVer)
	if err != nil || len(removed) != 1 || removed[0] != oldVer {
		t.Fatalf("RemoveVersionsExcept = %v, %v", removed, err)
	}
	cold := f.open(t, f.newPool(t))
	for i, s := range all[:len(all)-2] {
		if got, err := cold.Open(ctx, s.blob, []byte("ad")); err != nil || string(got) != s.text {
			t.Fatalf("blob %d after rotation: %q, %v", i, got, err)
		}
	}
	if got, err := cold.Open(ctx, all[len(all)-1].blob, []byte("ad")); err != nil || string(got) != "extra" {
		t.Fatalf("extra: %q, %v", got, err)
	}
	if err := cold.Restore(ctx, shredSubject); err != nil {
		t.Fatal(err)
	}
	if got, err := cold.Open(ctx, all[len(all)-2].blob, []byte("ad")); err != nil || string(got) != all[len(all)-2].text {
		t.Fatalf("restored after rotation: %q, %v", got, err)
	}
}

// TestNoPlaintextAfterShreddingReturns runs seals and opens against a subject while it starts
// shredding: no operation that begins after StartShredding returned may succeed, in this
// keyring at once and in another keyring on the same key store once its notification lands.
func TestNoPlaintextAfterShreddingReturns(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	other := f.open(t, f.newPool(t))
	ctx := context.Background()
	for round := 0; round < 5; round++ {
		u := domain.UserSubject(newID())
		subs := []domain.Subject{u, domain.SpaceSubject(newID())}
		blob, err := f.kr.Seal(ctx, subs, []byte("ad"), []byte("secret"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := other.Open(ctx, blob, []byte("ad")); err != nil { // warm the other cache
			t.Fatal(err)
		}
		var returned atomic.Bool
		var violations, successes atomic.Int64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for g := 0; g < 8; g++ {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					after := returned.Load()
					var err error
					if g%2 == 0 {
						_, err = f.kr.Open(ctx, blob, []byte("ad"))
					} else {
						_, err = f.kr.Seal(ctx, subs, []byte("ad"), []byte("more"))
					}
					if err == nil {
						successes.Add(1)
						if after {
							violations.Add(1)
						}
					} else if !domain.Is(domain.KindErased, err) {
						t.Errorf("unexpected error: %v", err)
						return
					}
				}
			})
		}
		time.Sleep(5 * time.Millisecond)
		if err := f.kr.StartShredding(ctx, u, "", "", time.Hour); err != nil {
			t.Fatal(err)
		}
		returned.Store(true)
		time.Sleep(5 * time.Millisecond)
		close(stop)
		wg.Wait()
		if violations.Load() > 0 {
			t.Fatalf("round %d: %d operations that began after StartShredding returned succeeded", round, violations.Load())
		}
		if successes.Load() == 0 {
			t.Fatalf("round %d: no operation succeeded before shredding: the test proves nothing", round)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			_, err := other.Open(ctx, blob, []byte("ad"))
			if domain.Is(domain.KindErased, err) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the other keyring still opens after 5s: %v", err)
			}
			time.Sleep(time.Millisecond)
		}
		_, cached := f.kr.cache.peek(u.String())
		if cached {
			t.Fatal("the shredding subject's key is cached")
		}
	}
}

func TestCacheEvictionZeroesKeys(t *testing.T) {
	t.Parallel()
	f := newFixture(t, WithCacheSize(2))
	ctx := context.Background()
	u := domain.UserSubject(newID())
	if _, err := f.kr.Seal(ctx, []domain.Subject{u}, nil, []byte("x")); err != nil {
		t.Fatal(err)
	}
	entry, ok := f.kr.cache.peek(u.String())
	if !ok {
		t.Fatal("the key just used is not cached")
	}
	if entry.dek == [dekSize]byte{} {
		t.Fatal("cached key is zero before eviction")
	}
	for i := 0; i < 2; i++ {
		if _, err := f.kr.Seal(ctx, []domain.Subject{domain.UserSubject(newID())}, nil, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if f.kr.cache.len() != 2 {
		t.Fatalf("cache size %d, want 2", f.kr.cache.len())
	}
	if entry.dek != [dekSize]byte{} {
		t.Fatal("evicted key was not zeroed")
	}
}

func TestKeystoreURL(t *testing.T) {
	t.Parallel()
	got, err := KeystoreURL("", "postgres://u@h:5432/arkiv?sslmode=disable")
	if err != nil || got != "postgres://u@h:5432/arkiv_keys?sslmode=disable" {
		t.Fatalf("derived = %q, %v", got, err)
	}
	if got, _ := KeystoreURL("postgres://x/k", "postgres://u@h/arkiv"); got != "postgres://x/k" {
		t.Fatalf("explicit = %q", got)
	}
	if _, err := KeystoreURL("", ""); !domain.Is(domain.KindInvalid, err) {
		t.Fatalf("nothing set: %v", err)
	}
	// EnsureDatabase creates the sibling database, and is idempotent.
	base := pgtest.NewDatabase(t)
	keys, err := KeystoreURL("", base)
	if err != nil {
		t.Fatal(err)
	}
	ku, err := url.Parse(keys)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if c, err := pgxpool.New(context.Background(), pgtest.BaseURL(t)); err == nil {
			_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+strings.TrimPrefix(ku.Path, "/")+" WITH (FORCE)")
			c.Close()
		}
	})
	for i := 0; i < 2; i++ {
		if err := EnsureDatabase(context.Background(), keys); err != nil {
			t.Fatal(err)
		}
	}
	pool, err := pgxpool.New(context.Background(), keys)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := pool.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
}
