package portability

import (
	"archive/zip"
	"bufio"
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

// WriteOrganization runs ExportOrganization into out: a directory (created; it must not
// exist) or, when out ends in ".zip", a zip file (built from a temporary directory beside it,
// removed afterwards). It returns the manifest and the hex SHA-256 of manifest.json. On
// failure nothing is left at out.
func WriteOrganization(ctx context.Context, src Source, op Opener, req OrganizationRequest, out string) (Manifest, string, error) {
	if _, err := os.Stat(out); err == nil {
		return Manifest{}, "", domain.Errorf(domain.KindConflict, "portability.write_organization", "%s exists; an export never overwrites", out)
	}
	zipped := strings.HasSuffix(strings.ToLower(out), ".zip")
	dir := out
	if zipped {
		tmp, err := os.MkdirTemp(filepath.Dir(out), ".arkiv-export-*")
		if err != nil {
			return Manifest{}, "", err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	} else if err := os.Mkdir(out, 0o700); err != nil {
		return Manifest{}, "", err
	}
	fail := func(err error) (Manifest, string, error) {
		if !zipped {
			_ = os.RemoveAll(out)
		}
		return Manifest{}, "", err
	}
	m, err := ExportOrganization(ctx, src, op, req, DirSink(dir))
	if err != nil {
		return fail(err)
	}
	mb, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return fail(err)
	}
	sum := sha256.Sum256(mb)
	if zipped {
		f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fail(err)
		}
		err = ZipDir(dir, f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_ = os.Remove(out)
			return fail(err)
		}
	}
	return m, hex.EncodeToString(sum[:]), nil
}
