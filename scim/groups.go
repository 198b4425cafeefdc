package scim

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
)

// member is a group member reference.
type member struct {
	Value   string `json:"value"`
	Display string `json:"display,omitempty"`
	Ref     string `json:"$ref,omitempty"`
}

// groupIn is a Group as a directory sends it.
type groupIn struct {
	Schemas     []string `json:"schemas"`
	DisplayName string   `json:"displayName"`
	ExternalID  string   `json:"externalId"`
	Members     []member `json:"members"`
}

func (c call) groupOut(g domain.ScimGroup) any {
	ms := make([]member, len(g.Members))
	for i, m := range g.Members {
		ms[i] = member{Value: m, Ref: c.base + "/Users/" + m}
	}
	return struct {
		Schemas     []string `json:"schemas"`
		ID          string   `json:"id"`
		ExternalID  string   `json:"externalId,omitempty"`
		DisplayName string   `json:"displayName"`
		Members     []member `json:"members"`
		Meta        meta     `json:"meta"`
	}{Schemas: []string{SchemaGroup}, ID: g.ID, ExternalID: g.ExternalID, DisplayName: g.DisplayName, Members: ms,
		Meta: meta{ResourceType: "Group", Version: etag(g.Version), Location: c.base + "/Groups/" + g.ID}}
}

func (h *Handler) answerGroup(w http.ResponseWriter, c call, id string, status int) {
	d, ok := h.directory(w, c)
	if !ok {
		return
	}
	g, ok := d.Group(id)
	if !ok {
		writeError(w, http.StatusNotFound, "", "group not found")
		return
	}
	w.Header().Set("ETag", etag(g.Version))
	if status == http.StatusCreated {
		w.Header().Set("Location", c.base+"/Groups/"+g.ID)
	}
	writeJSON(w, status, c.groupOut(g))
}

func (h *Handler) listGroups(w http.ResponseWriter, c call) {
	f, err := parseFilter(c.r.URL.Query().Get("filter"), "displayName", "externalId")
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
	groups := d.Groups()
	if f != nil {
		groups = slices.DeleteFunc(groups, func(g domain.ScimGroup) bool {
			if f.attr == "externalId" {
				return g.ExternalID != f.value
			}
			return g.DisplayName != f.value
		})
	}
	writeList(w, groups, start, count, func(g domain.ScimGroup) any { return c.groupOut(g) })
}

func (h *Handler) getGroup(w http.ResponseWriter, c call) {
	h.answerGroup(w, c, c.r.PathValue("id"), http.StatusOK)
}

func memberIDs(ms []member) []string {
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		out = append(out, m.Value)
	}
	return out
}

func (h *Handler) createGroup(w http.ResponseWriter, c call) {
	var in groupIn
	if !decode(w, c.r, &in) {
		return
	}
	if !slices.Contains(in.Schemas, SchemaGroup) {
		writeError(w, http.StatusBadRequest, "invalidValue", "schemas must list "+SchemaGroup)
		return
	}
	res, err := h.app.ScimPutGroup.Handle(c.r.Context(), commands.ScimPutGroup{Meta: c.meta(), ScimTarget: c.target(0),
		DisplayName: in.DisplayName, ExternalID: in.ExternalID, Members: memberIDs(in.Members)})
	if err != nil {
		h.fail(w, err)
		return
	}
	h.answerGroup(w, c, res.ID, http.StatusCreated)
}

// currentGroup loads the group of the request's path, answering 404 and 412.
func (h *Handler) currentGroup(w http.ResponseWriter, c call) (domain.ScimGroup, int, bool) {
	d, ok := h.directory(w, c)
	if !ok {
		return domain.ScimGroup{}, 0, false
	}
	g, ok := d.Group(c.r.PathValue("id"))
	if !ok {
		writeError(w, http.StatusNotFound, "", "group not found")
		return domain.ScimGroup{}, 0, false
	}
	want, ok := checkVersion(w, c.r, g.Version)
	return g, want, ok
}

