package portability

import (
	"archive/zip"
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/arkiv/arkiv/domain"
)

// DirSink writes an export's files into a directory, which must exist.
type DirSink string

// Create implements Sink: a new file (never overwriting one).
func (d DirSink) Create(name string) (io.WriteCloser, error) {
	return os.OpenFile(filepath.Join(string(d), name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
}

// ZipDir writes the organisation export in dir to w as a zip: the sections in manifest
// order, then the manifest. It streams each file, so memory stays constant.
func ZipDir(dir string, w io.Writer) error {
	zw := zip.NewWriter(w)
	for _, name := range append(append([]string(nil), Sections...), ManifestFile) {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		dst, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate})
		if err == nil {
			_, err = io.Copy(dst, bufio.NewReaderSize(f, 256<<10))
		}
		_ = f.Close()
		if err != nil {
			return err
		}
	}
	return zw.Close()
}

// VerifyOrganization reads an organisation export back (a directory as os.DirFS, or a zip
// as *zip.Reader) and checks every file against the manifest: its SHA-256, its size and its
// count of lines, each of which must be one JSON object. It returns the manifest; an export
// whose files do not match is a KindInvalid error naming the file.
func VerifyOrganization(fsys fs.FS) (Manifest, error) {
	const op = "portability.verify_organization"
	b, err := fs.ReadFile(fsys, ManifestFile)
	if err != nil {
		return Manifest{}, domain.Wrap(domain.KindInvalid, op, err, "the export has no readable manifest.json")
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil || m.Format != OrganizationFormat {
		return Manifest{}, domain.E(domain.KindInvalid, op, "manifest.json is not an organisation export's manifest")
	}
	for _, f := range m.Files {
		if err := verifyFile(fsys, f); err != nil {
			return Manifest{}, domain.Wrap(domain.KindInvalid, op, err, fmt.Sprintf("%s does not match the manifest", f.Name))
		}
	}
	return m, nil
}

func verifyFile(fsys fs.FS, f File) error {
	r, err := fsys.Open(f.Name)
	if err != nil {
		return err
	}
	defer r.Close()
	h := sha256.New()
	sc := bufio.NewScanner(io.TeeReader(r, h))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var lines, n int64
	for sc.Scan() {
		n += int64(len(sc.Bytes())) + 1
		lines++
		if !json.Valid(sc.Bytes()) || len(sc.Bytes()) == 0 || sc.Bytes()[0] != '{' {
			return errors.New("a line is not a JSON object")
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != f.SHA256 || n != f.Bytes || lines != f.Records {
		return errors.New("hash, size or record count differs")
	}
	return nil
}
