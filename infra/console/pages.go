package console

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// me is the signed-in person, as the me query answers.
type me struct {
	ID    string  `json:"id"`
	Name  *string `json:"name"`
	Email *string `json:"email"`
	Role  string  `json:"role"`
}

// view is what every page template gets.
type view struct {
	Title string
	// Nav names the current page, for the navigation's aria-current.
	Nav   string
	Me    *me
	CSRF  string
	Flash string
	// Err is the API's refusal or failure, shown in a clear alert.
	Err  *Error
	Data any
}

const qMe = `{ me { id name email role } }`

// renderPart writes the template part of page alone (a fragment htmx swaps in).
func (c *Console) renderPart(w http.ResponseWriter, page, part string, v view) {
	var b bytes.Buffer
	if err := c.pages[page].ExecuteTemplate(&b, part, v); err != nil {
		c.cfg.Log.Error("console: render", "page", page, "part", part, "err", err)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(b.Bytes())
}

// render writes page with status.
func (c *Console) render(w http.ResponseWriter, status int, page string, v view) {
	var b bytes.Buffer
	if err := c.pages[page].Execute(&b, v); err != nil {
		c.cfg.Log.Error("console: render", "page", page, "err", err)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// begin loads the signed-in person for a page. It returns false when it has answered the
// request already: an ended session goes back to the sign-in page with a message.
func (c *Console) begin(w http.ResponseWriter, r *http.Request, s sess, nav, title string) (view, bool) {
	var out struct {
		Me me `json:"me"`
	}
	if err := c.gql.do(r, s.token, qMe, nil, &out); err != nil {
		c.fail(w, r, view{Nav: nav, Title: title, CSRF: s.csrf}, err)
		return view{}, false
	}
	return view{Nav: nav, Title: title, Me: &out.Me, CSRF: s.csrf}, true
}

// fail answers a request whose GraphQL call failed: UNAUTHENTICATED ends the session (the
// idle timeout passed, the key was revoked) and sends the person to the sign-in page with a
// message; anything else is shown on the page, FORBIDDEN as a clear refusal.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, v view, err error) {
	var ge *Error
	if !errors.As(err, &ge) {
		c.cfg.Log.Error("console: GraphQL call", "err", err)
		ge = &Error{Code: "INTERNAL", Message: "internal error"}
	}
	if ge.Code == "UNAUTHENTICATED" {
		c.setCookie(w, sessionCookie, "")
		c.setCookie(w, justificationCookie, "")
		c.redirect(w, r, Base+"/sign-in?ended=1")
		return
	}
	v.Err = ge
	status := http.StatusOK
	switch ge.Code {
	case "FORBIDDEN":
		status = http.StatusForbidden
	case "INVALID":
		status = http.StatusBadRequest
	case "UNAVAILABLE":
		status = http.StatusServiceUnavailable
	case "INTERNAL":
		status = http.StatusInternalServerError
	}
	if v.Title == "" {
		v.Title = "Refused"
	}
	c.render(w, status, "error", v)
}

// signInPage shows the sign-in forms (local account, API key).
func (c *Console) signInPage(w http.ResponseWriter, r *http.Request) {
	v := view{Title: "Sign in"}
	switch {
	case r.URL.Query().Get("ended") != "":
		v.Flash = "Your session has ended: the organisation's idle timeout passed, or the credential is no longer valid. Sign in again."
	case r.URL.Query().Get("out") != "":
		v.Flash = "You are signed out."
	case r.URL.Query().Get("refused") != "":
		v.Err = &Error{Code: "UNAUTHENTICATED", Message: "sign-in through the identity provider was refused"}
	}
	org := strings.TrimSpace(r.URL.Query().Get("org"))
	v.Data = signInData{Org: org, Providers: c.providers(r, org)}
	status := http.StatusOK
	if v.Err != nil {
		status = http.StatusUnauthorized
	}
	c.render(w, status, "signin", v)
}

// signInData is the sign-in page's: the organisation asked for and its identity
// providers' buttons.
type signInData struct {
	Org, Login string
	Providers  []signInProvider
	// EndSessionURL is the identity provider's end-session URL after a sign-out.
	EndSessionURL string
}

type signInProvider struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	LoginPath   string `json:"loginPath"`
}

// providers asks the API for the organisation's sign-in providers (none without an
// organisation, or when the API cannot say).
func (c *Console) providers(r *http.Request, org string) []signInProvider {
	if org == "" {
		return nil
	}
	var out struct {
		Providers []signInProvider `json:"signInProviders"`
	}
	if err := c.gql.do(r, "", `query($org: ID!) { signInProviders(organizationId: $org) { id displayName loginPath } }`,
		map[string]any{"org": org}, &out); err != nil {
		return nil
	}
	return out.Providers
}

// SignedIn ends a sign-in through an identity provider (auth.SignInPages): the session
// token goes into the console's cookie, and the browser continues to the overview. The
// redirect back from the provider is a cross-site navigation, in which browsers do not send
// SameSite=Strict cookies, so this page moves on by a same-site navigation of its own.
func (c *Console) SignedIn(w http.ResponseWriter, r *http.Request, token string) {
	c.setCookie(w, sessionCookie, token)
	c.setCookie(w, justificationCookie, "")
	w.Header().Set("Content-Security-Policy", CSP)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte(`<!doctype html><html lang="en"><head><meta charset="utf-8">` +
		`<meta http-equiv="refresh" content="0;url=/console/"><title>Signed in · Arkiv console</title></head>` +
		`<body><p>Signed in. <a id="continue" href="/console/">Continue to the console</a>.</p></body></html>`))
}

