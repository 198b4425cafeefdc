// Package evidence builds and verifies DPIA evidence bundles: a zip of JSON files that show,
// for one organisation and one period, which safeguards were configured and how they were
// exercised, with a manifest of every file's SHA-256 and size signed (as a C2SP signed note)
// with the ledger's Ed25519 key, so an auditor can check the bundle offline. It holds the
// pure logic — the configuration fold, the statistics, the manifest, the report, the zip —
// and reads the log through the small Source port it declares.
package evidence

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/arkiv/arkiv/ledger"
)

// Format names the bundle layout; it is the manifest's first field.
const Format = "arkiv-evidence/v1"

// The bundle's own files, besides the content files the manifest lists.
const (
	ManifestFile  = "manifest.json"
	SignatureFile = "manifest.sig"
)

// zipTime is the modification time of every zip entry, fixed so that two exports of the
// same period are byte-identical in their content files.
var zipTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// File is one content file of a bundle.
type File struct {
	Name string
	Data []byte
}

// FileEntry is a file's line in the manifest.
type FileEntry struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// ManifestCheckpoint is the signed checkpoint that covers the period's last event.
type ManifestCheckpoint struct {
	Origin string `json:"origin"`
	Size   uint64 `json:"treeSize"`
	Root   string `json:"root"`
	// Note is the checkpoint's signed note, verbatim.
	Note string `json:"note"`
	// Covers is false when no checkpoint after the period's end exists yet: the checkpoint is
	// then the newest one, and the period's tail is not anchored.
	Covers bool `json:"coversPeriodEnd"`
}

// Manifest describes a bundle: the organisation, the period, the Arkiv version, the covering
// checkpoint and every content file. It is signed as a note with the ledger key.
type Manifest struct {
	Format       string              `json:"format"`
	Organization string              `json:"organization"`
	From         time.Time           `json:"from"`
	To           time.Time           `json:"to"`
	ArkivVersion string              `json:"arkivVersion"`
	WithNames    bool                `json:"withNames"`
	Checkpoint   *ManifestCheckpoint `json:"checkpoint"`
	Files        []FileEntry         `json:"files"`
	// SignedAt is when the manifest was signed: the only field two exports of the same
	// period may differ in.
	SignedAt time.Time `json:"signedAt"`
}

// Encode returns the manifest's canonical JSON (indented, ending in a newline): the text of
// the signed note.
func (m Manifest) Encode() ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Write writes the bundle: the content files (sorted by name), manifest.json listing them
// with their SHA-256 and size, and manifest.sig, the manifest signed as a note by signer.
// m.Files is filled in here. Every zip entry carries the same fixed time.
func Write(w io.Writer, files []File, m Manifest, signer note.Signer) (Manifest, error) {
	files = append([]File(nil), files...)
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	m.Format = Format
	m.Files = make([]FileEntry, len(files))
	for i, f := range files {
		if f.Name == ManifestFile || f.Name == SignatureFile {
			return m, fmt.Errorf("evidence: %s is a reserved file name", f.Name)
		}
		if i > 0 && files[i-1].Name == f.Name {
			return m, fmt.Errorf("evidence: file %s twice", f.Name)
		}
		sum := sha256.Sum256(f.Data)
		m.Files[i] = FileEntry{Name: f.Name, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(f.Data))}
	}
	mb, err := m.Encode()
	if err != nil {
		return m, err
	}
	sig, err := note.Sign(&note.Note{Text: string(mb)}, signer)
	if err != nil {
		return m, fmt.Errorf("evidence: signing the manifest: %w", err)
	}
	zw := zip.NewWriter(w)
	add := func(name string, data []byte) error {
		fw, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: zipTime})
		if err != nil {
			return err
		}
		_, err = fw.Write(data)
		return err
	}
	for _, f := range files {
		if err := add(f.Name, f.Data); err != nil {
			return m, err
		}
	}
	if err := add(ManifestFile, mb); err != nil {
		return m, err
	}
	if err := add(SignatureFile, sig); err != nil {
		return m, err
	}
	return m, zw.Close()
}

// The checks Verify runs; a VerifyError names one.
const (
	CheckZip        = "zip"        // the bundle is not a readable zip
	CheckPresent    = "present"    // a file the manifest lists is missing
	CheckExtra      = "extra"      // a file the manifest does not list
	CheckManifest   = "manifest"   // manifest.json does not parse or is not a bundle manifest
	CheckSignature  = "signature"  // manifest.sig is not the manifest signed by a trusted key
	CheckSize       = "size"       // a file's size differs from the manifest
	CheckSHA256     = "sha256"     // a file's SHA-256 differs from the manifest
	CheckCheckpoint = "checkpoint" // the manifest's checkpoint is not signed by a trusted key or differs
)

