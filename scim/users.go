package scim

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
)

// userIn is a User as a directory sends it (POST, PUT). Attributes Arkiv does not keep
// (title, addresses, phone numbers…) are accepted and ignored.
type userIn struct {
	Schemas     []string `json:"schemas"`
	UserName    string   `json:"userName"`
	ExternalID  string   `json:"externalId"`
	DisplayName string   `json:"displayName"`
	Name        *struct {
		Formatted  string `json:"formatted"`
		GivenName  string `json:"givenName"`
		FamilyName string `json:"familyName"`
	} `json:"name"`
	Active *bool `json:"active"`
}

// user is what Arkiv keeps of a provisioned user, as the directory edits it.
type user struct {
	userName, displayName, externalID string
	active                            bool
}

func (u userIn) user(w http.ResponseWriter) (user, bool) {
	if !slices.Contains(u.Schemas, SchemaUser) {
		writeError(w, http.StatusBadRequest, "invalidValue", "schemas must list "+SchemaUser)
		return user{}, false
	}
	out := user{userName: strings.TrimSpace(u.UserName), displayName: strings.TrimSpace(u.DisplayName), externalID: u.ExternalID, active: true}
	if out.userName == "" {
		writeError(w, http.StatusBadRequest, "invalidValue", "userName is required")
		return user{}, false
	}
	if out.displayName == "" && u.Name != nil {
		out.displayName = strings.TrimSpace(u.Name.Formatted)
		if out.displayName == "" {
			out.displayName = strings.TrimSpace(u.Name.GivenName + " " + u.Name.FamilyName)
		}
	}
	if u.Active != nil {
		out.active = *u.Active
	}
	return out, true
}

// userOut renders a provisioned user.
func (c call) userOut(u domain.ScimUser) any {
	type email struct {
		Value   string `json:"value"`
		Type    string `json:"type"`
		Primary bool   `json:"primary"`
	}
	type name struct {
		Formatted string `json:"formatted,omitempty"`
	}
	return struct {
		Schemas     []string `json:"schemas"`
		ID          string   `json:"id"`
		ExternalID  string   `json:"externalId,omitempty"`
		UserName    string   `json:"userName"`
		DisplayName string   `json:"displayName,omitempty"`
		Name        *name    `json:"name,omitempty"`
		Active      bool     `json:"active"`
		Emails      []email  `json:"emails,omitempty"`
		Meta        meta     `json:"meta"`
	}{
		Schemas: []string{SchemaUser}, ID: u.ID, ExternalID: u.ExternalID, UserName: u.UserName, DisplayName: u.DisplayName,
		Name: func() *name {
			if u.DisplayName == "" {
				return nil
			}
			return &name{Formatted: u.DisplayName}
		}(),
		Active: u.Active, Emails: []email{{Value: u.UserName, Type: "work", Primary: true}},
		Meta: meta{ResourceType: "User", Version: etag(u.Version), Location: c.base + "/Users/" + u.ID},
	}
}

// directory loads the organisation's SCIM directory, answering failures.
func (h *Handler) directory(w http.ResponseWriter, c call) (*domain.ScimDirectory, bool) {
	d, err := h.app.ScimDirectory(c.r.Context(), c.auth.OrganizationID)
	if err != nil {
		h.fail(w, err)
		return nil, false
	}
	return d, true
}

// answerUser writes the user id as it now is, with status and its ETag.
func (h *Handler) answerUser(w http.ResponseWriter, c call, id string, status int) {
	d, ok := h.directory(w, c)
	if !ok {
		return
	}
	u, ok := d.User(id)
	if !ok {
		writeError(w, http.StatusNotFound, "", "user not found")
		return
	}
	w.Header().Set("ETag", etag(u.Version))
	if status == http.StatusCreated {
		w.Header().Set("Location", c.base+"/Users/"+u.ID)
	}
	writeJSON(w, status, c.userOut(u))
}

