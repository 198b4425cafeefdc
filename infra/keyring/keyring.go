package keyring

import (
	"container/list"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash/fnv"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/arkiv/arkiv/domain"
)

// Blob format, version 1 (all integers unsigned varints):
//
//	0x01                         format version
//	n                            number of subjects, 1..MaxSubjects, sorted and distinct
//	n × (len, "kind:id", dekver) each subject's canonical form and DEK version
//	nonce                        12 random bytes
//	ciphertext || tag            AES-256-GCM
//
// The bytes from the version through the last subject are the header. The field key is
// HKDF-SHA256(secret = DEK₁‖…‖DEKₙ in header order, salt = "arkiv/field-key/v1", info =
// header), so destroying any one subject's DEK makes the field unreadable, and the GCM
// associated data is "arkiv/field/v1" ‖ len(ad) ‖ ad ‖ header, so neither the caller's
// context (event id and field path) nor the subject set can be changed or moved.
const (
	blobVersion1 = 1
	// MaxSubjects is the most subjects one field may depend on.
	MaxSubjects = 16
	dekSize     = 32
	nonceSize   = 12
	stripes     = 256
)

var (
	fieldKeySalt = []byte("arkiv/field-key/v1")
	fieldADLabel = []byte("arkiv/field/v1")
	dekADLabel   = "arkiv/dek/v1\x00"
)

// DefaultGrace is the restore window of StartShredding when the caller has no policy.
const DefaultGrace = 14 * 24 * time.Hour

// MaxGrace is the longest restore window StartShredding accepts.
const MaxGrace = 30 * 24 * time.Hour

// Keyring holds one AES-256 data-encryption key (DEK) per subject in a Postgres key store,
// wrapped by a KEKSource, and seals and opens fields under keys derived from one or more
// subjects. It caches unwrapped DEKs; a subject that starts shredding is dropped from every
// keyring sharing the key store. A Keyring is safe for concurrent use.
type Keyring struct {
	pool  *pgxpool.Pool
	kek   KEKSource
	clock func() time.Time
	log   *slog.Logger

	cacheSize int
	listen    bool

	// locks serialise state changes of a subject (write) against seal and open (read):
	// StartShredding holds a subject's write lock while it commits and evicts, so an
	// operation that began before it has finished before it returns.
	locks [stripes]sync.RWMutex

	cacheMu sync.Mutex
	cache   map[string]*list.Element // of *cacheEntry
	lru     list.List
	// derived caches field keys (HKDF outputs) by blob header; an entry is dropped, zeroed,
	// whenever any of its subjects leaves the DEK cache. bySubject indexes it by subject.
	derived   map[string]*derivedKey
	bySubject map[string][]string
	cacheGen  uint64 // bumped by every flush; a load may fill the cache only if it is unchanged
	// cacheOK is true while the cache may be used: always without a listener, and only
	// while the LISTEN connection is up with one.
	cacheOK atomic.Bool

	cancel context.CancelFunc
	done   chan struct{}
}

// derivedKey is a cached field key: its raw bytes (zeroed on eviction) and the AES-GCM built
// from them. Go's AES key schedule inside the AEAD cannot be zeroed; it is dropped with the
// entry and is only ever derived from DEKs that are themselves cached.
type derivedKey struct {
	key      [32]byte
	aead     cipher.AEAD
	subjects []string
}

type cacheEntry struct {
	subject string
	version uint32
	dek     [dekSize]byte
}

// Option configures Open.
type Option func(*Keyring)

// WithCacheSize bounds the number of unwrapped DEKs kept in memory (default 100,000; 0
// disables the cache).
func WithCacheSize(n int) Option { return func(k *Keyring) { k.cacheSize = n } }

// WithLogger sets the logger for background work (default slog.Default()). Nothing logged
// contains key material or subject ids.
func WithLogger(l *slog.Logger) Option { return func(k *Keyring) { k.log = l } }

// WithoutListener runs without LISTEN/NOTIFY. Only for a keyring that is alone on its key
// store (single-process tools): other processes' shredding would not reach its cache.
func WithoutListener() Option { return func(k *Keyring) { k.listen = false } }

