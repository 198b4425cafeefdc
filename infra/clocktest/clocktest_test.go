package clocktest

import (
	"testing"
	"time"
)

func TestAdvanceMovesNowForward(t *testing.T) {
	var c Clock
	before := time.Now()
	c.Advance(48 * time.Hour)
	got := c.Now()
	if got.Sub(before) < 48*time.Hour || got.Sub(before) > 48*time.Hour+time.Minute {
		t.Fatalf("Now after Advance(48h) is %s after the wall clock", got.Sub(before))
	}
}
