package keyring

import (
	"bytes"
	"container/list"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash/maphash"
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
	clock domain.Clock
	log   *slog.Logger

	cacheSize int
	listen    bool

	// stripeSeed seeds the hash that maps a subject to its lock stripe.
	stripeSeed maphash.Seed
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

// Open applies the key store's migrations (migrations/, with goose) on pool, starts the cache-invalidation listener
// and returns the keyring. pool must be the key store's own database, never the event store's.
func Open(ctx context.Context, pool *pgxpool.Pool, kek KEKSource, clock domain.Clock, opts ...Option) (*Keyring, error) {
	const op = "keyring.open"
	if pool == nil || kek == nil || clock == nil {
		return nil, domain.E(domain.KindInternal, op, "keyring needs a pool, a KEK source and a clock")
	}
	k := &Keyring{
		pool: pool, kek: kek, clock: clock, log: slog.Default(), stripeSeed: maphash.MakeSeed(),
		cacheSize: 100_000, listen: true,
		cache:   make(map[string]*list.Element),
		derived: make(map[string]*derivedKey), bySubject: make(map[string][]string),
		done: make(chan struct{}),
	}
	for _, o := range opts {
		o(k)
	}
	if err := migrate(ctx, pool); err != nil {
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

// maxSubjectLen bounds the canonical form of a valid subject ("modellog:" + uuid + "/" +
// day is 56 bytes); subjectNames reserves this much per subject.
const maxSubjectLen = 64

// subjectNames holds a field's subjects in canonical form ("kind:id"), sorted and distinct,
// as byte views (into the caller's buffer when sealing, into the blob when opening), so that
// the hot path of Seal and Open allocates no strings. versions are the DEK versions a blob's
// header names.
type subjectNames struct {
	n        int
	names    [MaxSubjects][]byte
	versions [MaxSubjects]uint32
}

// namesOf validates subjects and returns their sorted, distinct canonical forms, written
// into buf (capacity at least MaxSubjects*maxSubjectLen bytes).
func namesOf(op string, subjects []domain.Subject, buf []byte) (subjectNames, error) {
	var s subjectNames
	if len(subjects) == 0 {
		return s, domain.E(domain.KindInvalid, op, "a sealed field needs at least one subject")
	}
	if len(subjects) > MaxSubjects {
		// Rare: duplicates may bring it under the limit; take the general path.
		subs, err := canonical(op, subjects)
		if err != nil {
			return s, err
		}
		for _, c := range subs {
			s.names[s.n] = []byte(c)
			s.n++
		}
		return s, nil
	}
	for _, sub := range subjects {
		if err := sub.Validate(); err != nil {
			return s, err
		}
		l := len(sub.Kind) + 1 + len(sub.ID)
		if l > maxSubjectLen || len(buf)+l > cap(buf) {
			return s, domain.E(domain.KindInvalid, op, "subject id is too long")
		}
		name := buf[len(buf) : len(buf)+l : len(buf)+l]
		copy(name, sub.Kind)
		name[len(sub.Kind)] = ':'
		copy(name[len(sub.Kind)+1:], sub.ID)
		buf = buf[:len(buf)+l]
		// Insertion sort; drop duplicates.
		i := s.n
		dup := false
		for i > 0 {
			c := bytes.Compare(s.names[i-1], name)
			if c == 0 {
				dup = true
				break
			}
			if c < 0 {
				break
			}
			i--
		}
		if dup {
			continue
		}
		for j := s.n; j > i; j-- { // not copy(): that would move buf to the heap
			s.names[j] = s.names[j-1]
		}
		s.names[i] = name
		s.n++
	}
	return s, nil
}

// strings returns the subjects as strings (allocating; off the hot path).
func (s *subjectNames) strings() []string {
	out := make([]string, s.n)
	for i := range out {
		out[i] = string(s.names[i])
	}
	return out
}

// stripeOf returns the lock stripe of a subject's canonical form. maphash (seeded per
// keyring: stripes only matter within one process) hashes a 50-byte subject several times
// faster than a byte-wise FNV-1a, which was 8% of a seal+open.
func (k *Keyring) stripeOf(subject string) int {
	return int(maphash.String(k.stripeSeed, subject) % stripes)
}

func (k *Keyring) stripeOfBytes(subject []byte) uint8 {
	return uint8(maphash.Bytes(k.stripeSeed, subject) % stripes)
}

// stripeSet is the sorted, distinct lock stripes of a field's subjects.
type stripeSet struct {
	n   int
	idx [MaxSubjects]uint8
}

// rlockAll read-locks the stripes of s's subjects in ascending order; runlockAll releases
// them.
func (k *Keyring) rlockAll(s *subjectNames) stripeSet {
	var st stripeSet
	for i := 0; i < s.n; i++ {
		x := k.stripeOfBytes(s.names[i])
		j := st.n
		dup := false
		for j > 0 && st.idx[j-1] >= x {
			if st.idx[j-1] == x {
				dup = true
				break
			}
			j--
		}
		if dup {
			continue
		}
		copy(st.idx[j+1:st.n+1], st.idx[j:st.n])
		st.idx[j] = x
		st.n++
	}
	for _, i := range st.idx[:st.n] {
		k.locks[i].RLock()
	}
	return st
}

func (k *Keyring) runlockAll(st *stripeSet) {
	for _, i := range st.idx[:st.n] {
		k.locks[i].RUnlock()
	}
}

// headerLen is the length of the blob header for subjects s with DEK versions deks.
func headerLen(s *subjectNames, deks []cacheEntry) int {
	n := 1 + uvarintLen(uint64(s.n))
	for i := 0; i < s.n; i++ {
		n += uvarintLen(uint64(len(s.names[i]))) + len(s.names[i]) + uvarintLen(uint64(deks[i].version))
	}
	return n
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// gcmTagSize is AES-GCM's tag length (cipher.NewGCM's default).
const gcmTagSize = 16

// adPool recycles the buffers that hold a field's GCM associated data during one call.
var adPool = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// withFieldAD runs fn with the field's associated data in a pooled buffer.
func withFieldAD[R any](ad, header []byte, fn func(fad []byte) R) R {
	bp := adPool.Get().(*[]byte)
	fad := appendFieldAD((*bp)[:0], ad, header)
	r := fn(fad)
	if cap(fad) <= 4096 {
		*bp = fad[:0]
		adPool.Put(bp)
	}
	return r
}

// Seal encrypts plaintext under the key derived from subjects, authenticating ad (the
// caller's context, e.g. event id and field path). DEKs are created on first use. It fails
// with a domain.KindErased error when a subject is shredding or destroyed.
func (k *Keyring) Seal(ctx context.Context, subjects []domain.Subject, ad, plaintext []byte) ([]byte, error) {
	const op = "keyring.seal"
	var nameBuf [MaxSubjects * maxSubjectLen]byte
	subs, err := namesOf(op, subjects, nameBuf[:0])
	if err != nil {
		return nil, err
	}
	locked := k.rlockAll(&subs)
	defer k.runlockAll(&locked)
	var dekBuf [MaxSubjects]cacheEntry
	deks := dekBuf[:subs.n]
	defer zeroEntries(deks)
	if err := k.deks(ctx, &subs, true, deks); err != nil {
		return nil, err
	}
	hlen := headerLen(&subs, deks)
	out := make([]byte, 0, hlen+nonceSize+len(plaintext)+gcmTagSize)
	out = append(out, blobVersion1)
	out = binary.AppendUvarint(out, uint64(subs.n))
	for i := 0; i < subs.n; i++ {
		out = binary.AppendUvarint(out, uint64(len(subs.names[i])))
		out = append(out, subs.names[i]...)
		out = binary.AppendUvarint(out, uint64(deks[i].version))
	}
	header := out[:hlen:hlen]
	aead, err := k.fieldAEAD(&subs, deks, header)
	if err != nil {
		return nil, domain.Wrap(domain.KindInternal, op, err, "")
	}
	out = out[:hlen+nonceSize]
	nonce := out[hlen:]
	if _, err := rand.Read(nonce); err != nil {
		return nil, domain.Wrap(domain.KindInternal, op, err, "no randomness")
	}
	return withFieldAD(ad, header, func(fad []byte) []byte {
		return aead.Seal(out, nonce, plaintext, fad)
	}), nil
}

// Open decrypts a blob made by Seal with the same ad. It fails with a domain.KindErased error
// when any of the blob's subjects is shredding or destroyed, and with KindInternal when the
// blob or ad was tampered with.
func (k *Keyring) Open(ctx context.Context, blob, ad []byte) ([]byte, error) {
	const op = "keyring.open_blob"
	subs, header, err := parseHeader(blob)
	if err != nil {
		return nil, err
	}
	if len(blob) < len(header)+nonceSize+16 {
		return nil, domain.E(domain.KindInternal, op, "sealed field is truncated")
	}
	locked := k.rlockAll(&subs)
	defer k.runlockAll(&locked)
	var dekBuf [MaxSubjects]cacheEntry
	deks := dekBuf[:subs.n]
	defer zeroEntries(deks)
	if err := k.deks(ctx, &subs, false, deks); err != nil {
		return nil, err
	}
	for i := range deks {
		if deks[i].version != subs.versions[i] {
			return nil, domain.Errorf(domain.KindInternal, op, "sealed field names DEK version %d, the key store has %d", subs.versions[i], deks[i].version)
		}
	}
	aead, err := k.fieldAEAD(&subs, deks, header)
	if err != nil {
		return nil, domain.Wrap(domain.KindInternal, op, err, "")
	}
	nonce := blob[len(header) : len(header)+nonceSize]
	type result struct {
		pt  []byte
		err error
	}
	r := withFieldAD(ad, header, func(fad []byte) result {
		pt, err := aead.Open(nil, nonce, blob[len(header)+nonceSize:], fad)
		return result{pt, err}
	})
	if r.err != nil {
		return nil, domain.E(domain.KindInternal, op, "sealed field does not authenticate: tampered, or opened in another context")
	}
	return r.pt, nil
}

// deks copies the active DEK of each subject into out (same order): in one pass over the
// cache when every one is cached, else one at a time through dek. The caller holds the
// subjects' read locks.
func (k *Keyring) deks(ctx context.Context, s *subjectNames, create bool, out []cacheEntry) error {
	var have [MaxSubjects]bool
	if k.cacheSize > 0 && k.cacheOK.Load() {
		all := true
		k.cacheMu.Lock()
		for i := 0; i < s.n; i++ {
			if el, ok := k.cache[string(s.names[i])]; ok {
				k.lru.MoveToFront(el)
				out[i] = *el.Value.(*cacheEntry)
				have[i] = true
			} else {
				all = false
			}
		}
		k.cacheMu.Unlock()
		if all {
			return nil
		}
	}
	for i := 0; i < s.n; i++ {
		if have[i] {
			continue
		}
		if err := k.dek(ctx, string(s.names[i]), create, &out[i]); err != nil {
			return err
		}
	}
	return nil
}

// BlobSubjects returns the subjects a blob made by Seal depends on, without decrypting it.
func BlobSubjects(blob []byte) ([]domain.Subject, error) {
	subs, _, err := parseHeader(blob)
	if err != nil {
		return nil, err
	}
	out := make([]domain.Subject, subs.n)
	for i := range out {
		var err error
		if out[i], err = domain.ParseSubject(string(subs.names[i])); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// parseHeader reads a blob's subjects and DEK versions (names are views into blob) and
// returns them with the header.
func parseHeader(blob []byte) (s subjectNames, header []byte, err error) {
	const op = "keyring.parse"
	bad := func() error { return domain.E(domain.KindInternal, op, "sealed field has a malformed header") }
	if len(blob) < 1 || blob[0] != blobVersion1 {
		return s, nil, domain.E(domain.KindInternal, op, "sealed field has an unknown format version")
	}
	p := 1
	n, w := binary.Uvarint(blob[p:])
	if w <= 0 || n == 0 || n > MaxSubjects {
		return s, nil, bad()
	}
	p += w
	s.n = int(n)
	for i := 0; i < s.n; i++ {
		l, w := binary.Uvarint(blob[p:])
		if w <= 0 || l == 0 || l > 256 || uint64(len(blob)-p-w) < l {
			return s, nil, bad()
		}
		p += w
		s.names[i] = blob[p : p+int(l) : p+int(l)]
		p += int(l)
		v, w := binary.Uvarint(blob[p:])
		if w <= 0 || v == 0 || v > 1<<31 {
			return s, nil, bad()
		}
		p += w
		s.versions[i] = uint32(v)
		if i > 0 && bytes.Compare(s.names[i], s.names[i-1]) <= 0 {
			return s, nil, bad()
		}
	}
	return s, blob[:p:p], nil
}

// appendFieldAD appends the GCM associated data of a field with caller context ad and blob
// header to dst.
func appendFieldAD(dst, ad, header []byte) []byte {
	dst = append(dst, fieldADLabel...)
	dst = binary.AppendUvarint(dst, uint64(len(ad)))
	dst = append(dst, ad...)
	return append(dst, header...)
}

// fieldAEAD returns the AES-256-GCM for the field key of header: from the derived-key cache
// when every DEK involved came from the DEK cache, else derived by HKDF-SHA256 from the DEKs
// (in header order) with the header as info. The caller holds the subjects' read locks.
func (k *Keyring) fieldAEAD(subs *subjectNames, deks []cacheEntry, header []byte) (cipher.AEAD, error) {
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
	k.putDerived(subs.strings(), deks, header, &key, aead)
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
				subject, int64(ver), wrapped, k.clock.Now().UTC(), state, reqAt, destroyAfter, reason, requester)
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
		i := k.stripeOf(n.Payload)
		k.locks[i].Lock()
		k.evict(n.Payload)
		k.locks[i].Unlock()
	}
}