// Open runs the key store's idempotent DDL on pool, starts the cache-invalidation listener
// and returns the keyring. pool must be the key store's own database, never the event store's.
func Open(ctx context.Context, pool *pgxpool.Pool, kek KEKSource, clock func() time.Time, opts ...Option) (*Keyring, error) {
	const op = "keyring.open"
	if pool == nil || kek == nil || clock == nil {
		return nil, domain.E(domain.KindInternal, op, "keyring needs a pool, a KEK source and a clock")
	}
	k := &Keyring{
		pool: pool, kek: kek, clock: clock, log: slog.Default(),
		cacheSize: 100_000, listen: true,
		cache:   make(map[string]*list.Element),
		derived: make(map[string]*derivedKey), bySubject: make(map[string][]string),
		done: make(chan struct{}),
	}
	for _, o := range opts {
		o(k)
	}
	if _, err := pool.Exec(ctx, schema); err != nil {
		return nil, domain.Wrap(domain.KindUnavailable, op, err, "cannot prepare the key store")
	}
	if _, err := kek.CurrentVersion(ctx); err != nil {
		return nil, err
	}
	lctx, cancel := context.WithCancel(context.Background())
	k.cancel = cancel
	if k.listen {
		ready := make(chan struct{})
		go k.listenLoop(lctx, ready)
		select {
		case <-ready:
		case <-ctx.Done():
			cancel()
			<-k.done
			return nil, domain.Wrap(domain.KindUnavailable, op, ctx.Err(), "the key store's LISTEN connection did not come up")
		}
	} else {
		k.cacheOK.Store(true)
		close(k.done)
	}
	return k, nil
}

// Close stops the listener and zeroes every cached key. It does not close the pool.
func (k *Keyring) Close() {
	k.cancel()
	<-k.done
	k.flush()
}

// canonical validates, sorts and de-duplicates subjects.
func canonical(op string, subjects []domain.Subject) ([]string, error) {
	if len(subjects) == 0 {
		return nil, domain.E(domain.KindInvalid, op, "a sealed field needs at least one subject")
	}
	out := make([]string, 0, len(subjects))
	for _, s := range subjects {
		if err := s.Validate(); err != nil {
			return nil, err
		}
		out = append(out, s.String())
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > MaxSubjects {
		return nil, domain.Errorf(domain.KindInvalid, op, "a sealed field may depend on at most %d subjects", MaxSubjects)
	}
	return out, nil
}

func stripeOf(subject string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(subject))
	return int(h.Sum32() % stripes)
}

// rlockAll read-locks the stripes of subjects in ascending order and returns the unlock.
func (k *Keyring) rlockAll(subjects []string) func() {
	var buf [MaxSubjects]int
	idx := buf[:0]
	for _, s := range subjects {
		idx = append(idx, stripeOf(s))
	}
	slices.Sort(idx)
	idx = slices.Compact(idx)
	for _, i := range idx {
		k.locks[i].RLock()
	}
	return func() {
		for _, i := range idx {
			k.locks[i].RUnlock()
		}
	}
}

// Seal encrypts plaintext under the key derived from subjects, authenticating ad (the
// caller's context, e.g. event id and field path). DEKs are created on first use. It fails
// with a domain.KindErased error when a subject is shredding or destroyed.
func (k *Keyring) Seal(ctx context.Context, subjects []domain.Subject, ad, plaintext []byte) ([]byte, error) {
	const op = "keyring.seal"
	subs, err := canonical(op, subjects)
	if err != nil {
		return nil, err
	}
	unlock := k.rlockAll(subs)
	defer unlock()
	var dekBuf [MaxSubjects]cacheEntry
	deks := dekBuf[:len(subs)]
	defer zeroEntries(deks)
	for i, s := range subs {
		if err := k.dek(ctx, s, true, &deks[i]); err != nil {
			return nil, err
		}
	}
	header := make([]byte, 0, 2+len(subs)*48)
	header = append(header, blobVersion1)
	header = binary.AppendUvarint(header, uint64(len(subs)))
	for i, s := range subs {
		header = binary.AppendUvarint(header, uint64(len(s)))
		header = append(header, s...)
		header = binary.AppendUvarint(header, uint64(deks[i].version))
	}
	aead, err := k.fieldAEAD(subs, deks, header)
	if err != nil {
		return nil, domain.Wrap(domain.KindInternal, op, err, "")
	}
	out := make([]byte, len(header)+nonceSize, len(header)+nonceSize+len(plaintext)+aead.Overhead())
	copy(out, header)
	if _, err := rand.Read(out[len(header):]); err != nil {
		return nil, domain.Wrap(domain.KindInternal, op, err, "no randomness")
	}
	return aead.Seal(out, out[len(header):], plaintext, fieldAD(ad, header)), nil
}

