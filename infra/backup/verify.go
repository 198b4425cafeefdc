package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"golang.org/x/mod/sumdb/note"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/keyring"
)

// VerifyOptions says what Verify checks beyond the files' hashes.
type VerifyOptions struct {
	// Keys, when set, decrypts every file (which authenticates it) and checks that the key
	// store and the log in the backup are mutually consistent.
	Keys KeySource
	// Verifier checks manifest.sig; when nil a signature present is reported unchecked.
	Verifier note.Verifier
	// RequireSignature fails a backup that has no manifest.sig.
	RequireSignature bool
}

// Report is what Verify found.
type Report struct {
	Files            int
	Bytes            int64
	Signed           bool
	SignatureChecked bool
	// ManifestAuthenticated is set when manifest.mac matched under the backup key.
	ManifestAuthenticated bool
	// Decrypted is set when every file was decrypted and the consistency check ran.
	Decrypted bool
	// Rows per table ("schema.table").
	Rows map[string]int64
	// Subjects is how many distinct subjects the log's sealed fields refer to; every one
	// has a live key or a tombstone in the backup's key store.
	Subjects  int
	Keys      int
	Destroyed int
}

// Verify checks a backup: the manifest parses; the signature verifies; every file listed is
// there with its size and SHA-256 and no file is there that is not listed; and, with Keys,
// every file decrypts, holds the rows the manifest says, the log ends at the recorded
// position, no subject is both live and destroyed, and every subject named in the header of
// a sealed field ("ak1." envelope) of any event in the backup has a key or a tombstone in the
// backup's key store. That last check holds by construction (a key is created before the
// first event sealed under it is appended, and the log's snapshot is taken before the key
// store's); a failure means the two stores in the backup do not belong together.
func Verify(ctx context.Context, dir string, opt VerifyOptions) (*Manifest, Report, error) {
	const op = "backup.verify"
	rep := Report{Rows: map[string]int64{}}
	m, raw, err := ReadManifest(dir)
	if err != nil {
		return nil, rep, err
	}
	if _, err := os.Stat(filepath.Join(dir, SignatureFile)); err == nil {
		rep.Signed = true
		if opt.Verifier != nil {
			if err := checkSignature(dir, m.ID, raw, opt.Verifier); err != nil {
				return m, rep, domain.Wrap(domain.KindConflict, op, err, "the backup's signature does not verify")
			}
			rep.SignatureChecked = true
		}
	} else if opt.RequireSignature {
		return m, rep, domain.E(domain.KindConflict, op, "the backup is not signed")
	}

	listed := map[string]File{}
	for _, f := range m.Files {
		if !fs.ValidPath(f.Name) || f.Name == "." || f.Name == ManifestFile || f.Name == SignatureFile || f.Name == MACFile {
			return m, rep, domain.Errorf(domain.KindConflict, op, "the manifest lists a bad file name %q", f.Name)
		}
		listed[f.Name] = f
	}
	var extra []string
	err = filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if e.IsDir() || rel == ManifestFile || rel == SignatureFile || rel == MACFile {
			return nil
		}
		if _, ok := listed[rel]; !ok {
			extra = append(extra, rel)
		}
		return nil
	})
	if err != nil {
		return m, rep, domain.Wrap(domain.KindUnavailable, op, err, "cannot list the backup")
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return m, rep, domain.Errorf(domain.KindConflict, op, "the backup holds files its manifest does not list: %v", extra)
	}
	for _, f := range m.Files {
		if err := checkFile(dir, f); err != nil {
			return m, rep, domain.Wrap(domain.KindConflict, op, err, "backup file "+f.Name+" is missing or changed")
		}
		rep.Files++
		rep.Bytes += f.Size
	}
	for _, db := range m.Databases {
		for _, t := range db.Tables {
			for _, f := range t.Files {
				if _, ok := listed[f]; !ok {
					return m, rep, domain.Errorf(domain.KindConflict, op, "the manifest's table %s.%s names an unlisted file", t.Schema, t.Name)
				}
			}
		}
	}
	if opt.Keys == nil {
		return m, rep, nil
	}
	key, err := BackupKey(m, opt.Keys)
	if err != nil {
		return m, rep, err
	}
	err = checkMAC(dir, key, raw)
	clear(key)
	if err != nil {
		return m, rep, err
	}
	rep.ManifestAuthenticated = true
	if err := consistent(ctx, dir, m, opt.Keys, &rep); err != nil {
		return m, rep, err
	}
	rep.Decrypted = true
	return m, rep, nil
}

func checkFile(dir string, f File) error {
	fh, err := os.Open(filepath.Join(dir, filepath.FromSlash(f.Name)))
	if err != nil {
		return err
	}
	defer fh.Close()
	h := sha256.New()
	n, err := io.Copy(h, fh)
	if err != nil {
		return err
	}
	if n != f.Size {
		return fmt.Errorf("size %d, manifest says %d", n, f.Size)
	}
	if hex.EncodeToString(h.Sum(nil)) != f.SHA256 {
		return errors.New("SHA-256 differs from the manifest")
	}
	return nil
}

// BackupKey derives m's backup key.
func BackupKey(m *Manifest, keys KeySource) ([]byte, error) {
	salt, err := base64.StdEncoding.DecodeString(m.KeySalt)
	if err != nil {
		return nil, domain.E(domain.KindInvalid, "backup.key", "the manifest's key salt is not base64")
	}
	return keys.DeriveKey(m.KEKVersion, salt, keyInfo)
}