func (h *Handler) putGroup(w http.ResponseWriter, c call) {
	var in groupIn
	if !decode(w, c.r, &in) {
		return
	}
	if !slices.Contains(in.Schemas, SchemaGroup) {
		writeError(w, http.StatusBadRequest, "invalidValue", "schemas must list "+SchemaGroup)
		return
	}
	g, want, ok := h.currentGroup(w, c)
	if !ok {
		return
	}
	h.setGroup(w, c, g.ID, want, in.DisplayName, in.ExternalID, memberIDs(in.Members))
}

func (h *Handler) setGroup(w http.ResponseWriter, c call, id string, want int, name, external string, members []string) {
	if _, err := h.app.ScimPutGroup.Handle(c.r.Context(), commands.ScimPutGroup{Meta: c.meta(), ScimTarget: c.target(want),
		GroupID: id, DisplayName: name, ExternalID: external, Members: members}); err != nil {
		h.fail(w, err)
		return
	}
	h.answerGroup(w, c, id, http.StatusOK)
}

// memberFilter matches Entra's and Okta's `members[value eq "id"]` path.
var memberFilter = regexp.MustCompile(`^(?i:members)\[(?i:value) (?i:eq) "([^"]+)"\]$`)

func (h *Handler) patchGroup(w http.ResponseWriter, c call) {
	var p patchOp
	if !decode(w, c.r, &p) || !p.valid(w) {
		return
	}
	g, want, ok := h.currentGroup(w, c)
	if !ok {
		return
	}
	name, external, members := g.DisplayName, g.ExternalID, slices.Clone(g.Members)
	bad := func(msg string) { writeError(w, http.StatusBadRequest, "invalidValue", msg) }
	for _, o := range p.Operations {
		op := strings.ToLower(o.Op)
		path := strings.TrimSpace(o.Path)
		if m := memberFilter.FindStringSubmatch(path); m != nil {
			if op != "remove" {
				writeError(w, http.StatusBadRequest, "invalidPath", "a member filter is only removed")
				return
			}
			members = slices.DeleteFunc(members, func(s string) bool { return s == m[1] })
			continue
		}
		switch strings.ToLower(path) {
		case "members":
			var ms []member
			if op != "remove" || len(o.Value) > 0 {
				if json.Unmarshal(o.Value, &ms) != nil {
					bad("members must be a list of {\"value\": id}")
					return
				}
			}
			switch op {
			case "add":
				members = append(members, memberIDs(ms)...)
			case "replace":
				members = memberIDs(ms)
			default:
				if len(o.Value) == 0 {
					members = nil
				}
				for _, id := range memberIDs(ms) {
					members = slices.DeleteFunc(members, func(s string) bool { return s == id })
				}
			}
		case "displayname":
			s, ok := stringValue(o.Value)
			if op == "remove" || !ok {
				bad("displayName must be a string")
				return
			}
			name = s
		case "externalid":
			if op == "remove" {
				external = ""
				continue
			}
			s, ok := stringValue(o.Value)
			if !ok {
				bad("externalId must be a string")
				return
			}
			external = s
		case "":
			var attrs struct {
				DisplayName *string  `json:"displayName"`
				ExternalID  *string  `json:"externalId"`
				Members     []member `json:"members"`
			}
			if json.Unmarshal(o.Value, &attrs) != nil {
				bad("an operation without a path needs an object value")
				return
			}
			if attrs.DisplayName != nil {
				name = *attrs.DisplayName
			}
			if attrs.ExternalID != nil {
				external = *attrs.ExternalID
			}
			if attrs.Members != nil {
				if op == "add" {
					members = append(members, memberIDs(attrs.Members)...)
				} else {
					members = memberIDs(attrs.Members)
				}
			}
		default:
			writeError(w, http.StatusBadRequest, "invalidPath", "unsupported path "+path)
			return
		}
	}
	h.setGroup(w, c, g.ID, want, name, external, members)
}

func (h *Handler) deleteGroup(w http.ResponseWriter, c call) {
	g, want, ok := h.currentGroup(w, c)
	if !ok {
		return
	}
	if _, err := h.app.ScimDeleteGroup.Handle(c.r.Context(), commands.ScimDeleteGroup{Meta: c.meta(), ScimTarget: c.target(want),
		GroupID: g.ID}); err != nil {
		h.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