// SignInFailed answers a refused sign-in through an identity provider (auth.SignInPages):
// the sign-in page with one message, whatever the reason.
func (c *Console) SignInFailed(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, Base+"/sign-in?refused=1", http.StatusSeeOther)
}

// signIn signs in with a local account (the login mutation) or an API key (checked with
// the me query), and keeps the credential in the session cookie.
func (c *Console) signIn(w http.ResponseWriter, r *http.Request) {
	form := map[string]string{"Org": strings.TrimSpace(r.PostFormValue("organizationId")), "Login": strings.TrimSpace(r.PostFormValue("login"))}
	refuse := func(err error) {
		var ge *Error
		if !errors.As(err, &ge) {
			ge = &Error{Code: "INTERNAL", Message: "internal error"}
		}
		c.render(w, http.StatusUnauthorized, "signin", view{Title: "Sign in", Err: ge,
			Data: signInData{Org: form["Org"], Login: form["Login"], Providers: c.providers(r, form["Org"])}})
	}
	var token string
	if key := strings.TrimSpace(r.PostFormValue("apiKey")); r.PostFormValue("method") == "apikey" {
		if key == "" {
			refuse(&Error{Code: "INVALID", Message: "enter an API key"})
			return
		}
		if err := c.gql.do(r, key, qMe, nil, nil); err != nil {
			refuse(err)
			return
		}
		token = key
	} else {
		var out struct {
			Login struct {
				Token string `json:"token"`
			} `json:"login"`
		}
		err := c.gql.do(r, "", `mutation($in: LoginInput!) { login(input: $in) { id token idleTimeoutSeconds } }`,
			map[string]any{"in": map[string]any{"organizationId": form["Org"], "login": form["Login"], "password": r.PostFormValue("password")}}, &out)
		if err != nil {
			refuse(err)
			return
		}
		token = out.Login.Token
	}
	c.setCookie(w, sessionCookie, token)
	c.setCookie(w, justificationCookie, "")
	c.redirect(w, r, Base+"/")
}