// Open decrypts a blob made by Seal with the same ad. It fails with a domain.KindErased error
// when any of the blob's subjects is shredding or destroyed, and with KindInternal when the
// blob or ad was tampered with.
func (k *Keyring) Open(ctx context.Context, blob, ad []byte) ([]byte, error) {
	const op = "keyring.open_blob"
	subs, versions, header, err := parseHeader(blob)
	if err != nil {
		return nil, err
	}
	if len(blob) < len(header)+nonceSize+16 {
		return nil, domain.E(domain.KindInternal, op, "sealed field is truncated")
	}
	unlock := k.rlockAll(subs)
	defer unlock()
	var dekBuf [MaxSubjects]cacheEntry
	deks := dekBuf[:len(subs)]
	defer zeroEntries(deks)
	for i, s := range subs {
		if err := k.dek(ctx, s, false, &deks[i]); err != nil {
			return nil, err
		}
		if deks[i].version != versions[i] {
			return nil, domain.Errorf(domain.KindInternal, op, "sealed field names DEK version %d, the key store has %d", versions[i], deks[i].version)
		}
	}
	aead, err := k.fieldAEAD(subs, deks, header)
	if err != nil {
		return nil, domain.Wrap(domain.KindInternal, op, err, "")
	}
	nonce := blob[len(header) : len(header)+nonceSize]
	pt, err := aead.Open(nil, nonce, blob[len(header)+nonceSize:], fieldAD(ad, header))
	if err != nil {
		return nil, domain.E(domain.KindInternal, op, "sealed field does not authenticate: tampered, or opened in another context")
	}
	return pt, nil
}

