// Package shredjournal is the shred journal: an append-only, hash-chained file recording every
// key destruction, kept apart from the key store and from backups, so that a restore of an
// older backup can destroy again every key destroyed since (`arkiv backup restore`).
//
// The file holds one JSON object per line:
//
//	{"seq":1,"at":"2026-12-04T10:00:00Z","kind":"destroyed","subject":"user:…","reason":"erasure …","prev":"<64 hex>"}
//
// prev is the SHA-256 (hex) of the previous line's bytes without its newline, and 64 zeros on
// the first line; seq counts from 1. A line is fsynced before Append returns, and appends from
// several processes are serialised by an exclusive flock on the file. Entries carry subject
// ids (pseudonymous identifiers such as "user:<uuid>"), never key material or personal data.
package shredjournal

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/keyring"
)

// Entry kinds.
const (
	// KindDestroyed records a destroyed key.
	KindDestroyed = "destroyed"
	// KindRestore records a restore of a backup (and whether the journal check was
	// overridden); it destroys nothing.
	KindRestore = "restore"
)

// zeroHash is prev of the first line.
var zeroHash = strings.Repeat("0", 64)

// Entry is one line of the journal.
type Entry struct {
	Seq     uint64    `json:"seq"`
	At      time.Time `json:"at"`
	Kind    string    `json:"kind"`
	Subject string    `json:"subject,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	// Note is free text of a restore entry (the backup id, the override).
	Note string `json:"note,omitempty"`
	Prev string `json:"prev"`
}

// Head identifies the last line of a journal: its sequence number and hash. A backup records
// the head it was taken at, so a restore can tell a journal that lost lines.
type Head struct {
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
}

// ErrMissing is returned by Read when the journal file does not exist (KindUnavailable).
var ErrMissing = domain.E(domain.KindUnavailable, "shredjournal.read", "the shred journal does not exist")

// ErrBroken is wrapped by errors about a journal whose chain does not verify (KindConflict).
var ErrBroken = domain.E(domain.KindConflict, "shredjournal.read", "the shred journal's hash chain is broken")

// Journal appends to one journal file. It implements keyring.ShredJournal. It is safe for
// concurrent use, also by several processes on the same file.
type Journal struct {
	path string
	mu   sync.Mutex
}

var _ keyring.ShredJournal = (*Journal)(nil)

// Open returns the journal at path, creating the file (mode 0600, directory 0700) when it does
// not exist. It checks the chain of an existing file and refuses a broken one.
func Open(path string) (*Journal, error) {
	const op = "shredjournal.open"
	if path == "" {
		return nil, domain.E(domain.KindInvalid, op, "no shred journal path (ARKIV_SHRED_JOURNAL)")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, domain.Wrap(domain.KindUnavailable, op, err, "cannot create the shred journal's directory")
	}
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		return nil, domain.Wrap(domain.KindUnavailable, op, err, "cannot open the shred journal")
	}
	defer f.Close()
	if errors.Is(statErr, fs.ErrNotExist) {
		// A new journal's directory entry is durable before any destruction relies on it.
		if d, err := os.Open(filepath.Dir(path)); err == nil {
			_ = d.Sync()
			d.Close()
		}
	}
	if _, _, err := readAll(f); err != nil {
		return nil, err
	}
	return &Journal{path: path}, nil
}

// Path returns the journal's file path.
func (j *Journal) Path() string { return j.path }

// RecordDestruction implements keyring.ShredJournal: it appends a KindDestroyed entry and
// fsyncs it before returning.
func (j *Journal) RecordDestruction(ctx context.Context, d keyring.Destruction) error {
	_, err := j.Append(ctx, Entry{At: d.DestroyedAt, Kind: KindDestroyed, Subject: d.Subject, Reason: d.Reason})
	return err
}

// Append writes e as the next line (Seq and Prev are filled in), fsyncs the file and returns
// the new head. It holds an exclusive flock while it reads the tail and writes.
func (j *Journal) Append(ctx context.Context, e Entry) (Head, error) {
	const op = "shredjournal.append"
	if err := ctx.Err(); err != nil {
		return Head{}, domain.Wrap(domain.KindUnavailable, op, err, "cancelled")
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	f, err := os.OpenFile(j.path, os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		return Head{}, domain.Wrap(domain.KindUnavailable, op, err, "cannot open the shred journal")
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return Head{}, domain.Wrap(domain.KindUnavailable, op, err, "cannot lock the shred journal")
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	head, err := tail(f)
	if err != nil {
		return Head{}, err
	}
	e.Seq, e.Prev = head.Seq+1, head.Hash
	if e.At.IsZero() {
		e.At = time.Now()
	}
	e.At = e.At.UTC()
	line, err := json.Marshal(e)
	if err != nil {
		return Head{}, domain.Wrap(domain.KindInternal, op, err, "")
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		return Head{}, domain.Wrap(domain.KindUnavailable, op, err, "cannot write the shred journal")
	}
	if err := f.Sync(); err != nil {
		return Head{}, domain.Wrap(domain.KindUnavailable, op, err, "cannot fsync the shred journal")
	}
	return Head{Seq: e.Seq, Hash: hashLine(line)}, nil
}

// Head returns the journal's current head (Seq 0 and the zero hash when it is empty).
func (j *Journal) Head() (Head, error) {
	_, h, err := Read(j.path)
	return h, err
}

// Read reads and verifies the whole journal at path. It returns ErrMissing when the file does
// not exist and an error wrapping ErrBroken when a line does not parse, its seq is out of
// order or its prev is not the previous line's hash.
func Read(path string) ([]Entry, Head, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, Head{}, ErrMissing
	}
	if err != nil {
		return nil, Head{}, domain.Wrap(domain.KindUnavailable, "shredjournal.read", err, "cannot read the shred journal")
	}
	defer f.Close()
	return readAll(f)
}

func readAll(r io.Reader) ([]Entry, Head, error) {
	var out []Entry
	head := Head{Hash: zeroHash}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e Entry
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			return nil, head, broken("line %d does not parse", head.Seq+1)
		}
		if e.Seq != head.Seq+1 {
			return nil, head, broken("line %d has sequence number %d", head.Seq+1, e.Seq)
		}
		if e.Prev != head.Hash {
			return nil, head, broken("line %d does not chain to the line before it", e.Seq)
		}
		if e.Kind != KindDestroyed && e.Kind != KindRestore {
			return nil, head, broken("line %d has an unknown kind", e.Seq)
		}
		out = append(out, e)
		head = Head{Seq: e.Seq, Hash: hashLine(line)}
	}
	if err := sc.Err(); err != nil {
		return nil, head, broken("cannot read: %v", err)
	}
	return out, head, nil
}

func broken(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBroken, fmt.Sprintf(format, args...))
}

// tail returns the head of the file f by reading its last line (the chain of the whole file
// was checked on Open).
func tail(f *os.File) (Head, error) {
	const op = "shredjournal.append"
	fi, err := f.Stat()
	if err != nil {
		return Head{}, domain.Wrap(domain.KindUnavailable, op, err, "cannot stat the shred journal")
	}
	size := fi.Size()
	if size == 0 {
		return Head{Hash: zeroHash}, nil
	}
	chunk := int64(4096)
	for {
		start := max(size-chunk, 0)
		buf := make([]byte, size-start)
		if _, err := f.ReadAt(buf, start); err != nil && !errors.Is(err, io.EOF) {
			return Head{}, domain.Wrap(domain.KindUnavailable, op, err, "cannot read the shred journal")
		}
		if buf[len(buf)-1] != '\n' {
			return Head{}, broken("the last line is incomplete")
		}
		body := buf[:len(buf)-1]
		i := bytes.LastIndexByte(body, '\n')
		if i < 0 && start > 0 {
			chunk *= 4
			continue
		}
		line := body[i+1:]
		var e Entry
		if err := json.Unmarshal(line, &e); err != nil {
			return Head{}, broken("the last line does not parse")
		}
		return Head{Seq: e.Seq, Hash: hashLine(line)}, nil
	}
}

func hashLine(line []byte) string {
	h := sha256.Sum256(line)
	return hex.EncodeToString(h[:])
}

// Contains reports whether the journal at path holds head: its line head.Seq exists and
// hashes to head.Hash. A backup's recorded head that the journal does not contain means
// the journal lost lines or was replaced.
func Contains(path string, head Head) (bool, error) {
	if head.Seq == 0 {
		return true, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return false, domain.Wrap(domain.KindUnavailable, "shredjournal.contains", err, "cannot read the shred journal")
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var n uint64
	for sc.Scan() {
		n++
		if n == head.Seq {
			return hashLine(sc.Bytes()) == head.Hash, nil
		}
	}
	return false, sc.Err()
}