// VerifyError is the first thing Verify found wrong: the file and the check.
type VerifyError struct {
	File   string
	Check  string
	Detail string
}

// Error implements error.
func (e *VerifyError) Error() string {
	return fmt.Sprintf("%s: %s check failed: %s", e.File, e.Check, e.Detail)
}

// Verify checks a bundle offline with only the trusted keys: manifest.sig is manifest.json
// signed by a trusted key, every listed file is present with its size and SHA-256, no file is
// unlisted, and the manifest's checkpoint note is signed by a trusted key and says what the
// manifest says. It returns the manifest, or a *VerifyError naming the file and the check.
func Verify(r io.ReaderAt, size int64, keys note.Verifiers) (Manifest, error) {
	var m Manifest
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return m, &VerifyError{File: "(bundle)", Check: CheckZip, Detail: err.Error()}
	}
	contents := map[string][]byte{}
	for _, f := range zr.File {
		if _, dup := contents[f.Name]; dup {
			return m, &VerifyError{File: f.Name, Check: CheckExtra, Detail: "the file appears twice in the zip"}
		}
		rc, err := f.Open()
		if err != nil {
			return m, &VerifyError{File: f.Name, Check: CheckZip, Detail: err.Error()}
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return m, &VerifyError{File: f.Name, Check: CheckZip, Detail: err.Error()}
		}
		contents[f.Name] = b
	}
	mb, ok := contents[ManifestFile]
	if !ok {
		return m, &VerifyError{File: ManifestFile, Check: CheckPresent, Detail: "the bundle has no manifest"}
	}
	sig, ok := contents[SignatureFile]
	if !ok {
		return m, &VerifyError{File: SignatureFile, Check: CheckPresent, Detail: "the bundle has no manifest signature"}
	}
	n, err := note.Open(sig, keys)
	if err != nil {
		return m, &VerifyError{File: SignatureFile, Check: CheckSignature, Detail: "not a note signed by a trusted key: " + err.Error()}
	}
	if n.Text != string(mb) {
		return m, &VerifyError{File: ManifestFile, Check: CheckSignature, Detail: "the manifest differs from the signed one"}
	}
	if err := json.Unmarshal(mb, &m); err != nil || m.Format != Format {
		return m, &VerifyError{File: ManifestFile, Check: CheckManifest, Detail: fmt.Sprintf("not an %s manifest", Format)}
	}
	listed := map[string]bool{ManifestFile: true, SignatureFile: true}
	for _, fe := range m.Files {
		listed[fe.Name] = true
		b, ok := contents[fe.Name]
		if !ok {
			return m, &VerifyError{File: fe.Name, Check: CheckPresent, Detail: "listed in the manifest, missing from the bundle"}
		}
		if int64(len(b)) != fe.Size {
			return m, &VerifyError{File: fe.Name, Check: CheckSize, Detail: fmt.Sprintf("%d bytes, the manifest says %d", len(b), fe.Size)}
		}
		sum := sha256.Sum256(b)
		if hex.EncodeToString(sum[:]) != fe.SHA256 {
			return m, &VerifyError{File: fe.Name, Check: CheckSHA256, Detail: fmt.Sprintf("SHA-256 %x, the manifest says %s", sum, fe.SHA256)}
		}
	}
	names := make([]string, 0, len(contents))
	for name := range contents {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !listed[name] {
			return m, &VerifyError{File: name, Check: CheckExtra, Detail: "in the bundle, not listed in the manifest"}
		}
	}
	if c := m.Checkpoint; c != nil {
		cp, _, err := ledger.OpenCheckpoint([]byte(c.Note), keys)
		if err != nil {
			return m, &VerifyError{File: ManifestFile, Check: CheckCheckpoint, Detail: "the checkpoint is not signed by a trusted key: " + err.Error()}
		}
		if cp.Size != c.Size || cp.Origin != c.Origin || !bytes.Equal(cp.Root, mustB64(c.Root)) {
			return m, &VerifyError{File: ManifestFile, Check: CheckCheckpoint, Detail: "the signed checkpoint's size, origin or root differs from the manifest's"}
		}
	}
	return m, nil
}