// eachRow decrypts the files of t and calls fn with each row's fields.
func eachRow(dir string, key []byte, t Table, fn func(fields [][]byte) error) (int64, error) {
	var n int64
	for _, name := range t.Files {
		fh, err := os.Open(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil {
			return n, err
		}
		or, err := newOpenReader(fh, key, name)
		if err != nil {
			fh.Close()
			return n, err
		}
		cr, err := newCopyReader(or)
		if err != nil {
			fh.Close()
			return n, fmt.Errorf("%s: %w", name, err)
		}
		for {
			fields, err := cr.next()
			if err == io.EOF {
				break
			}
			if err != nil {
				fh.Close()
				return n, fmt.Errorf("%s: %w", name, err)
			}
			if len(fields) != len(t.Columns) {
				fh.Close()
				return n, fmt.Errorf("%s: a row has %d fields, the table %d columns", name, len(fields), len(t.Columns))
			}
			n++
			if fn != nil {
				if err := fn(fields); err != nil {
					fh.Close()
					return n, err
				}
			}
		}
		// The reader must reach the authenticated last chunk.
		if _, err := io.Copy(io.Discard, or); err != nil {
			fh.Close()
			return n, fmt.Errorf("%s: %w", name, err)
		}
		fh.Close()
	}
	return n, nil
}

func colIndex(t Table, name string) int {
	for i, c := range t.Columns {
		if c.Name == name {
			return i
		}
	}
	return -1
}

// consistent decrypts every table and checks the key store against the log.
func consistent(ctx context.Context, dir string, m *Manifest, keys KeySource, rep *Report) error {
	const op = "backup.verify"
	key, err := BackupKey(m, keys)
	if err != nil {
		return err
	}
	defer clear(key)
	live, dead := map[string]bool{}, map[string]bool{}
	referenced := map[string]bool{}
	var head *int64
	for _, db := range m.Databases {
		for _, t := range db.Tables {
			if err := ctx.Err(); err != nil {
				return err
			}
			var fn func([][]byte) error
			switch {
			case db.Role == RoleKeystore && (t.Name == "keyring_keys" || t.Name == "keyring_tombstones"):
				i := colIndex(t, "subject")
				if i < 0 {
					return domain.Errorf(domain.KindConflict, op, "%s has no subject column", t.Name)
				}
				set := live
				if t.Name == "keyring_tombstones" {
					set = dead
				}
				fn = func(f [][]byte) error { set[string(f[i])] = true; return nil }
			case db.Role == RoleEventStore && t.Name == "events":
				ip, id, im := colIndex(t, "pos"), colIndex(t, "data"), colIndex(t, "metadata")
				if ip < 0 || id < 0 {
					return domain.E(domain.KindConflict, op, "the events table has no pos or data column")
				}
				fn = func(f [][]byte) error {
					if len(f[ip]) == 8 {
						p := int64(binary.BigEndian.Uint64(f[ip]))
						if head == nil || p > *head {
							head = &p
						}
					}
					referencedSubjects(f[id], referenced)
					if im >= 0 {
						referencedSubjects(f[im], referenced)
					}
					return nil
				}
			}
			n, err := eachRow(dir, key, t, fn)
			if err != nil {
				return domain.Wrap(domain.KindConflict, op, err, "table "+t.Schema+"."+t.Name+" does not decrypt or parse")
			}
			if n != t.Rows {
				return domain.Errorf(domain.KindConflict, op, "table %s.%s holds %d rows, the manifest says %d", t.Schema, t.Name, n, t.Rows)
			}
			rep.Rows[t.Schema+"."+t.Name] = n
		}
	}
	if m.Backend == BackendEmbedded {
		switch {
		case head == nil && m.LogPosition != nil, head != nil && (m.LogPosition == nil || uint64(*head) != m.LogPosition.Commit):
			return domain.E(domain.KindConflict, op, "the log in the backup does not end at the manifest's position")
		}
	}
	for s := range live {
		if dead[s] {
			return domain.E(domain.KindConflict, op, "a subject has both a live key and a tombstone")
		}
	}
	var missing int
	for s := range referenced {
		if !live[s] && !dead[s] {
			missing++
		}
	}
	if missing > 0 {
		return domain.Errorf(domain.KindConflict, op,
			"%d subjects that events in the backup are sealed under have neither a key nor a tombstone in its key store", missing)
	}
	rep.Subjects, rep.Keys, rep.Destroyed = len(referenced), len(live), len(dead)
	return nil
}

// referencedSubjects adds the subjects of every "ak1." envelope in the JSON data to set.
func referencedSubjects(data []byte, set map[string]bool) {
	const marker = `"` + keyring.EncryptedPrefix
	for {
		i := bytes.Index(data, []byte(marker))
		if i < 0 {
			return
		}
		data = data[i+len(marker):]
		j := bytes.IndexByte(data, '"')
		if j < 0 {
			return
		}
		blob, err := base64.RawURLEncoding.DecodeString(string(data[:j]))
		data = data[j:]
		if err != nil {
			continue
		}
		subs, err := keyring.BlobSubjects(blob)
		if err != nil {
			continue
		}
		for _, s := range subs {
			set[s.String()] = true
		}
	}
}