// signOut ends the session: the logout mutation for a session token (an API key stays
// valid: only the console forgets it), then both cookies go.
func (c *Console) signOut(w http.ResponseWriter, r *http.Request, s sess) {
	var out struct {
		Logout struct {
			EndSessionURL *string `json:"endSessionUrl"`
		} `json:"logout"`
	}
	if err := c.gql.do(r, s.token, `mutation { logout { id endSessionUrl } }`, nil, &out); err != nil {
		var ge *Error
		if errors.As(err, &ge) && ge.Code != "INVALID" && ge.Code != "UNAUTHENTICATED" && ge.Code != "FORBIDDEN" {
			c.cfg.Log.Warn("console: logout", "code", ge.Code)
		}
	}
	c.setCookie(w, sessionCookie, "")
	c.setCookie(w, justificationCookie, "")
	if end := out.Logout.EndSessionURL; end != nil && *end != "" {
		// Signed in through an identity provider: offer to end the session there too.
		c.render(w, http.StatusOK, "signin", view{Title: "Sign in", Flash: "You are signed out of Arkiv.",
			Data: signInData{EndSessionURL: *end}})
		return
	}
	c.redirect(w, r, Base+"/sign-in?out=1")
}

// overviewData is the overview's two answers.
type overviewData struct {
	Org struct {
		ID       string   `json:"id"`
		Name     *string  `json:"name"`
		Settings settings `json:"settings"`
	} `json:"organization"`
	Integrity    *integrity
	IntegrityErr *Error
	// Pending is how many erasures are pending (deletedItems, at most 100 counted), when
	// the caller may list them (PendingListed).
	Pending       int
	PendingListed bool
	// Streams are the SIEM destinations of the audit log with their health, when the
	// caller may list them (StreamsListed).
	Streams       []auditStream
	StreamsListed bool
}

// auditStream is one SIEM destination as the overview shows it.
type auditStream struct {
	ID       string `json:"id"`
	Kind     string `json:"kind"`
	Format   string `json:"format"`
	Endpoint string `json:"endpoint"`
	Health   struct {
		Healthy         bool    `json:"healthy"`
		Lag             int     `json:"lag"`
		Delivered       int     `json:"delivered"`
		Poisoned        int     `json:"poisoned"`
		LastError       *string `json:"lastError"`
		LastDeliveredAt *string `json:"lastDeliveredAt"`
	} `json:"health"`
}

type settings struct {
	Models                      []allowedModel `json:"models"`
	ClassificationLevels        []string       `json:"classificationLevels"`
	DefaultMessageRetentionDays int            `json:"defaultMessageRetentionDays"`
	AuditRetentionMode          string         `json:"auditRetentionMode"`
	AuditRetentionDays          int            `json:"auditRetentionDays"`
	ErasureGraceDays            int            `json:"erasureGraceDays"`
	SessionIdleTimeoutMinutes   int            `json:"sessionIdleTimeoutMinutes"`
	PasswordMinLength           int            `json:"passwordMinLength"`
	MFARequired                 bool           `json:"mfaRequired"`
	EUOnly                      bool           `json:"euOnly"`
	ModelPayloadRetentionDays   int            `json:"modelPayloadRetentionDays"`
	ForbidModelPayloadLogging   bool           `json:"forbidModelPayloadLogging"`
	PasswordPolicy              passwordPolicy `json:"passwordPolicy"`
}

const qSettings = `{ organization { id name settings { models { id endpoint region maxClassification } classificationLevels
  defaultMessageRetentionDays auditRetentionMode auditRetentionDays erasureGraceDays sessionIdleTimeoutMinutes
  passwordMinLength mfaRequired euOnly } } }`

type integrity struct {
	PublicKey      string `json:"publicKey"`
	UnanchoredTail int    `json:"unanchoredTail"`
	Checkpoint     *struct {
		Note     string `json:"note"`
		TreeSize int    `json:"treeSize"`
		RootHash string `json:"rootHash"`
		SignedAt string `json:"signedAt"`
	} `json:"checkpoint"`
	LastVerification *struct {
		FinishedAt     string  `json:"finishedAt"`
		OK             bool    `json:"ok"`
		VerifiedLeaves int     `json:"verifiedLeaves"`
		CheckpointSize int     `json:"checkpointSize"`
		Failure        *string `json:"failure"`
	} `json:"lastVerification"`
}

const qIntegrity = `{ auditIntegrity { publicKey unanchoredTail checkpoint { note treeSize rootHash signedAt }
  lastVerification { finishedAt ok verifiedLeaves checkpointSize failure } } }`

