package evidence

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/ledger"
)

// Source reads the log from its start, in log order, system events aside: the same
// entries the ledger's tree is built from.
type Source interface {
	// Scan calls fn with every entry in order; an error from fn stops the scan.
	Scan(ctx context.Context, fn func(ledger.Entry) error) error
}

// Decoder decodes an event's payload, decrypting its sealed fields (the keyring codec): a
// field whose subject is erased comes back redacted. Only --with-names uses it.
type Decoder interface {
	Decode(ctx context.Context, eventID string, data []byte, into any) error
}

// Request is what an export is asked for.
type Request struct {
	Organization string
	// From and To bound the period (business time, From inclusive, To exclusive).
	From, To time.Time
	// Version is the Arkiv version written into the manifest.
	Version string
	// Keys are the trusted verifier keys of the log; Signer signs the manifest (the ledger
	// key).
	Keys   note.Verifiers
	Signer note.Signer
	// SignedAt is the signing time written into the manifest.
	SignedAt time.Time
	// Names, when set, adds the names of users not erased (--with-names): never the name
	// of an erased user, whose key is destroyed or shredding.
	Names Decoder
	// Deployment, when set, is written as deployment.json: the settings of the exporting
	// installation that the log does not record (key management, TLS).
	Deployment *Deployment
	// Fold replaces the bundle's own configuration fold (nil: NewConfigFold).
	Fold func() Folder
}

// Deployment is what the exporting installation reports of itself, as observed at the
// export (not folded from the log): who holds the key-encryption key and its versions, the
// ledger's signing key, and the API's TLS.
type Deployment struct {
	// KEKHolder is "file" (ARKIV_KEK_FILE) or "external".
	KEKHolder         string   `json:"kekHolder"`
	KEKVersions       []uint32 `json:"kekVersions"`
	CurrentKEKVersion uint32   `json:"currentKekVersion"`
	// KEKHistory is the key store's record of every KEK version it used: when each came
	// into use and when the re-wrap of every live key under it (a rotation) started and
	// finished, oldest first.
	KEKHistory []KEKVersion `json:"kekHistory"`
	// DataKeys is how data keys are held: per subject, wrapped under the KEK.
	DataKeys string `json:"dataKeys"`
	// LedgerKey is the verifier key of the ledger's signing key (public).
	LedgerKey string `json:"ledgerKey"`
	// TLSConfigured reports whether the API serves HTTPS (ARKIV_TLS_CERT and ARKIV_TLS_KEY);
	// TLSMinVersion is the lowest version it accepts.
	TLSConfigured bool   `json:"tlsConfigured"`
	TLSMinVersion string `json:"tlsMinVersion"`
}

// KEKVersion is one key-encryption-key version in the key store's record. A version
// reached by rotation has RotationStartedAt and, once every live key was re-wrapped under it,
// RotationCompletedAt.
type KEKVersion struct {
	Version             uint32     `json:"version"`
	InUseSince          time.Time  `json:"inUseSince"`
	RotationStartedAt   *time.Time `json:"rotationStartedAt,omitempty"`
	RotationCompletedAt *time.Time `json:"rotationCompletedAt,omitempty"`
	KeysRewrapped       int64      `json:"keysRewrapped"`
}

// LastRotation returns the completion time of the most recent finished rotation, if any.
func (d *Deployment) LastRotation() (time.Time, bool) {
	var last time.Time
	for _, v := range d.KEKHistory {
		if v.RotationCompletedAt != nil && v.RotationCompletedAt.After(last) {
			last = *v.RotationCompletedAt
		}
	}
	return last, !last.IsZero()
}

// Change is one configuration or access change within the period.
type Change struct {
	At      time.Time       `json:"at"`
	Actor   string          `json:"actor"`
	Type    string          `json:"type"`
	EventID string          `json:"eventId"`
	Leaf    uint64          `json:"leaf"`
	Data    json.RawMessage `json:"data"`
}

// Result is what Export returns besides the bundle.
type Result struct {
	Manifest Manifest
	// ManifestSHA256 is the hex SHA-256 of manifest.json.
	ManifestSHA256 string
	// Events is the number of the organisation's events in the period.
	Events int
	// Verification is the verification of the whole log read.
	Verification ledger.Report
}

