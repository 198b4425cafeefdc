package evidence

import (
	"bytes"
	"fmt"
	"html/template"
	"strings"

	"codeberg.org/go-pdf/fpdf"
)

// reportData is everything the report, the PDF and the OSCAL document are made of.
type reportData struct {
	Manifest   Manifest
	Conf       configurationDoc
	Access     accessDoc
	Safeguards safeguardsDoc
	Integrity  integrityDoc
	Deployment *Deployment
}

// Claim is one statement of the report, with the JSON file and the entry (a JSON pointer)
// that back it, and the ISO/IEC 27001:2022 Annex A controls it is evidence for.
type Claim struct {
	Heading  string
	Text     string
	File     string
	Pointer  string
	Controls []string
}

// Href is the claim's link: the file and the JSON pointer of the entry.
func (c Claim) Href() template.URL { return template.URL(c.File + "#" + c.Pointer) }

// The DPIA headings for technical measures, in the report's order.
var headings = []string{
	"Access control and authentication",
	"Model choice and data minimisation",
	"Encryption and key management",
	"Logging and traceability",
	"Data handling",
	"Erasure and retention",
	"Network security",
}

func sum(cs []countEntry) int {
	n := 0
	for _, c := range cs {
		n += c.Count
	}
	return n
}

func (d reportData) claims() []Claim {
	var out []Claim
	add := func(h, file, ptr string, controls []string, format string, args ...any) {
		out = append(out, Claim{Heading: h, Text: fmt.Sprintf(format, args...), File: file, Pointer: ptr, Controls: controls})
	}
	h := headings
	s := d.Conf.Start.Settings
	add(h[0], FileAccess, "/rbacMatrix", []string{"5.15", "5.18", "8.5"},
		"Role-based access control: %d commands, each permitted only to the roles in the matrix generated from the enforced RBAC table; spaces are isolated even from organisation Admins.", len(d.Access.RBAC))
	add(h[0], FileAccess, "/atStart/users", []string{"5.18"}, "At the period's start %d users held organisation roles; %d at its end; %d access changes in between, each with time and actor.",
		len(d.Access.Start.Users), len(d.Access.End.Users), len(d.Access.Changes))
	add(h[0], FileAccess, "/apiKeys", []string{"5.17", "8.5"}, "%d API keys are listed with prefix, owner, creation, last use and revocation; their secrets are never stored or exported.", len(d.Access.APIKeys))
	if s != nil {
		add(h[0], FileConfiguration, "/atStart/settings/mfaRequired", []string{"5.17", "8.5"}, "MFA required at the period's start: %t; password minimum length %d; session idle timeout %d minutes.",
			s.MFARequired, s.Password.MinLength, s.SessionIdleTimeoutMinutes)
	}
	add(h[0], FileConfiguration, "/atStart/identityProviders", []string{"8.5"}, "%d identity providers accepted at the period's start.", len(d.Conf.Start.IdentityProviders))
	add(h[0], FileSafeguards, "/loginsSucceeded", []string{"8.5", "8.15"}, "Logins in the period: %d succeeded, %d failed.", d.Safeguards.LoginsSucceeded, sum(d.Safeguards.LoginsFailed))
	add(h[0], FileSafeguards, "/denialsByReason", []string{"5.15", "8.15"}, "%d requests were denied by the access control, each recorded as an event.", sum(d.Safeguards.DenialsByReason))
	if s != nil {
		add(h[1], FileConfiguration, "/atStart/settings/models", []string{"5.15", "8.12"}, "%d models allow-listed at the period's start, each with its hosting region and classification ceiling; EU-only: %t.", len(s.Models), s.EUOnly)
	}
	calls, excerpts := 0, 0
	for _, m := range d.Safeguards.ModelCalls {
		calls += m.Calls
		excerpts += m.Excerpts
	}
	add(h[1], FileSafeguards, "/modelCalls", []string{"8.12"}, "%d model calls in the period, by hosting region and space classification, sending %d retrieved excerpts (never whole documents).", calls, excerpts)
	add(h[2], FileIntegrity, "/checkpoints", []string{"8.24"}, "Personal data and content inside events are sealed with per-subject keys (AES-256-GCM) wrapped by a key-encryption key; the log's checkpoints are signed with Ed25519 (%d checkpoints cover the period).", len(d.Integrity.Checkpoints))
	if dep := d.Deployment; dep != nil {
		add(h[2], FileDeployment, "/kekVersions", []string{"8.24"}, "The key-encryption key is held in a %s; %d versions, current %d; data keys are %s.",
			map[string]string{"file": "file (ARKIV_KEK_FILE, mode 0600)", "external": "external key service"}[dep.KEKHolder], len(dep.KEKVersions), dep.CurrentKEKVersion, dep.DataKeys)
		if last, ok := dep.LastRotation(); ok {
			add(h[2], FileDeployment, "/kekHistory", []string{"8.24"}, "The key-encryption key was last rotated on %s (every live data key re-wrapped under the new version); %d rotations are recorded.",
				last.UTC().Format("2006-01-02 15:04 MST"), dep.rotations())
		} else {
			add(h[2], FileDeployment, "/kekHistory", []string{"8.24"}, "The key-encryption key has not been rotated since version %d came into use.", dep.CurrentKEKVersion)
		}
		if dep.TLSConfigured {
			add(h[6], FileDeployment, "/tlsConfigured", []string{"8.24"}, "The API serves HTTPS only, TLS %s or newer.", dep.TLSMinVersion)
		} else {
			add(h[6], FileDeployment, "/tlsConfigured", []string{"8.24"}, "The API process itself serves plain HTTP: TLS must be terminated in front of it (no ARKIV_TLS_CERT at the export).")
		}
	}
	add(h[3], FileIntegrity, "/verification", []string{"8.15", "8.16"}, "Verification of the log from its start (hash chains, Merkle roots, checkpoint signatures): ok=%t, through tree size %d.", d.Integrity.Verification.OK, d.Integrity.Verification.Through)
	add(h[3], FileSafeguards, "/auditReads", []string{"8.15", "8.16"}, "%d reads of the audit log or its integrity in the period, each itself an audited event with its justification sealed.", len(d.Safeguards.AuditReads))
	add(h[4], FileSafeguards, "/exports", []string{"5.15", "8.12"}, "%d exports made in the period (audit log, subject data, evidence), each recorded.", len(d.Safeguards.Exports))
	add(h[4], FileConfiguration, "/changes", []string{"8.15"}, "%d configuration changes in the period, each with time and actor.", len(d.Conf.Changes))
	if s != nil {
		add(h[5], FileConfiguration, "/atStart/settings/defaultMessageRetentionDays", []string{"8.10"}, "Message retention %d days, audit retention %s, erasure grace %d days at the period's start.",
			s.DefaultMessageRetentionDays, s.AuditRetention.Mode, s.ErasureGraceDays)
	}
	add(h[5], FileConfiguration, "/atStart/assistants", []string{"8.10", "8.12"}, "%d assistants at the period's start, each with its retention period, payload logging and excerpt limits.", len(d.Conf.Start.Assistants))
	add(h[5], FileSafeguards, "/erasures", []string{"8.10"}, "Erasures: %s; %d certificates (completed erasures); %d retention destructions.",
		countsText(d.Safeguards.Erasures), len(d.Safeguards.ErasureCerts), sum(d.Safeguards.RetentionByBucket))
	add(h[6], FileConfiguration, "/atStart/settings/euOnly", []string{"8.12"}, "Model endpoints are HTTPS or on-premises endpoints on the allow-list only; the API serves TLS 1.2 or newer when configured with a certificate (deployment setting, not recorded in the log).")
	return out
}

