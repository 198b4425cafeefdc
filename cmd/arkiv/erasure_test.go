package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arkiv/arkiv/evidence"
	"github.com/arkiv/arkiv/ledger"
)

// TestErasureVerify: `arkiv erasure verify` accepts a certificate signed with the ledger
// key, and refuses one with a changed byte, one signed by another key and an unsigned one.
func TestErasureVerify(t *testing.T) {
	dir := t.TempDir()
	key := func(name string) (*ledger.Key, string) {
		skey, vkey, err := ledger.GenerateKey("arkiv.test/" + name)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name)
		if err := ledger.WriteKeyFile(path, skey, vkey); err != nil {
			t.Fatal(err)
		}
		k, err := ledger.LoadKeyFile(path)
		if err != nil {
			t.Fatal(err)
		}
		pub := path + ".pub"
		if err := os.WriteFile(pub, []byte(k.VerifierKey+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return k, pub
	}
	k, pub := key("ledger")
	other, _ := key("other")
	at := time.Date(2026, 3, 17, 10, 0, 0, 0, time.UTC)
	cert := evidence.Certificate{Schema: evidence.CertificateSchema, ErasureID: "00000000-0000-4000-8000-000000000201",
		SubjectType: "document", SubjectID: "00000000-0000-4000-8000-0000000000d1", Origin: "DeleteDocument",
		RequestedAt: at.AddDate(0, 0, -14), RestorableUntil: at, CompletedAt: at, CertifiedAt: at,
		KeysDestroyed: []evidence.DestroyedKey{{KeyID: "document:00000000-0000-4000-8000-0000000000d1", DestroyedAt: at}},
		PostCheck:     evidence.PostCheck{FieldsChecked: 3, DecryptionFail: true, Passed: true}}
	write := func(name string, signer *ledger.Key) string {
		var text string
		var err error
		if signer != nil {
			text, _, err = evidence.SignCertificate(cert, signer.Signer)
		} else {
			text, _, err = evidence.SignCertificate(cert, nil)
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	call := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		env := &cliEnv{stdout: &out, stderr: &errOut, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		return run(context.Background(), env, args), out.String(), errOut.String()
	}
	good := write("good", k)
	if code, out, stderr := call("erasure", "verify", good, "--key", pub); code != 0 || !strings.Contains(out, "post-check passed") {
		t.Fatalf("a signed certificate: exit %d: %s %s", code, out, stderr)
	}
	raw, _ := os.ReadFile(good)
	tampered := filepath.Join(dir, "tampered")
	_ = os.WriteFile(tampered, bytes.Replace(raw, []byte(`"fieldsChecked":3`), []byte(`"fieldsChecked":4`), 1), 0o644)
	for name, file := range map[string]string{"tampered": tampered, "another key's": write("other", other), "unsigned": write("bare", nil)} {
		if code, _, stderr := call("erasure", "verify", file, "--key", pub); code == 0 || stderr == "" {
			t.Fatalf("a %s certificate verified (exit %d)", name, code)
		}
	}
}