// BlobSubjects returns the subjects a blob made by Seal depends on, without decrypting it.
func BlobSubjects(blob []byte) ([]domain.Subject, error) {
	subs, _, _, err := parseHeader(blob)
	if err != nil {
		return nil, err
	}
	out := make([]domain.Subject, len(subs))
	for i, s := range subs {
		if out[i], err = domain.ParseSubject(s); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func parseHeader(blob []byte) (subs []string, versions []uint32, header []byte, err error) {
	const op = "keyring.parse"
	bad := domain.E(domain.KindInternal, op, "sealed field has a malformed header")
	if len(blob) < 1 || blob[0] != blobVersion1 {
		return nil, nil, nil, domain.E(domain.KindInternal, op, "sealed field has an unknown format version")
	}
	p := 1
	n, w := binary.Uvarint(blob[p:])
	if w <= 0 || n == 0 || n > MaxSubjects {
		return nil, nil, nil, bad
	}
	p += w
	subs = make([]string, n)
	versions = make([]uint32, n)
	for i := range subs {
		l, w := binary.Uvarint(blob[p:])
		if w <= 0 || l == 0 || l > 256 || uint64(len(blob)-p-w) < l {
			return nil, nil, nil, bad
		}
		p += w
		subs[i] = string(blob[p : p+int(l)])
		p += int(l)
		v, w := binary.Uvarint(blob[p:])
		if w <= 0 || v == 0 || v > 1<<31 {
			return nil, nil, nil, bad
		}
		p += w
		versions[i] = uint32(v)
		if i > 0 && subs[i] <= subs[i-1] {
			return nil, nil, nil, bad
		}
	}
	return subs, versions, blob[:p], nil
}

func fieldAD(ad, header []byte) []byte {
	out := make([]byte, 0, len(fieldADLabel)+binary.MaxVarintLen64+len(ad)+len(header))
	out = append(out, fieldADLabel...)
	out = binary.AppendUvarint(out, uint64(len(ad)))
	out = append(out, ad...)
	return append(out, header...)
}

// fieldAEAD returns the AES-256-GCM for the field key of header: from the derived-key cache
// when every DEK involved came from the DEK cache, else derived by HKDF-SHA256 from the DEKs
// (in header order) with the header as info. The caller holds the subjects' read locks.
func (k *Keyring) fieldAEAD(subs []string, deks []cacheEntry, header []byte) (cipher.AEAD, error) {
	if k.cacheSize > 0 && k.cacheOK.Load() {
		k.cacheMu.Lock()
		d, ok := k.derived[string(header)]
		k.cacheMu.Unlock()
		if ok {
			return d.aead, nil
		}
	}
	var key [32]byte
	defer clear(key[:])
	if err := deriveFieldKey(deks, header, &key); err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	k.putDerived(subs, deks, header, &key, aead)
	return aead, nil
}

func deriveFieldKey(deks []cacheEntry, header []byte, out *[32]byte) error {
	var secretBuf [MaxSubjects * dekSize]byte
	secret := secretBuf[:0]
	for i := range deks {
		secret = append(secret, deks[i].dek[:]...)
	}
	defer clear(secretBuf[:])
	key, err := hkdf.Key(sha256.New, secret, fieldKeySalt, string(header), 32)
	if err != nil {
		return err
	}
	copy(out[:], key)
	clear(key)
	return nil
}

// putDerived caches a field key if every one of its DEKs is in the DEK cache now (so the
// eviction of any of them also drops the field key).
func (k *Keyring) putDerived(subs []string, deks []cacheEntry, header []byte, key *[32]byte, aead cipher.AEAD) {
	if k.cacheSize == 0 {
		return
	}
	k.cacheMu.Lock()
	defer k.cacheMu.Unlock()
	if !k.cacheOK.Load() {
		return
	}
	for i, s := range subs {
		el, ok := k.cache[s]
		if !ok || el.Value.(*cacheEntry).version != deks[i].version {
			return
		}
	}
	if _, ok := k.derived[string(header)]; ok {
		return
	}
	if len(k.derived) >= k.cacheSize {
		k.clearDerivedLocked()
	}
	h := string(header)
	k.derived[h] = &derivedKey{key: *key, aead: aead, subjects: append([]string(nil), subs...)}
	for _, s := range subs {
		k.bySubject[s] = append(k.bySubject[s], h)
	}
}

// dropDerivedLocked zeroes and drops every field key that depends on subject.
func (k *Keyring) dropDerivedLocked(subject string) {
	for _, h := range k.bySubject[subject] {
		d, ok := k.derived[h]
		if !ok {
			continue
		}
		clear(d.key[:])
		d.aead = nil
		delete(k.derived, h)
		for _, s := range d.subjects {
			if s == subject {
				continue
			}
			hs := k.bySubject[s]
			for i, x := range hs {
				if x == h {
					hs[i] = hs[len(hs)-1]
					hs = hs[:len(hs)-1]
					break
				}
			}
			if len(hs) == 0 {
				delete(k.bySubject, s)
			} else {
				k.bySubject[s] = hs
			}
		}
	}
	delete(k.bySubject, subject)
}

func (k *Keyring) clearDerivedLocked() {
	for h, d := range k.derived {
		clear(d.key[:])
		d.aead = nil
		delete(k.derived, h)
	}
	clear(k.bySubject)
}

func zeroEntries(es []cacheEntry) {
	for i := range es {
		clear(es[i].dek[:])
	}
}

func erased(op string) error {
	return domain.E(domain.KindErased, op, "a subject of this data has been erased")
}

// dek copies subject's active DEK into out: from the cache, else from the key store
// (creating it when create is set and the subject is new). The caller holds the subject's
// read lock.
func (k *Keyring) dek(ctx context.Context, subject string, create bool, out *cacheEntry) error {
	const op = "keyring.dek"
	useCache := k.cacheSize > 0 && k.cacheOK.Load()
	var gen uint64
	if useCache {
		k.cacheMu.Lock()
		if el, ok := k.cache[subject]; ok {
			k.lru.MoveToFront(el)
			*out = *el.Value.(*cacheEntry)
			k.cacheMu.Unlock()
			return nil
		}
		gen = k.cacheGen
		k.cacheMu.Unlock()
	}
	for attempt := 0; ; attempt++ {
		var state string
		var dekVer, kekVer int64
		var wrapped []byte
		err := k.pool.QueryRow(ctx,
			`SELECT state, dek_version, kek_version, wrapped FROM keyring_keys WHERE subject = $1`,
			subject).Scan(&state, &dekVer, &kekVer, &wrapped)
		if errors.Is(err, pgx.ErrNoRows) {
			var gone bool
			if err := k.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM keyring_tombstones WHERE subject = $1)`, subject).Scan(&gone); err != nil {
				return domain.Wrap(domain.KindUnavailable, op, err, "key store unavailable")
			}
			if gone {
				return erased(op)
			}
			if !create {
				return domain.E(domain.KindInternal, op, "the key store has no key for a subject of this data")
			}
			if attempt > 0 {
				return domain.E(domain.KindInternal, op, "a new key vanished after creation")
			}
			if err := k.create(ctx, subject); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return domain.Wrap(domain.KindUnavailable, op, err, "key store unavailable")
		}
		if state != "active" {
			return erased(op)
		}
		dek, err := k.kek.Unwrap(ctx, uint32(kekVer), wrapped, dekAD(subject, uint32(dekVer)))
		if err != nil {
			return err
		}
		if len(dek) != dekSize {
			clear(dek)
			return domain.E(domain.KindInternal, op, "stored key has the wrong size")
		}
		out.subject, out.version = subject, uint32(dekVer)
		copy(out.dek[:], dek)
		clear(dek)
		if useCache {
			k.put(gen, out)
		}
		return nil
	}
}

// dekAD binds a wrapped DEK to its subject and version, so rows cannot be swapped.
func dekAD(subject string, version uint32) []byte {
	return []byte(dekADLabel + subject + "\x00" + strconv.FormatUint(uint64(version), 10))
}

// create makes subject's DEK unless it exists or was destroyed: concurrent creators (in any
// process) end up with one key, because the insert does nothing on conflict and every
// creator re-reads the row.
func (k *Keyring) create(ctx context.Context, subject string) error {
	const op = "keyring.create"
	var dek [dekSize]byte
	defer clear(dek[:])
	if _, err := rand.Read(dek[:]); err != nil {
		return domain.Wrap(domain.KindInternal, op, err, "no randomness")
	}
	return k.insertKey(ctx, subject, dek[:], "active", nil)
}

// shredInfo is set when a key row is inserted directly in the shredding state.
type shredInfo struct {
	requestedAt, destroyAfter time.Time
	reason, requester         string
}

// insertKey wraps dek and inserts subject's row in state unless a row or a tombstone exists.
// It serialises with destruction through a transaction-scoped advisory lock on the subject,
// and with KEK rotation through keyring_meta's row lock, so no key is ever created for a
// destroyed subject nor wrapped under a KEK version that a rotation is retiring.
func (k *Keyring) insertKey(ctx context.Context, subject string, dek []byte, state string, si *shredInfo) error {
	const op = "keyring.create"
	for attempt := 0; attempt < 3; attempt++ {
		ver, wrapped, err := k.kek.Wrap(ctx, dek, dekAD(subject, 1))
		if err != nil {
			return err
		}
		retry := false
		err = pgx.BeginFunc(ctx, k.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, subject); err != nil {
				return err
			}
			var minVer int64
			if err := tx.QueryRow(ctx, `SELECT min_kek_version FROM keyring_meta WHERE id = 1 FOR SHARE`).Scan(&minVer); err != nil {
				return err
			}
			if int64(ver) < minVer {
				retry = true
				return nil
			}
			var reqAt, destroyAfter *time.Time
			var reason, requester *string
			if si != nil {
				reqAt, destroyAfter, reason, requester = &si.requestedAt, &si.destroyAfter, &si.reason, &si.requester
			}
			_, err := tx.Exec(ctx, `
				INSERT INTO keyring_keys (subject, dek_version, kek_version, wrapped, created_at, state,
					shred_requested_at, destroy_after, shred_reason, shred_requester)
				SELECT $1, 1, $2, $3, $4, $5, $6, $7, $8, $9
				WHERE NOT EXISTS (SELECT 1 FROM keyring_tombstones WHERE subject = $1)
				ON CONFLICT (subject) DO NOTHING`,
				subject, int64(ver), wrapped, k.clock().UTC(), state, reqAt, destroyAfter, reason, requester)
			return err
		})
		if err != nil {
			return domain.Wrap(domain.KindUnavailable, op, err, "key store unavailable")
		}
		if !retry {
			return nil
		}
	}
	return domain.E(domain.KindUnavailable, op, "the KEK source is older than the key store's current KEK version")
}

// put caches e unless the cache was flushed since the caller's load began.
func (k *Keyring) put(gen uint64, e *cacheEntry) {
	k.cacheMu.Lock()
	defer k.cacheMu.Unlock()
	if gen != k.cacheGen || !k.cacheOK.Load() {
		return
	}
	if el, ok := k.cache[e.subject]; ok {
		k.lru.MoveToFront(el)
		return
	}
	c := *e
	k.cache[e.subject] = k.lru.PushFront(&c)
	for k.lru.Len() > k.cacheSize {
		k.removeLocked(k.lru.Back())
	}
}

func (k *Keyring) removeLocked(el *list.Element) {
	e := el.Value.(*cacheEntry)
	k.dropDerivedLocked(e.subject)
	clear(e.dek[:])
	delete(k.cache, e.subject)
	k.lru.Remove(el)
}

// evict drops subject from the cache, zeroing its key.
func (k *Keyring) evict(subject string) {
	k.cacheMu.Lock()
	defer k.cacheMu.Unlock()
	k.cacheGen++
	if el, ok := k.cache[subject]; ok {
		k.removeLocked(el)
	}
}

// flush drops every cached key, zeroing it.
func (k *Keyring) flush() {
	k.cacheMu.Lock()
	defer k.cacheMu.Unlock()
	k.cacheGen++
	for el := k.lru.Front(); el != nil; {
		next := el.Next()
		k.removeLocked(el)
		el = next
	}
}

// cachedCount returns the number of cached keys (for tests).
func (k *Keyring) cachedCount() int {
	k.cacheMu.Lock()
	defer k.cacheMu.Unlock()
	return k.lru.Len()
}

// listenLoop keeps a LISTEN connection on the key store and evicts subjects named by
// notifications. While it is down the cache is off (and flushed), so a missed notification
// can never leave a shredded subject's key in use.
func (k *Keyring) listenLoop(ctx context.Context, ready chan struct{}) {
	defer close(k.done)
	signalled := false
	signal := func() {
		if !signalled {
			signalled = true
			close(ready)
		}
	}
	defer signal()
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := k.listenOnce(ctx, signal)
		k.cacheOK.Store(false)
		k.flush()
		if ctx.Err() != nil {
			return
		}
		k.log.Warn("keyring: invalidation listener lost its connection; cache off until it is back", "err", err)
		signal() // Open proceeds without a cache rather than hang.
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (k *Keyring) listenOnce(ctx context.Context, ready func()) error {
	conn, err := pgx.ConnectConfig(ctx, k.pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return err
	}
	// Notifications sent before LISTEN took effect are lost: start from an empty cache.
	k.flush()
	k.cacheOK.Store(true)
	ready()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if n.Payload == "*" {
			k.flush()
			continue
		}
		i := stripeOf(n.Payload)
		k.locks[i].Lock()
		k.evict(n.Payload)
		k.locks[i].Unlock()
	}
}
