package ledger

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// Checkpoint is a signed statement of the tree: the log's origin (its name, also the
// signing key's name), the number of leaves and the root hash over them.
type Checkpoint struct {
	Origin string
	Size   uint64
	Root   []byte
}

// Body returns the checkpoint's C2SP tlog-checkpoint body: the origin, the decimal size
// and the base64 root hash, each on its own line. It is the text of the signed note.
func (c Checkpoint) Body() []byte {
	return []byte(fmt.Sprintf("%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Root)))
}

// ErrBadCheckpoint is wrapped by the errors of ParseCheckpoint and OpenCheckpoint for text
// that is not a checkpoint.
var ErrBadCheckpoint = errors.New("not a tlog checkpoint")

// ParseCheckpoint parses a checkpoint body. Extension lines after the root are allowed
// (C2SP) and ignored.
func ParseCheckpoint(body []byte) (Checkpoint, error) {
	lines := strings.SplitN(string(body), "\n", 4)
	if len(lines) < 4 {
		return Checkpoint{}, fmt.Errorf("%w: too few lines", ErrBadCheckpoint)
	}
	if lines[0] == "" {
		return Checkpoint{}, fmt.Errorf("%w: empty origin", ErrBadCheckpoint)
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil || (lines[1] != "0" && strings.HasPrefix(lines[1], "0")) {
		return Checkpoint{}, fmt.Errorf("%w: bad tree size %q", ErrBadCheckpoint, lines[1])
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != 32 {
		return Checkpoint{}, fmt.Errorf("%w: bad root hash", ErrBadCheckpoint)
	}
	return Checkpoint{Origin: lines[0], Size: size, Root: root}, nil
}

// Sign returns the checkpoint as a signed note. The signer's name must be the origin.
func (c Checkpoint) Sign(s note.Signer) ([]byte, error) {
	if s.Name() != c.Origin {
		return nil, fmt.Errorf("ledger: key %q cannot sign checkpoints of origin %q", s.Name(), c.Origin)
	}
	return note.Sign(&note.Note{Text: string(c.Body())}, s)
}

// OpenCheckpoint verifies a signed checkpoint note against the trusted keys and parses it.
// It also returns the verified signatures (their key names and hashes say which key signed,
// which matters after a key rotation). A note with no signature by a trusted key, or with a
// bad one, fails with note's errors (note.UnverifiedNoteError, note.InvalidSignatureError).
// The origin must be the name of a key that signed it.
func OpenCheckpoint(msg []byte, keys note.Verifiers) (Checkpoint, []note.Signature, error) {
	n, err := note.Open(msg, keys)
	if err != nil {
		return Checkpoint{}, nil, err
	}
	c, err := ParseCheckpoint([]byte(n.Text))
	if err != nil {
		return Checkpoint{}, nil, err
	}
	for _, s := range n.Sigs {
		if s.Name == c.Origin {
			return c, n.Sigs, nil
		}
	}
	return Checkpoint{}, nil, fmt.Errorf("%w: origin %q is not the name of a key that signed it", ErrBadCheckpoint, c.Origin)
}

// Equal reports whether two checkpoints state the same tree.
func (c Checkpoint) Equal(d Checkpoint) bool {
	return c.Origin == d.Origin && c.Size == d.Size && bytes.Equal(c.Root, d.Root)
}

// String is the checkpoint's size and root, for messages.
func (c Checkpoint) String() string {
	return fmt.Sprintf("checkpoint %s size %d root %s", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Root))
}