// loadIntegrity reads auditIntegrity (Admins): a refusal is returned, not fatal, so a page
// can show what the caller may see.
func (c *Console) loadIntegrity(r *http.Request, s sess) (*integrity, *Error, error) {
	var out struct {
		I integrity `json:"auditIntegrity"`
	}
	if err := c.gql.do(r, s.token, qIntegrity, nil, &out); err != nil {
		var ge *Error
		if errors.As(err, &ge) && ge.Code == "FORBIDDEN" {
			return nil, ge, nil
		}
		return nil, nil, err
	}
	return &out.I, nil, nil
}

// overview shows the organisation's safeguards and the state of the verifiable log.
func (c *Console) overview(w http.ResponseWriter, r *http.Request, s sess) {
	v, ok := c.begin(w, r, s, "overview", "Overview")
	if !ok {
		return
	}
	var d overviewData
	if err := c.gql.do(r, s.token, qSettings, nil, &d); err != nil {
		c.fail(w, r, v, err)
		return
	}
	var err error
	if d.Integrity, d.IntegrityErr, err = c.loadIntegrity(r, s); err != nil {
		c.fail(w, r, v, err)
		return
	}
	var pend struct {
		D []struct {
			ErasureID string `json:"erasureId"`
		} `json:"deletedItems"`
	}
	if err := c.gql.do(r, s.token, `{ deletedItems(first: 100) { erasureId } }`, nil, &pend); err != nil {
		if _, err = refusal(err); err != nil {
			c.fail(w, r, v, err)
			return
		}
	} else {
		d.Pending, d.PendingListed = len(pend.D), true
	}
	var streams struct {
		S []auditStream `json:"auditStreams"`
	}
	if err := c.gql.do(r, s.token, `{ auditStreams { id kind format endpoint
		health { healthy lag delivered poisoned lastError lastDeliveredAt } } }`, nil, &streams); err != nil {
		if _, err = refusal(err); err != nil {
			c.fail(w, r, v, err)
			return
		}
	} else {
		d.Streams, d.StreamsListed = streams.S, true
	}
	v.Data = d
	c.render(w, http.StatusOK, "overview", v)
}

