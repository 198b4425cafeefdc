package keyring

import (
	"crypto/cipher"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// cacheEntry is a subject's active DEK, unwrapped.
type cacheEntry struct {
	subject string
	version uint32
	dek     [dekSize]byte
}

// derivedKey is a cached field key: its raw bytes (zeroed on eviction) and the AES-GCM built
// from them. Go's AES key schedule inside the AEAD cannot be zeroed; it is dropped with the
// entry and is only ever derived from DEKs that are themselves cached.
type derivedKey struct {
	key      [32]byte
	aead     cipher.AEAD
	subjects []string
}

// keyCache is the keyring's memory of keys: unwrapped DEKs in a least-recently-used cache
// (golang-lru's simplelru, under mu) and the field keys derived from them, each dropped and
// zeroed whenever any of its subjects leaves the DEK cache. It is safe for concurrent use.
type keyCache struct {
	mu   sync.Mutex
	deks *simplelru.LRU[string, *cacheEntry] // nil: the cache is disabled
	size int
	// derived caches field keys (HKDF outputs) by blob header; bySubject indexes it by
	// subject.
	derived   map[string]*derivedKey
	bySubject map[string][]string
	gen       uint64 // bumped by every flush; a load may fill the cache only if it is unchanged
	// on is true while the cache may be used: always without a listener, and only while the
	// LISTEN connection is up with one.
	on atomic.Bool
}

// newKeyCache returns a cache of at most size DEKs (and size field keys); 0 disables it.
func newKeyCache(size int) *keyCache {
	c := &keyCache{size: size, derived: make(map[string]*derivedKey), bySubject: make(map[string][]string)}
	if size > 0 {
		// The eviction callback runs inside Add, Remove and Purge, so under c.mu.
		c.deks, _ = simplelru.NewLRU(size, c.onEvict)
	}
	return c
}

// usable reports whether lookups may use the cache now.
func (c *keyCache) usable() bool { return c.deks != nil && c.on.Load() }

// onEvict zeroes a DEK leaving the cache and drops the field keys derived from it.
func (c *keyCache) onEvict(subject string, e *cacheEntry) {
	c.dropDerivedLocked(subject)
	clear(e.dek[:])
}

// view is a string sharing b's bytes, for map lookups that do not keep the key: the hot
// path of Seal and Open allocates no strings.
func view(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// getAll copies the cached DEK of each of s's subjects into out (same order), marking the
// ones found in have, and reports whether every one was cached.
func (c *keyCache) getAll(s *subjectNames, out []cacheEntry, have *[MaxSubjects]bool) bool {
	all := true
	c.mu.Lock()
	for i := 0; i < s.n; i++ {
		if e, ok := c.deks.Get(view(s.names[i])); ok {
			out[i] = *e
			have[i] = true
		} else {
			all = false
		}
	}
	c.mu.Unlock()
	return all
}

// get copies subject's cached DEK into out. On a miss it returns the generation a load must
// hand back to put.
func (c *keyCache) get(subject string, out *cacheEntry) (hit bool, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.deks.Get(subject); ok {
		*out = *e
		return true, 0
	}
	return false, c.gen
}

// put caches e unless the cache was flushed since the caller's load began (gen).
func (c *keyCache) put(gen uint64, e *cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen || !c.on.Load() {
		return
	}
	if _, ok := c.deks.Get(e.subject); ok { // refreshes its recency
		return
	}
	entry := *e
	c.deks.Add(e.subject, &entry)
}

// aead returns the cached field key of header.
func (c *keyCache) aead(header []byte) (cipher.AEAD, bool) {
	c.mu.Lock()
	d, ok := c.derived[string(header)]
	c.mu.Unlock()
	if !ok {
		return nil, false
	}
	return d.aead, true
}

// putDerived caches a field key if every one of its DEKs is in the DEK cache now (so the
// eviction of any of them also drops the field key).
func (c *keyCache) putDerived(subs []string, deks []cacheEntry, header []byte, key *[32]byte, aead cipher.AEAD) {
	if c.deks == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.on.Load() {
		return
	}
	for i, s := range subs {
		e, ok := c.deks.Peek(s)
		if !ok || e.version != deks[i].version {
			return
		}
	}
	if _, ok := c.derived[string(header)]; ok {
		return
	}
	if len(c.derived) >= c.size {
		c.clearDerivedLocked()
	}
	h := string(header)
	c.derived[h] = &derivedKey{key: *key, aead: aead, subjects: append([]string(nil), subs...)}
	for _, s := range subs {
		c.bySubject[s] = append(c.bySubject[s], h)
	}
}

// dropDerivedLocked zeroes and drops every field key that depends on subject.
func (c *keyCache) dropDerivedLocked(subject string) {
	for _, h := range c.bySubject[subject] {
		d, ok := c.derived[h]
		if !ok {
			continue
		}
		clear(d.key[:])
		d.aead = nil
		delete(c.derived, h)
		for _, s := range d.subjects {
			if s == subject {
				continue
			}
			hs := c.bySubject[s]
			for i, x := range hs {
				if x == h {
					hs[i] = hs[len(hs)-1]
					hs = hs[:len(hs)-1]
					break
				}
			}
			if len(hs) == 0 {
				delete(c.bySubject, s)
			} else {
				c.bySubject[s] = hs
			}
		}
	}
	delete(c.bySubject, subject)
}

func (c *keyCache) clearDerivedLocked() {
	for h, d := range c.derived {
		clear(d.key[:])
		d.aead = nil
		delete(c.derived, h)
	}
	clear(c.bySubject)
}

// evict drops subject from the cache, zeroing its key.
func (c *keyCache) evict(subject string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if c.deks != nil {
		c.deks.Remove(subject)
	}
}

// flush drops every cached key, zeroing it.
func (c *keyCache) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if c.deks != nil {
		c.deks.Purge()
	}
	c.clearDerivedLocked()
}

// peek returns subject's cache entry itself (for tests).
func (c *keyCache) peek(subject string) (*cacheEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.deks == nil {
		return nil, false
	}
	return c.deks.Peek(subject)
}

// len returns the number of cached DEKs (for tests).
func (c *keyCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.deks == nil {
		return 0
	}
	return c.deks.Len()
}
