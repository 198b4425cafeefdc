package domain

import "time"

// Clock tells the time. Everything that depends on time — commands, authentication, the
// keyring, the event store, projections and process managers — takes one, so that tests can
// drive time by hand (infra/clocktest).
type Clock interface {
	Now() time.Time
}

// SystemClock is the wall clock, the one production Clock.
type SystemClock struct{}

// Now returns the current wall-clock time.
func (SystemClock) Now() time.Time { return time.Now() }