// ErrNoOrganization is returned when the log holds no event of the organisation.
var ErrNoOrganization = errors.New("evidence: no event of this organisation in the log")

type checkpointAt struct {
	cp   ledger.Checkpoint
	note string
	leaf uint64
	id   string
}

// Export reads the log once through src, verifies it, folds the organisation's
// configuration up to the period's start and through it, computes the period's statistics,
// and writes the signed bundle to w.
func Export(ctx context.Context, src Source, req Request, w io.Writer) (Result, error) {
	var res Result
	if req.Organization == "" || !req.From.Before(req.To) {
		return res, domain.E(domain.KindInvalid, "evidence.export", "an organisation and a period with from before to are required")
	}
	if req.Signer == nil || req.Keys == nil {
		return res, domain.E(domain.KindInvalid, "evidence.export", "a signing key is required")
	}
	from, to := req.From.UTC(), req.To.UTC()
	newFold := req.Fold
	if newFold == nil {
		newFold = func() Folder { return NewConfigFold() }
	}
	fold := newFold()
	cfg := NewConfigFold() // classification of spaces for the statistics
	stats := newStats()
	var (
		start, end     *State
		changes        []Change
		accessChanges  []Change
		cps            []checkpointAt
		leaf           uint64
		lo, hi         uint64
		inPeriod, seen int
		registered     []ledger.Entry
	)
	erasures := newErasureDoc()
	ver := startVerifier(ctx, req.Keys)
	batch := make([]ledger.Entry, 0, verifyBatch)
	var meta domain.Metadata
	err := src.Scan(ctx, func(en ledger.Entry) error {
		index := leaf
		leaf++
		batch = append(batch, en)
		if len(batch) == verifyBatch {
			if err := ver.send(batch); err != nil {
				return err
			}
			batch = make([]ledger.Entry, 0, verifyBatch)
		}
		if en.Stream == ledger.DefaultStream && en.Type == ledger.CheckpointType {
			var d ledger.CheckpointData
			if json.Unmarshal(en.Data, &d) == nil {
				body, _, _ := strings.Cut(d.Note, "\n\n")
				if cp, err := ledger.ParseCheckpoint([]byte(body + "\n")); err == nil {
					cps = append(cps, checkpointAt{cp: cp, note: d.Note, leaf: index, id: en.EventID})
				}
			}
			return nil
		}
		// Cheap filter before decoding: the organisation's id is in the metadata.
		if !bytes.Contains(en.Metadata, []byte(req.Organization)) {
			return nil
		}
		meta = domain.Metadata{}
		if err := json.Unmarshal(en.Metadata, &meta); err != nil || meta.Organization != req.Organization {
			return nil
		}
		seen++
		if req.Names != nil && en.Type == (domain.UserRegistered{}).EventName() {
			registered = append(registered, en)
		}
		e := Event{EventID: en.EventID, Stream: en.Stream, Revision: en.Revision, Type: en.Type, Data: en.Data, Meta: meta, Leaf: index}
		at := e.At()
		if !at.Before(to) {
			return nil
		}
		if err := erasures.add(e, at, from); err != nil {
			return err
		}
		if start == nil && !at.Before(from) {
			s := fold.State()
			start = &s
			lo = index
		}
		if _, err := cfg.Apply(e); err != nil {
			return fmt.Errorf("event %s (%s): %w", e.EventID, e.Type, err)
		}
		changed, err := fold.Apply(e)
		if err != nil {
			return fmt.Errorf("event %s (%s): %w", e.EventID, e.Type, err)
		}
		if at.Before(from) {
			return nil
		}
		inPeriod++
		hi = index + 1
		if changed {
			c := Change{At: at, Actor: e.Meta.Actor, Type: e.Type, EventID: strings.ToLower(e.EventID), Leaf: index, Data: redactedData(e)}
			if isAccessEvent(e.Type) {
				accessChanges = append(accessChanges, c)
			} else {
				changes = append(changes, c)
			}
		}
		return stats.add(e, cfg)
	})
	if err == nil {
		err = ver.send(batch)
	}
	rep, verr := ver.finish()
	if err != nil {
		return res, err
	}
	if verr != nil {
		return res, verr
	}
	if seen == 0 {
		return res, ErrNoOrganization
	}
	res.Verification, res.Events = rep, inPeriod
	if start == nil {
		s := fold.State()
		start = &s
		lo, hi = leaf, leaf
	}
	st := fold.State()
	end = &st
	if req.Names != nil {
		if err := addNames(ctx, req.Names, registered, start, end); err != nil {
			return res, err
		}
	}

	// The checkpoints covering the period: the last one at or before its first leaf, every
	// one in between, and the first that covers its last leaf.
	var covering []checkpointAt
	var cover *checkpointAt
	for i, c := range cps {
		switch {
		case c.cp.Size <= lo:
			if len(covering) > 0 && covering[len(covering)-1].cp.Size <= lo {
				covering = covering[:len(covering)-1]
			}
			covering = append(covering, c)
		case c.cp.Size < hi:
			covering = append(covering, c)
		case cover == nil:
			covering = append(covering, c)
			cover = &cps[i]
		}
	}
	m := Manifest{Organization: req.Organization, From: from, To: to, ArkivVersion: req.Version, WithNames: req.Names != nil,
		SignedAt: req.SignedAt.UTC()}
	coverOK := cover != nil
	if cover == nil && len(cps) > 0 {
		cover = &cps[len(cps)-1]
	}
	if cover != nil {
		m.Checkpoint = &ManifestCheckpoint{Origin: cover.cp.Origin, Size: cover.cp.Size, Root: base64.StdEncoding.EncodeToString(cover.cp.Root),
			Note: cover.note, Covers: coverOK}
	}

	integ := integrityDoc{Schema: "integrity.v1", PeriodLeaves: [2]uint64{lo, hi}, Checkpoints: []integrityCheckpoint{}}
	for _, c := range covering {
		integ.Checkpoints = append(integ.Checkpoints, integrityCheckpoint{EventID: strings.ToLower(c.id), Leaf: c.leaf, Origin: c.cp.Origin,
			Size: c.cp.Size, Root: base64.StdEncoding.EncodeToString(c.cp.Root), Note: c.note})
	}
	integ.Verification = verificationOf(rep, cover, coverOK)

	ctxDoc := docContext{Organization: req.Organization, From: from, To: to}
	conf := configurationDoc{Schema: "configuration.v1", Period: ctxDoc, Start: configOf(*start), Changes: nonNilChanges(changes), End: configOf(*end)}
	acc := accessDoc{Schema: "access-control.v1", Period: ctxDoc, RBAC: RBACMatrix(), Start: accessOf(*start), Changes: nonNilChanges(accessChanges),
		End: accessOf(*end), APIKeys: end.APIKeys}
	saf := stats.doc(ctxDoc)

	files := []File{}
	for _, d := range []struct {
		name string
		v    any
	}{{FileConfiguration, conf}, {FileAccess, acc}, {FileSafeguards, saf}, {FileIntegrity, integ},
		{FileErasures, erasures.doc(ctxDoc)}} {
		b, err := json.MarshalIndent(d.v, "", "  ")
		if err != nil {
			return res, err
		}
		files = append(files, File{Name: d.name, Data: append(b, '\n')})
	}
	files = append(files, File{Name: FileSchema, Data: []byte(SchemaDoc)})
	rd := reportData{Manifest: m, Conf: conf, Access: acc, Safeguards: saf, Integrity: integ, Deployment: req.Deployment}
	if req.Deployment != nil {
		b, err := json.MarshalIndent(struct {
			Schema string `json:"schema"`
			*Deployment
		}{"deployment.v1", req.Deployment}, "", "  ")
		if err != nil {
			return res, err
		}
		files = append(files, File{Name: FileDeployment, Data: append(b, '\n')})
	}
	html, err := renderHTML(rd)
	if err != nil {
		return res, err
	}
	pdf, err := renderPDF(rd)
	if err != nil {
		return res, err
	}
	oscal, err := OSCAL(rd, files)
	if err != nil {
		return res, err
	}
	files = append(files, File{Name: FileReportHTML, Data: html}, File{Name: FileReportPDF, Data: pdf}, File{Name: FileOSCAL, Data: oscal})
	m, err = Write(w, files, m, req.Signer)
	if err != nil {
		return res, err
	}
	mb, _ := m.Encode()
	sum := sha256.Sum256(mb)
	res.Manifest, res.ManifestSHA256 = m, hex.EncodeToString(sum[:])
	return res, nil
}