// justification returns the audit reader's justification from its cookie.
func justification(r *http.Request) string {
	ck, err := r.Cookie(justificationCookie)
	if err != nil {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(ck.Value)
	if err != nil {
		return ""
	}
	return string(b)
}

// justify keeps the justification an audit reader gave (for the audit log and model calls)
// in an httpOnly cookie, never in a URL, and returns to the page that asked for it.
func (c *Console) justify(w http.ResponseWriter, r *http.Request, s sess) {
	next := r.PostFormValue("next")
	if !local(next) {
		next = Base + "/audit"
	}
	why := strings.TrimSpace(r.PostFormValue("justification"))
	if n := len([]rune(why)); n < 10 || n > 1000 {
		v, ok := c.begin(w, r, s, navOf(next), "Justification")
		if !ok {
			return
		}
		v.Err = &Error{Code: "INVALID", Message: "a justification is 10 to 1000 characters"}
		v.Data = map[string]string{"Next": next, "Justification": why}
		c.render(w, http.StatusBadRequest, "justify", v)
		return
	}
	enc := base64.RawURLEncoding.EncodeToString([]byte(why))
	if len(enc) > 3500 {
		v, ok := c.begin(w, r, s, navOf(next), "Justification")
		if !ok {
			return
		}
		v.Err = &Error{Code: "INVALID", Message: "this justification is too long for the console to keep; shorten it"}
		v.Data = map[string]string{"Next": next, "Justification": why}
		c.render(w, http.StatusBadRequest, "justify", v)
		return
	}
	c.setCookie(w, justificationCookie, enc)
	c.redirect(w, r, next)
}

func navOf(path string) string {
	switch {
	case strings.HasPrefix(path, Base+"/model-calls"):
		return "models"
	default:
		return "audit"
	}
}

// askJustification shows the justification form for the page at r.
func (c *Console) askJustification(w http.ResponseWriter, r *http.Request, v view, why string) {
	u := *r.URL
	q := u.Query()
	q.Del("rejustify")
	u.RawQuery = q.Encode()
	v.Data = map[string]string{"Next": u.RequestURI(), "Justification": why}
	c.render(w, http.StatusOK, "justify", v)
}

// auditEntry is one audit-log entry.
type auditEntry struct {
	ID         string  `json:"id"`
	Position   string  `json:"position"`
	Action     string  `json:"action"`
	ActorID    *string `json:"actorId"`
	TargetID   *string `json:"targetId"`
	SpaceID    *string `json:"spaceId"`
	Outcome    string  `json:"outcome"`
	OccurredAt string  `json:"occurredAt"`
}

type pageInfo struct {
	HasNextPage bool    `json:"hasNextPage"`
	EndCursor   *string `json:"endCursor"`
}

// auditFilter is the audit page's filter form.
type auditFilter struct {
	Actor, Action, Space, Target, Outcome, From, To string
}

type auditData struct {
	Justification string
	// Session is the audit session the read happened in, with its time left.
	Session *auditSessionInfo
	Filter  auditFilter
	Entries []auditEntry
	Next    string
	First   bool
}

const qAudit = `query($f: AuditFilter, $why: String!, $first: Int, $after: String) {
  auditLog(filter: $f, justification: $why, first: $first, after: $after) {
    edges { node { id position action actorId targetId spaceId outcome occurredAt } }
    pageInfo { hasNextPage endCursor } } }`

// auditPageSize is how many entries a page of the audit log shows.
const auditPageSize = 50

// audit is the audit-log browser: filters, paging and each entry's detail. Reading it needs
// a justification, which the API records (sealed) with every read.
func (c *Console) audit(w http.ResponseWriter, r *http.Request, s sess) {
	v, ok := c.begin(w, r, s, "audit", "Audit log")
	if !ok {
		return
	}
	why := justification(r)
	q := r.URL.Query()
	if why == "" || q.Get("rejustify") != "" {
		c.askJustification(w, r, v, why)
		return
	}
	f := auditFilter{Actor: q.Get("actor"), Action: q.Get("action"), Space: q.Get("space"), Target: q.Get("target"),
		Outcome: q.Get("outcome"), From: q.Get("from"), To: q.Get("to")}
	filter, ferr := auditFilterVars(f)
	if ferr != nil {
		v.Data = auditData{Justification: why, Filter: f}
		c.fail(w, r, v, ferr)
		return
	}
	vars := map[string]any{"why": why, "first": auditPageSize}
	if len(filter) > 0 {
		vars["f"] = filter
	}
	if a := q.Get("after"); a != "" {
		vars["after"] = a
	}
	var out struct {
		A struct {
			Edges []struct {
				Node auditEntry `json:"node"`
			} `json:"edges"`
			PageInfo pageInfo `json:"pageInfo"`
		} `json:"auditLog"`
	}
	if err := c.gql.do(r, s.token, qAudit, vars, &out); err != nil {
		c.fail(w, r, v, err)
		return
	}
	d := auditData{Justification: why, Filter: f, First: q.Get("after") == "", Session: c.loadAuditSession(r, s)}
	for _, e := range out.A.Edges {
		d.Entries = append(d.Entries, e.Node)
	}
	if out.A.PageInfo.HasNextPage && out.A.PageInfo.EndCursor != nil {
		nq := url.Values{}
		for k, vs := range q {
			if k != "after" && len(vs) > 0 && vs[0] != "" {
				nq.Set(k, vs[0])
			}
		}
		nq.Set("after", *out.A.PageInfo.EndCursor)
		d.Next = Base + "/audit?" + nq.Encode()
	}
	v.Data = d
	c.render(w, http.StatusOK, "audit", v)
}

// auditFilterVars turns the audit page's filter into the API's AuditFilter.
func auditFilterVars(f auditFilter) (map[string]any, *Error) {
	filter := map[string]any{}
	set := func(k, val string) {
		if val = strings.TrimSpace(val); val != "" {
			filter[k] = val
		}
	}
	set("actorId", f.Actor)
	set("action", f.Action)
	set("spaceId", f.Space)
	set("targetId", f.Target)
	set("outcome", f.Outcome)
	for k, val := range map[string]string{"from": f.From, "to": f.To} {
		if val == "" {
			continue
		}
		t, err := parseLocal(val)
		if err != nil {
			return nil, &Error{Code: "INVALID", Message: "the period's " + k + " is not a date and time"}
		}
		filter[k] = t
	}
	return filter, nil
}

// parseLocal reads a datetime-local input's value (or RFC 3339) as UTC.
func parseLocal(s string) (string, error) {
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC().Format(time.RFC3339), nil
		}
	}
	return "", errors.New("not a time")
}