func (h *Handler) listUsers(w http.ResponseWriter, c call) {
	f, err := parseFilter(c.r.URL.Query().Get("filter"), "userName", "externalId", "displayName")
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalidFilter", err.Error())
		return
	}
	start, count, ok := page(w, c.r)
	if !ok {
		return
	}
	d, ok := h.directory(w, c)
	if !ok {
		return
	}
	users := d.Users()
	if f != nil {
		users = slices.DeleteFunc(users, func(u domain.ScimUser) bool {
			switch f.attr {
			case "userName": // case-insensitive (RFC 7643 §4.1.1)
				return !strings.EqualFold(u.UserName, f.value)
			case "externalId":
				return u.ExternalID != f.value
			default:
				return u.DisplayName != f.value
			}
		})
	}
	writeList(w, users, start, count, func(u domain.ScimUser) any { return c.userOut(u) })
}

func (h *Handler) getUser(w http.ResponseWriter, c call) {
	h.answerUser(w, c, c.r.PathValue("id"), http.StatusOK)
}

func (h *Handler) createUser(w http.ResponseWriter, c call) {
	var in userIn
	if !decode(w, c.r, &in) {
		return
	}
	u, ok := in.user(w)
	if !ok {
		return
	}
	res, err := h.app.ScimPutUser.Handle(c.r.Context(), commands.ScimPutUser{Meta: c.meta(), ScimTarget: c.target(0),
		UserName: u.userName, DisplayName: u.displayName, ExternalID: u.externalID, Active: u.active})
	if err != nil {
		h.fail(w, err)
		return
	}
	h.answerUser(w, c, res.ID, http.StatusCreated)
}

// current loads the user of the request's path, answering 404 and 412 (If-Match).
func (h *Handler) current(w http.ResponseWriter, c call) (domain.ScimUser, int, bool) {
	d, ok := h.directory(w, c)
	if !ok {
		return domain.ScimUser{}, 0, false
	}
	u, ok := d.User(c.r.PathValue("id"))
	if !ok {
		writeError(w, http.StatusNotFound, "", "user not found")
		return domain.ScimUser{}, 0, false
	}
	want, ok := checkVersion(w, c.r, u.Version)
	return u, want, ok
}

func (h *Handler) putUser(w http.ResponseWriter, c call) {
	var in userIn
	if !decode(w, c.r, &in) {
		return
	}
	u, ok := in.user(w)
	if !ok {
		return
	}
	cur, want, ok := h.current(w, c)
	if !ok {
		return
	}
	if in.Active == nil {
		u.active = cur.Active // a PUT without active leaves it as it is
	}
	h.update(w, c, cur.ID, want, u)
}

func (h *Handler) update(w http.ResponseWriter, c call, id string, want int, u user) {
	if _, err := h.app.ScimPutUser.Handle(c.r.Context(), commands.ScimPutUser{Meta: c.meta(), ScimTarget: c.target(want),
		UserID: id, UserName: u.userName, DisplayName: u.displayName, ExternalID: u.externalID, Active: u.active}); err != nil {
		h.fail(w, err)
		return
	}
	h.answerUser(w, c, id, http.StatusOK)
}

// patchOp is RFC 7644 §3.5.2's PatchOp.
type patchOp struct {
	Schemas    []string `json:"schemas"`
	Operations []struct {
		Op    string          `json:"op"`
		Path  string          `json:"path"`
		Value json.RawMessage `json:"value"`
	} `json:"Operations"`
}