// The content files of a bundle.
const (
	FileConfiguration = "configuration.json"
	FileAccess        = "access-control.json"
	FileSafeguards    = "safeguards.json"
	FileIntegrity     = "integrity.json"
	FileErasures      = "erasures.json"
	FileDeployment    = "deployment.json"
	FileSchema        = "schema.md"
	FileReportHTML    = "report.html"
	FileReportPDF     = "report.pdf"
	FileOSCAL         = "oscal-assessment-results.json"
)

func isAccessEvent(t string) bool {
	return strings.HasPrefix(t, "user.") || strings.HasPrefix(t, "space.member") || strings.HasPrefix(t, "apikey.")
}

// redactedData is an event's payload with every sealed field (an "ak1." envelope or any
// non-plain value the codec wrote) replaced: the bundle carries ids, roles and settings, never
// personal data. Hashes of API keys are dropped too.
func redactedData(e Event) json.RawMessage {
	var m map[string]any
	if err := json.Unmarshal(e.Data, &m); err != nil {
		return json.RawMessage("{}")
	}
	for _, k := range []string{"name", "email", "hash", "instructions"} {
		if _, ok := m[k]; ok {
			m[k] = "[sealed]"
		}
	}
	b, _ := json.Marshal(m) // map keys are sorted
	return b
}