// accessRow is one Access answer.
type accessRow struct {
	SpaceID string `json:"spaceId"`
	UserID  string `json:"userId"`
	Role    string `json:"role"`
	User    *struct {
		Name   *string `json:"name"`
		Email  *string `json:"email"`
		Role   string  `json:"role"`
		Active bool    `json:"active"`
	} `json:"user"`
}

type spaceRef struct {
	ID   string  `json:"id"`
	Name *string `json:"name"`
}

type accessData struct {
	Spaces      []spaceRef
	Space, User string
	AsOf        string
	AsOfIgnored bool
	Who, Of     []accessRow
	AskedWho    bool
	AskedOf     bool
}

// asOfSupported is whether the schema's whoCanAccess and accessOf accept asOf (they do:
// answers as of an instant are folded from the organisation's events).
const asOfSupported = true

// access answers who can access a space and what a user can access, optionally as of an
// instant.
func (c *Console) access(w http.ResponseWriter, r *http.Request, s sess) {
	v, ok := c.begin(w, r, s, "access", "Access")
	if !ok {
		return
	}
	q := r.URL.Query()
	d := accessData{Space: strings.TrimSpace(q.Get("space")), User: strings.TrimSpace(q.Get("user")), AsOf: q.Get("asOf")}
	var sp struct {
		Spaces struct {
			Edges []struct {
				Node spaceRef `json:"node"`
			} `json:"edges"`
		} `json:"spaces"`
	}
	if err := c.gql.do(r, s.token, `{ spaces(first: 100) { edges { node { id name } } } }`, nil, &sp); err != nil {
		c.fail(w, r, v, err)
		return
	}
	for _, e := range sp.Spaces.Edges {
		d.Spaces = append(d.Spaces, e.Node)
	}
	asOfArg, asOfVar := "", ""
	vars := map[string]any{}
	if d.AsOf != "" {
		t, err := parseLocal(d.AsOf)
		if err != nil {
			c.fail(w, r, v, &Error{Code: "INVALID", Message: "“as of” is not a date and time"})
			return
		}
		if asOfSupported {
			asOfArg, asOfVar = ", asOf: $asOf", ", $asOf: Time"
			vars["asOf"] = t
		} else {
			d.AsOfIgnored = true
		}
	}
	const fields = `{ spaceId userId role user { name email role active } }`
	if d.Space != "" {
		d.AskedWho = true
		vars["id"] = d.Space
		var out struct {
			W []accessRow `json:"whoCanAccess"`
		}
		if err := c.gql.do(r, s.token, `query($id: ID!`+asOfVar+`) { whoCanAccess(spaceId: $id`+asOfArg+`) `+fields+` }`, vars, &out); err != nil {
			c.fail(w, r, v, err)
			return
		}
		d.Who = out.W
		delete(vars, "id")
	}
	if d.User != "" {
		d.AskedOf = true
		vars["id"] = d.User
		var out struct {
			O []accessRow `json:"accessOf"`
		}
		if err := c.gql.do(r, s.token, `query($id: ID!`+asOfVar+`) { accessOf(userId: $id`+asOfArg+`) `+fields+` }`, vars, &out); err != nil {
			c.fail(w, r, v, err)
			return
		}
		d.Of = out.O
	}
	v.Data = d
	c.render(w, http.StatusOK, "access", v)
}