func countsText(cs []countEntry) string {
	var parts []string
	for _, c := range cs {
		parts = append(parts, fmt.Sprintf("%s %d", c.Key, c.Count))
	}
	return strings.Join(parts, ", ")
}

var reportTmpl = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>DPIA evidence {{.M.Organization}}</title>
<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.4}h2{border-bottom:1px solid #999}
.src{font-size:85%;color:#555}code{background:#eee}</style></head><body>
<h1>DPIA evidence: technical measures</h1>
<p>Organisation <code>{{.M.Organization}}</code>, period {{.M.From.Format "2006-01-02T15:04:05Z07:00"}} to {{.M.To.Format "2006-01-02T15:04:05Z07:00"}}, Arkiv {{.M.ArkivVersion}}.
Every claim links to the JSON file and entry (JSON pointer) that back it; <code>manifest.json</code> lists every file with its SHA-256, signed in <code>manifest.sig</code>.</p>
{{range .Sections}}<h2>{{.Heading}}</h2><ul>{{range .Claims}}
<li>{{.Text}} <span class="src">(<a href="{{.Href}}">{{.File}}#{{.Pointer}}</a>; ISO/IEC 27001:2022 A.{{range $i, $c := .Controls}}{{if $i}}, A.{{end}}{{$c}}{{end}})</span></li>{{end}}
</ul>{{end}}
</body></html>
`))

type section struct {
	Heading string
	Claims  []Claim
}

func (d reportData) sections() []section {
	cs := d.claims()
	var out []section
	for _, h := range headings {
		s := section{Heading: h}
		for _, c := range cs {
			if c.Heading == h {
				s.Claims = append(s.Claims, c)
			}
		}
		out = append(out, s)
	}
	return out
}

func renderHTML(d reportData) ([]byte, error) {
	var b bytes.Buffer
	err := reportTmpl.Execute(&b, struct {
		M        Manifest
		Sections []section
	}{d.Manifest, d.sections()})
	return b.Bytes(), err
}

// renderPDF lays the report's sections out as a PDF (fpdf, core fonts, no external
// assets), with fixed creation dates so that it is reproducible.
func renderPDF(d reportData) ([]byte, error) {
	p := fpdf.New("P", "mm", "A4", "")
	p.SetCreationDate(zipTime)
	p.SetModificationDate(zipTime)
	p.SetCompression(true)
	p.SetCatalogSort(true) // fonts and images in a fixed order: reproducible bytes
	p.SetTitle("DPIA evidence", false)
	tr := p.UnicodeTranslatorFromDescriptor("")
	p.AddPage()
	p.SetFont("Helvetica", "B", 16)
	p.MultiCell(0, 8, "DPIA evidence: technical measures", "", "", false)
	p.SetFont("Helvetica", "", 10)
	p.MultiCell(0, 5, tr(fmt.Sprintf("Organisation %s, period %s to %s, Arkiv %s. Each claim names the JSON file and entry backing it.",
		d.Manifest.Organization, d.Manifest.From.Format("2006-01-02T15:04:05Z"), d.Manifest.To.Format("2006-01-02T15:04:05Z"), d.Manifest.ArkivVersion)), "", "", false)
	for _, s := range d.sections() {
		p.Ln(3)
		p.SetFont("Helvetica", "B", 13)
		p.MultiCell(0, 7, tr(s.Heading), "", "", false)
		for _, c := range s.Claims {
			p.SetFont("Helvetica", "", 10)
			p.MultiCell(0, 5, tr("- "+c.Text), "", "", false)
			p.SetFont("Helvetica", "I", 8)
			p.MultiCell(0, 4, tr(fmt.Sprintf("   %s#%s; ISO/IEC 27001:2022 A.%s", c.File, c.Pointer, strings.Join(c.Controls, ", A."))), "", "", false)
		}
	}
	var b bytes.Buffer
	if err := p.Output(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