// operations validates a PatchOp: the schema, at least one operation, each add, replace or
// remove (any case, as Entra sends "Replace").
func (p patchOp) valid(w http.ResponseWriter) bool {
	if !slices.Contains(p.Schemas, SchemaPatchOp) {
		writeError(w, http.StatusBadRequest, "invalidSyntax", "schemas must list "+SchemaPatchOp)
		return false
	}
	if len(p.Operations) == 0 || len(p.Operations) > 1000 {
		writeError(w, http.StatusBadRequest, "invalidSyntax", "a PatchOp has 1 to 1000 Operations")
		return false
	}
	for _, o := range p.Operations {
		switch strings.ToLower(o.Op) {
		case "add", "replace":
			if len(o.Value) == 0 {
				writeError(w, http.StatusBadRequest, "invalidSyntax", "an add or replace operation needs a value")
				return false
			}
		case "remove":
			if o.Path == "" {
				writeError(w, http.StatusBadRequest, "noTarget", "a remove operation needs a path")
				return false
			}
		default:
			writeError(w, http.StatusBadRequest, "invalidSyntax", "op must be add, replace or remove")
			return false
		}
	}
	return true
}

// boolValue reads a boolean, also as the strings "true"/"false" some directories send.
func boolValue(raw json.RawMessage) (bool, bool) {
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return b, true
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch strings.ToLower(s) {
		case "true":
			return true, true
		case "false":
			return false, true
		}
	}
	return false, false
}

func stringValue(raw json.RawMessage) (string, bool) {
	var s string
	return s, json.Unmarshal(raw, &s) == nil
}

// setUserAttr applies one attribute of a patch; unknown attributes are ignored, a value
// of the wrong type refused.
func setUserAttr(u *user, path string, raw json.RawMessage, remove bool) (string, bool) {
	p := strings.ToLower(path)
	if remove {
		switch p {
		case "displayname", "name.formatted":
			u.displayName = ""
		case "externalid":
			u.externalID = ""
		case "username", "active":
			return path + " cannot be removed", false
		}
		return "", true
	}
	switch p {
	case "active":
		b, ok := boolValue(raw)
		if !ok {
			return "active must be a boolean", false
		}
		u.active = b
	case "username", "displayname", "externalid", "name.formatted", `emails[type eq "work"].value`:
		s, ok := stringValue(raw)
		if !ok {
			return path + " must be a string", false
		}
		switch p {
		case "username":
			u.userName = strings.TrimSpace(s)
		case "externalid":
			u.externalID = s
		case `emails[type eq "work"].value`:
			// The e-mail address is the userName; a different one is not kept.
		default:
			u.displayName = strings.TrimSpace(s)
		}
	}
	return "", true
}

func (h *Handler) patchUser(w http.ResponseWriter, c call) {
	var p patchOp
	if !decode(w, c.r, &p) || !p.valid(w) {
		return
	}
	cur, want, ok := h.current(w, c)
	if !ok {
		return
	}
	u := user{userName: cur.UserName, displayName: cur.DisplayName, externalID: cur.ExternalID, active: cur.Active}
	for _, o := range p.Operations {
		remove := strings.EqualFold(o.Op, "remove")
		if o.Path == "" {
			var attrs map[string]json.RawMessage
			if json.Unmarshal(o.Value, &attrs) != nil {
				writeError(w, http.StatusBadRequest, "invalidValue", "an operation without a path needs an object value")
				return
			}
			for k, v := range attrs {
				if msg, ok := setUserAttr(&u, k, v, false); !ok {
					writeError(w, http.StatusBadRequest, "invalidValue", msg)
					return
				}
			}
			continue
		}
		if msg, ok := setUserAttr(&u, o.Path, o.Value, remove); !ok {
			writeError(w, http.StatusBadRequest, "invalidValue", msg)
			return
		}
	}
	if u.userName == "" {
		writeError(w, http.StatusBadRequest, "invalidValue", "userName is required")
		return
	}
	h.update(w, c, cur.ID, want, u)
}

func (h *Handler) deleteUser(w http.ResponseWriter, c call) {
	_, want, ok := h.current(w, c)
	if !ok {
		return
	}
	if _, err := h.app.ScimDeleteUser.Handle(c.r.Context(), commands.ScimDeleteUser{Meta: c.meta(), ScimTarget: c.target(want),
		UserID: c.r.PathValue("id")}); err != nil {
		h.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
