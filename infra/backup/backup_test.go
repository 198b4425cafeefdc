package backup

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"testing"
	"time"
)

// TestSealedFilesRoundTripAndRefuseTampering: a file written by sealWriter reads back whole
// under its key and name, and fails with ErrCorrupt when a byte changes, it is truncated
// (also at a chunk boundary), read under another name or another key.
func TestSealedFilesRoundTripAndRefuseTampering(t *testing.T) {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	plain := make([]byte, 2*chunkSize+12345)
	_, _ = rand.Read(plain)
	var buf bytes.Buffer
	w, err := newSealWriter(&buf, key, "esdb/esdb.events.0000.enc")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(plain); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	sealed := buf.Bytes()
	read := func(data, key []byte, name string) ([]byte, error) {
		r, err := newOpenReader(bytes.NewReader(data), key, name)
		if err != nil {
			return nil, err
		}
		return io.ReadAll(r)
	}
	got, err := read(sealed, key, "esdb/esdb.events.0000.enc")
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("round trip: %d bytes, %v", len(got), err)
	}
	other := make([]byte, 32)
	flipped := append([]byte(nil), sealed...)
	flipped[len(flipped)/2] ^= 1
	chunk := len(fileMagic) + 5 + chunkSize + 16
	cases := map[string]func() ([]byte, error){
		"changed byte":        func() ([]byte, error) { return read(flipped, key, "esdb/esdb.events.0000.enc") },
		"truncated":           func() ([]byte, error) { return read(sealed[:len(sealed)-10], key, "esdb/esdb.events.0000.enc") },
		"cut at a chunk":      func() ([]byte, error) { return read(sealed[:chunk], key, "esdb/esdb.events.0000.enc") },
		"renamed":             func() ([]byte, error) { return read(sealed, key, "esdb/esdb.events.0001.enc") },
		"another key":         func() ([]byte, error) { return read(sealed, other, "esdb/esdb.events.0000.enc") },
		"data after the last": func() ([]byte, error) { return read(append(sealed, 0), key, "esdb/esdb.events.0000.enc") },
	}
	for name, fn := range cases {
		if _, err := fn(); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
}

func TestScheduleAndRetention(t *testing.T) {
	for in, want := range map[string]time.Duration{"": 24 * time.Hour, "daily": 24 * time.Hour, "hourly": time.Hour, "6h": 6 * time.Hour} {
		if d, err := ParseSchedule(in); err != nil || d != want {
			t.Errorf("ParseSchedule(%q) = %v, %v", in, d, err)
		}
	}
	for _, bad := range []string{"weekly", "10s", "-1h"} {
		if _, err := ParseSchedule(bad); err == nil {
			t.Errorf("ParseSchedule(%q) accepted", bad)
		}
	}
	for in, want := range map[string]time.Duration{"": 14 * 24 * time.Hour, "14d": 14 * 24 * time.Hour, "7": 7 * 24 * time.Hour, "36h": 36 * time.Hour} {
		if d, err := ParseRetention(in); err != nil || d != want {
			t.Errorf("ParseRetention(%q) = %v, %v", in, d, err)
		}
	}
	for _, bad := range []string{"x", "-3d", "0"} {
		if _, err := ParseRetention(bad); err == nil {
			t.Errorf("ParseRetention(%q) accepted", bad)
		}
	}
}
