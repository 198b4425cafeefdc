// Package clocktest gives tests an injected clock they control: the wall clock, moved
// forward by hand. It is safe for concurrent use, as the clocks it stands in for are.
package clocktest

import (
	"sync"
	"time"
)

// Clock is the wall clock plus an offset that only grows.
type Clock struct {
	mu     sync.Mutex
	offset time.Duration
}

// Now returns the wall-clock time moved forward by every Advance so far.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}