// invocation is one model call.
type invocation struct {
	ID          string  `json:"id"`
	SpaceID     string  `json:"spaceId"`
	AssistantID string  `json:"assistantId"`
	UserID      string  `json:"userId"`
	Model       string  `json:"model"`
	Region      *string `json:"region"`
	Outcome     string  `json:"outcome"`
	Error       *string `json:"error"`
	Excerpts    []struct {
		DocumentID string  `json:"documentId"`
		ChunkIndex int     `json:"chunkIndex"`
		Score      float64 `json:"score"`
	} `json:"excerpts"`
	PayloadLogged    bool    `json:"payloadLogged"`
	Request          *string `json:"request"`
	RequestComplete  bool    `json:"requestComplete"`
	RequestSha256    *string `json:"requestSha256"`
	Response         *string `json:"response"`
	PromptTokens     int     `json:"promptTokens"`
	CompletionTokens int     `json:"completionTokens"`
	LatencyMillis    int     `json:"latencyMillis"`
	Attempts         int     `json:"attempts"`
	InvokedAt        string  `json:"invokedAt"`
}

type modelsData struct {
	Justification string
	Space, User   string
	Calls         []invocation
	Next          string
}

const qInvocations = `query($f: ModelInvocationFilter, $why: String, $after: String) {
  modelInvocations(filter: $f, justification: $why, first: 20, after: $after) {
    edges { node { id spaceId assistantId userId model region outcome error excerpts { documentId chunkIndex score }
      payloadLogged request requestComplete requestSha256 response promptTokens completionTokens latencyMillis attempts invokedAt } }
    pageInfo { hasNextPage endCursor } } }`

// modelCalls shows what was sent to which model, behind a justification.
func (c *Console) modelCalls(w http.ResponseWriter, r *http.Request, s sess) {
	v, ok := c.begin(w, r, s, "models", "Model calls")
	if !ok {
		return
	}
	why := justification(r)
	if why == "" {
		c.askJustification(w, r, v, "")
		return
	}
	q := r.URL.Query()
	d := modelsData{Justification: why, Space: strings.TrimSpace(q.Get("space")), User: strings.TrimSpace(q.Get("user"))}
	f := map[string]any{}
	if d.Space != "" {
		f["spaceId"] = d.Space
	}
	if d.User != "" {
		f["userId"] = d.User
	}
	vars := map[string]any{"why": why}
	if len(f) > 0 {
		vars["f"] = f
	}
	if a := q.Get("after"); a != "" {
		vars["after"] = a
	}
	var out struct {
		M struct {
			Edges []struct {
				Node invocation `json:"node"`
			} `json:"edges"`
			PageInfo pageInfo `json:"pageInfo"`
		} `json:"modelInvocations"`
	}
	if err := c.gql.do(r, s.token, qInvocations, vars, &out); err != nil {
		c.fail(w, r, v, err)
		return
	}
	for _, e := range out.M.Edges {
		d.Calls = append(d.Calls, e.Node)
	}
	if out.M.PageInfo.HasNextPage && out.M.PageInfo.EndCursor != nil {
		nq := url.Values{}
		if d.Space != "" {
			nq.Set("space", d.Space)
		}
		if d.User != "" {
			nq.Set("user", d.User)
		}
		nq.Set("after", *out.M.PageInfo.EndCursor)
		d.Next = Base + "/model-calls?" + nq.Encode()
	}
	v.Data = d
	c.render(w, http.StatusOK, "models", v)
}

// evidence shows the ledger's public key and latest checkpoint for auditors.
func (c *Console) evidence(w http.ResponseWriter, r *http.Request, s sess) {
	v, ok := c.begin(w, r, s, "evidence", "Evidence")
	if !ok {
		return
	}
	in, refused, err := c.loadIntegrity(r, s)
	if err == nil && refused != nil {
		err = refused
	}
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	from, to := defaultPeriod(time.Now())
	v.Data = evidenceData{Integrity: in, From: from, To: to}
	c.render(w, http.StatusOK, "evidence", v)
}
