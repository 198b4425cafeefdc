package evidence

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/arkiv/arkiv/domain"
)

// CertificateSchema names the erasure certificate's JSON form.
const CertificateSchema = "arkiv.erasure-certificate.v1"

// Certificate is the record that an erasure happened: what was erased (pseudonymously), who
// ordered it and why, when, which keys were destroyed, what each store purged, and the
// checks made afterwards. Its canonical form is its JSON encoding on one line; signed, it is
// the body of a C2SP signed note under the ledger key, so it verifies offline with the
// ledger's public key alone (VerifyCertificate).
type Certificate struct {
	Schema         string `json:"schema"`
	ErasureID      string `json:"erasureId"`
	OrganizationID string `json:"organizationId"`
	// SubjectType and SubjectID name the erased subject by its pseudonymous id.
	SubjectType string `json:"subjectType"`
	SubjectID   string `json:"subjectId"`
	SpaceID     string `json:"spaceId,omitempty"`
	// OrderedBy is the pseudonymous id of who gave the order, Origin the command it was
	// given through (RequestErasure, DeleteDocument…), LegalBasis the reason stated.
	OrderedBy       string    `json:"orderedBy"`
	Origin          string    `json:"origin"`
	LegalBasis      string    `json:"legalBasis"`
	RequestedAt     time.Time `json:"requestedAt"`
	RestorableUntil time.Time `json:"restorableUntil"`
	CompletedAt     time.Time `json:"completedAt"`
	CertifiedAt     time.Time `json:"certifiedAt"`
	// KeysDestroyed are the keyring keys destroyed: one data key per keyring subject,
	// named by the subject (the key's id).
	KeysDestroyed []DestroyedKey `json:"keysDestroyed"`
	// Purged says what each store removed.
	Purged []StorePurge `json:"purged"`
	// PostCheck is what was verified after the destruction.
	PostCheck PostCheck `json:"postCheck"`
	// Notes say what the certificate does not cover, if anything.
	Notes []string `json:"notes,omitempty"`
}

// DestroyedKey is one destroyed data key.
type DestroyedKey struct {
	KeyID       string    `json:"keyId"`
	DestroyedAt time.Time `json:"destroyedAt"`
}

// StorePurge is what one store purged for the erasure.
type StorePurge struct {
	// Store is e.g. "postgres.readmodel", "weaviate", "postgres.model_invocations".
	Store string `json:"store"`
	// Rows are read-model rows deleted or blanked; Objects are Weaviate objects deleted;
	// Tenants are Weaviate tenants deleted; Payloads are logged model payloads made
	// unreadable.
	Rows     int64  `json:"rows"`
	Objects  int64  `json:"objects,omitempty"`
	Tenants  int    `json:"tenants,omitempty"`
	Payloads int64  `json:"payloads,omitempty"`
	Note     string `json:"note,omitempty"`
}

// PostCheck is the verification after destruction: every sealed field of the subject's
// events that depends on a destroyed key fails to decrypt, and a scan of Postgres and
// Weaviate finds nothing derived from the subject.
type PostCheck struct {
	// FieldsChecked sealed fields under a destroyed key were decoded; FieldsReadable of them
	// still opened (must be 0).
	FieldsChecked  int  `json:"fieldsChecked"`
	FieldsReadable int  `json:"fieldsReadable"`
	DecryptionFail bool `json:"decryptionFails"`
	// Scans are the canary scans, one per store.
	Scans []CanaryScan `json:"scans"`
	// Passed is true when decryption fails and every scan found nothing.
	Passed bool `json:"passed"`
}

// CanaryScan is one store's scan for what was derived from the subject.
type CanaryScan struct {
	Store   string `json:"store"`
	Checked string `json:"checked"`
	Found   int64  `json:"found"`
}

// Body returns the certificate's canonical text: its JSON on one line and a newline.
func (c Certificate) Body() ([]byte, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// SignCertificate returns the certificate as a signed note under signer; with a nil signer
// it returns the bare body (an installation without a ledger key), and signed false.
func SignCertificate(c Certificate, signer note.Signer) (text string, signed bool, err error) {
	body, err := c.Body()
	if err != nil {
		return "", false, err
	}
	if signer == nil {
		return string(body), false, nil
	}
	msg, err := note.Sign(&note.Note{Text: string(body)}, signer)
	if err != nil {
		return "", false, domain.Wrap(domain.KindInternal, "evidence.sign_certificate", err, "sign the certificate")
	}
	return string(msg), true, nil
}

// ErrCertificateUnsigned is returned by VerifyCertificate for a certificate without a
// signature.
var ErrCertificateUnsigned = errors.New("evidence: the certificate is not signed")

// VerifyCertificate checks a signed certificate against the trusted ledger keys and returns
// it: a changed byte, a signature by another key or a missing one fails.
func VerifyCertificate(text []byte, keys note.Verifiers) (Certificate, error) {
	var c Certificate
	if !bytes.Contains(text, []byte("\n\n")) {
		return c, ErrCertificateUnsigned
	}
	n, err := note.Open(text, keys)
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal([]byte(strings.TrimSuffix(n.Text, "\n")), &c); err != nil {
		return c, err
	}
	if c.Schema != CertificateSchema {
		return c, errors.New("evidence: not an erasure certificate")
	}
	return c, nil
}

// ParseCertificate reads a certificate, signed or not, without verifying it.
func ParseCertificate(text string) (Certificate, error) {
	body, _, _ := strings.Cut(text, "\n\n")
	var c Certificate
	err := json.Unmarshal([]byte(strings.TrimSpace(body)), &c)
	return c, err
}