func nonNilChanges(c []Change) []Change {
	if c == nil {
		return []Change{}
	}
	return c
}

func addNames(ctx context.Context, dec Decoder, registered []ledger.Entry, states ...*State) error {
	names := map[string]string{}
	for _, en := range registered {
		var d struct {
			UserID string        `json:"userId"`
			Name   domain.Sealed `json:"name"`
		}
		if err := dec.Decode(ctx, en.EventID, en.Data, &d); err != nil {
			return fmt.Errorf("decrypting the name in event %s: %w", en.EventID, err)
		}
		if !d.Name.Redacted && d.Name.Plain != "" {
			names[d.UserID] = d.Name.Plain
		}
	}
	for _, s := range states {
		for i := range s.Users {
			s.Users[i].Name = names[s.Users[i].ID]
		}
	}
	return nil
}

type docContext struct {
	Organization string    `json:"organization"`
	From         time.Time `json:"from"`
	To           time.Time `json:"to"`
}

type configState struct {
	Exists            bool                         `json:"exists"`
	Settings          *domain.OrganizationSettings `json:"settings"`
	IdentityProviders []IdentityProvider           `json:"identityProviders"`
	Spaces            []spaceConfig                `json:"spaces"`
	Assistants        []Assistant                  `json:"assistants"`
}

type spaceConfig struct {
	ID             string                `json:"id"`
	Classification domain.Classification `json:"classification"`
	Models         []domain.ModelID      `json:"models"`
	Deleted        bool                  `json:"deleted"`
}

type configurationDoc struct {
	Schema  string      `json:"schema"`
	Period  docContext  `json:"period"`
	Start   configState `json:"atStart"`
	Changes []Change    `json:"changes"`
	End     configState `json:"atEnd"`
}

func configOf(s State) configState {
	c := configState{Exists: s.Exists, Settings: s.Settings, IdentityProviders: s.IdentityProviders, Spaces: []spaceConfig{},
		Assistants: s.Assistants}
	for _, sp := range s.Spaces {
		c.Spaces = append(c.Spaces, spaceConfig{ID: sp.ID, Classification: sp.Classification, Models: sp.Models, Deleted: sp.Deleted})
	}
	return c
}

type spaceAccess struct {
	ID      string        `json:"id"`
	Deleted bool          `json:"deleted"`
	Members []SpaceMember `json:"members"`
}

type accessState struct {
	Users  []User        `json:"users"`
	Spaces []spaceAccess `json:"spaces"`
}

type accessDoc struct {
	Schema  string      `json:"schema"`
	Period  docContext  `json:"period"`
	RBAC    []RBACRow   `json:"rbacMatrix"`
	Start   accessState `json:"atStart"`
	Changes []Change    `json:"changes"`
	End     accessState `json:"atEnd"`
	APIKeys []APIKey    `json:"apiKeys"`
}

func accessOf(s State) accessState {
	a := accessState{Users: s.Users, Spaces: []spaceAccess{}}
	for _, sp := range s.Spaces {
		a.Spaces = append(a.Spaces, spaceAccess{ID: sp.ID, Deleted: sp.Deleted, Members: sp.Members})
	}
	return a
}

// RBACRow is one command of the RBAC matrix and the roles that may run it.
type RBACRow struct {
	Command    domain.Command     `json:"command"`
	Scope      string             `json:"scope"`
	OrgRoles   []domain.OrgRole   `json:"orgRoles"`
	SpaceRoles []domain.SpaceRole `json:"spaceRoles"`
}

// RBACMatrix is the RBAC table generated from domain.Allowed over every command and role,
// sorted by command: what the code enforces, not a description of it.
func RBACMatrix() []RBACRow {
	var rows []RBACRow
	for _, c := range domain.Commands() {
		r := RBACRow{Command: c, Scope: "organization", OrgRoles: []domain.OrgRole{}, SpaceRoles: []domain.SpaceRole{}}
		if domain.ScopeOf(c) == domain.ScopeSpace {
			r.Scope = "space"
		}
		orgs, spaces := map[domain.OrgRole]bool{}, map[domain.SpaceRole]bool{}
		for _, o := range domain.OrgRoles() {
			for _, s := range domain.SpaceRoles() {
				if domain.Allowed(c, o, s) {
					orgs[o], spaces[s] = true, true
				}
			}
		}
		for _, o := range domain.OrgRoles() {
			if orgs[o] {
				r.OrgRoles = append(r.OrgRoles, o)
			}
		}
		for _, s := range domain.SpaceRoles() {
			if spaces[s] {
				if s == domain.SpaceRoleNone {
					s = "NONE"
				}
				r.SpaceRoles = append(r.SpaceRoles, s)
			}
		}
		rows = append(rows, r)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Command < rows[j].Command })
	return rows
}

type integrityCheckpoint struct {
	EventID string `json:"eventId"`
	Leaf    uint64 `json:"leaf"`
	Origin  string `json:"origin"`
	Size    uint64 `json:"treeSize"`
	Root    string `json:"root"`
	Note    string `json:"note"`
}

type integrityVerification struct {
	OK bool `json:"ok"`
	// Through is the tree size up to which the log was verified for the bundle: the covering
	// checkpoint's (the verification ran over the whole log from its start).
	Through         uint64          `json:"verifiedThroughTreeSize"`
	CoversPeriodEnd bool            `json:"coversPeriodEnd"`
	Checks          []string        `json:"checks"`
	Failure         *ledger.Failure `json:"failure"`
}

type integrityDoc struct {
	Schema string `json:"schema"`
	// PeriodLeaves is the half-open range of leaf indexes of the period's events.
	PeriodLeaves [2]uint64             `json:"periodLeaves"`
	Checkpoints  []integrityCheckpoint `json:"checkpoints"`
	Verification integrityVerification `json:"verification"`
}

func verificationOf(r ledger.Report, cover *checkpointAt, covers bool) integrityVerification {
	v := integrityVerification{OK: r.OK, CoversPeriodEnd: covers, Failure: r.Failure,
		Checks: []string{ledger.CheckChain, ledger.CheckCheckpointFormat, ledger.CheckCheckpointSignature, ledger.CheckCheckpointSize, ledger.CheckCheckpointRoot}}
	if cover != nil {
		v.Through = cover.cp.Size
	}
	return v
}

func mustB64(s string) []byte {
	b, _ := base64.StdEncoding.DecodeString(s)
	return b
}

// rotations is how many finished rotations the key store recorded.
func (d *Deployment) rotations() int {
	n := 0
	for _, v := range d.KEKHistory {
		if v.RotationCompletedAt != nil {
			n++
		}
	}
	return n
}
