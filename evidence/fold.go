package evidence

import (
	"encoding/json"
	"sort"
	"time"

	"github.com/arkiv/arkiv/domain"
)

// Event is one event of the organisation as the bundle reads it: the stored envelope and its
// decoded metadata. Sealed fields stay sealed; nothing here is decrypted.
type Event struct {
	EventID  string
	Stream   string
	Revision uint64
	Type     string
	Data     []byte
	Meta     domain.Metadata
	// Leaf is the event's index in the ledger's tree.
	Leaf uint64
}

// At is the event's business time (metadata occurredAt).
func (e Event) At() time.Time { return e.Meta.OccurredAt.UTC() }

// Folder folds an organisation's configuration and access events, in log order, into the
// state they describe. ConfigFold is the bundle's own minimal fold; a general as-of fold can
// replace it behind this interface.
type Folder interface {
	// Apply folds one event; events the fold does not know are ignored. It returns whether
	// the event changed the configuration or access state (a change for the bundle's lists).
	Apply(e Event) (changed bool, err error)
	// State returns a copy of the state after the events applied so far.
	State() State
}

// User is a user's organisation role and status.
type User struct {
	ID     string         `json:"id"`
	Role   domain.OrgRole `json:"role"`
	Active bool           `json:"active"`
	Name   string         `json:"name,omitempty"`
}

// SpaceMember is a user's role in a space.
type SpaceMember struct {
	UserID string           `json:"userId"`
	Role   domain.SpaceRole `json:"role"`
}

// Space is a space's classification, models and members.
type Space struct {
	ID             string                `json:"id"`
	Classification domain.Classification `json:"classification"`
	Models         []domain.ModelID      `json:"models"`
	Deleted        bool                  `json:"deleted"`
	Members        []SpaceMember         `json:"members"`
}

// APIKey is an API key as the bundle shows it: never its secret or hash.
type APIKey struct {
	ID        string     `json:"id"`
	Prefix    string     `json:"prefix"`
	OwnerKind string     `json:"ownerKind"`
	OwnerID   string     `json:"ownerId"`
	CreatedBy string     `json:"createdBy"`
	CreatedAt time.Time  `json:"createdAt"`
	LastUsed  *time.Time `json:"lastUsedAt"`
	RevokedAt *time.Time `json:"revokedAt"`
	RevokedBy string     `json:"revokedBy,omitempty"`
}

// Assistant is an assistant's model, retention and data-minimisation settings.
type Assistant struct {
	ID               string         `json:"id"`
	SpaceID          string         `json:"spaceId"`
	Model            domain.ModelID `json:"model"`
	RetentionDays    int            `json:"retentionDays"`
	LogModelPayloads bool           `json:"logModelPayloads"`
	MaxExcerpts      int            `json:"maxExcerpts"`
	MaxExcerptChars  int            `json:"maxExcerptChars"`
	Deleted          bool           `json:"deleted"`
}

// IdentityProvider is an accepted OIDC issuer and audience.
type IdentityProvider struct {
	Issuer      string   `json:"issuer"`
	Audience    string   `json:"audience"`
	AllowedAMR  []string `json:"allowedAmr"`
	AcceptedACR []string `json:"acceptedAcr"`
}

// State is the organisation's configuration and access state at one instant.
type State struct {
	Exists            bool                         `json:"exists"`
	Settings          *domain.OrganizationSettings `json:"settings"`
	IdentityProviders []IdentityProvider           `json:"identityProviders"`
	Users             []User                       `json:"users"`
	Spaces            []Space                      `json:"spaces"`
	APIKeys           []APIKey                     `json:"apiKeys"`
	Assistants        []Assistant                  `json:"assistants"`
}

// ConfigFold is the bundle's fold over the domain's event types (organisation, identity
// providers, users, spaces, API keys).
type ConfigFold struct {
	settings  *domain.OrganizationSettings
	providers map[string]IdentityProvider
	users     map[string]*User
	spaces    map[string]*Space
	members   map[string]map[string]domain.SpaceRole
	keys      map[string]*APIKey
	assists   map[string]*Assistant
}

// NewConfigFold returns an empty fold.
func NewConfigFold() *ConfigFold {
	return &ConfigFold{providers: map[string]IdentityProvider{}, users: map[string]*User{},
		spaces: map[string]*Space{}, members: map[string]map[string]domain.SpaceRole{}, keys: map[string]*APIKey{},
		assists: map[string]*Assistant{}}
}

// The payloads the fold reads: the non-sealed fields of the domain's events (a sealed field
// is only ever read by the keyring codec, so these mirror the domain types without them).
type (
	orgSettingsData struct {
		Settings domain.OrganizationSettings `json:"settings"`
	}
	userData struct {
		UserID string         `json:"userId"`
		Role   domain.OrgRole `json:"role"`
	}
	spaceData struct {
		SpaceID        string                `json:"spaceId"`
		UserID         string                `json:"userId"`
		Role           domain.SpaceRole      `json:"role"`
		Classification domain.Classification `json:"classification"`
		Models         []domain.ModelID      `json:"models"`
	}
)

// Apply implements Folder.
func (f *ConfigFold) Apply(e Event) (bool, error) {
	switch e.Type {
	case domain.OrganizationCreated{}.EventName(), domain.OrganizationSettingsChanged{}.EventName():
		var d orgSettingsData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return false, err
		}
		s := d.Settings
		f.settings = &s
	case domain.IdentityProviderConfigured{}.EventName():
		var d domain.IdentityProviderConfigured
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return false, err
		}
		f.providers[d.Issuer+"\x00"+d.Audience] = IdentityProvider{Issuer: d.Issuer, Audience: d.Audience,
			AllowedAMR: nonNil(d.AllowedAMR), AcceptedACR: nonNil(d.AcceptedACR)}
	case domain.IdentityProviderRemoved{}.EventName():
		var d domain.IdentityProviderRemoved
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return false, err
		}
		delete(f.providers, d.Issuer+"\x00"+d.Audience)
	case domain.UserRegistered{}.EventName(), domain.UserRoleChanged{}.EventName(), domain.UserDeactivated{}.EventName():
		var d userData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return false, err
		}
		u := f.users[d.UserID]
		if u == nil {
			u = &User{ID: d.UserID, Active: true}
			f.users[d.UserID] = u
		}
		if e.Type == (domain.UserDeactivated{}).EventName() {
			u.Active = false
		} else {
			u.Role = d.Role
		}
	case domain.SpaceCreated{}.EventName(), domain.SpaceMemberAdded{}.EventName(), domain.SpaceMemberRemoved{}.EventName(),
		domain.SpaceMemberRoleChanged{}.EventName(), domain.SpaceModelsEnabled{}.EventName(), domain.SpaceDeleted{}.EventName():
		var d spaceData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return false, err
		}
		s := f.spaces[d.SpaceID]
		if s == nil {
			s = &Space{ID: d.SpaceID, Models: []domain.ModelID{}}
			f.spaces[d.SpaceID] = s
			f.members[d.SpaceID] = map[string]domain.SpaceRole{}
		}
		switch e.Type {
		case domain.SpaceCreated{}.EventName():
			s.Classification = d.Classification
		case domain.SpaceMemberAdded{}.EventName(), domain.SpaceMemberRoleChanged{}.EventName():
			f.members[d.SpaceID][d.UserID] = d.Role
		case domain.SpaceMemberRemoved{}.EventName():
			delete(f.members[d.SpaceID], d.UserID)
		case domain.SpaceModelsEnabled{}.EventName():
			s.Models = append([]domain.ModelID{}, d.Models...)
		case domain.SpaceDeleted{}.EventName():
			s.Deleted = true
		}
	case domain.AssistantCreated{}.EventName(), domain.AssistantUpdated{}.EventName(), domain.AssistantDeleted{}.EventName():
		var d struct {
			AssistantID      string         `json:"assistantId"`
			SpaceID          string         `json:"spaceId"`
			Model            domain.ModelID `json:"model"`
			RetentionDays    int            `json:"retentionDays"`
			LogModelPayloads bool           `json:"logModelPayloads"`
			MaxExcerpts      int            `json:"maxExcerpts"`
			MaxExcerptChars  int            `json:"maxExcerptChars"`
		}
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return false, err
		}
		a := f.assists[d.AssistantID]
		if a == nil {
			a = &Assistant{ID: d.AssistantID, SpaceID: d.SpaceID}
			f.assists[d.AssistantID] = a
		}
		if e.Type == (domain.AssistantDeleted{}).EventName() {
			a.Deleted = true
		} else {
			a.Model, a.RetentionDays, a.LogModelPayloads, a.MaxExcerpts, a.MaxExcerptChars = d.Model, d.RetentionDays, d.LogModelPayloads, d.MaxExcerpts, d.MaxExcerptChars
		}
	case domain.APIKeyCreated{}.EventName():
		var d domain.APIKeyCreated
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return false, err
		}
		f.keys[d.KeyID] = &APIKey{ID: d.KeyID, Prefix: d.Prefix, OwnerKind: d.OwnerKind, OwnerID: d.OwnerID,
			CreatedBy: d.CreatedBy, CreatedAt: e.At()}
	case domain.APIKeyRevoked{}.EventName():
		var d domain.APIKeyRevoked
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return false, err
		}
		if k := f.keys[d.KeyID]; k != nil {
			at := e.At()
			k.RevokedAt, k.RevokedBy = &at, d.RevokedBy
		}
	case domain.APIKeyUsed{}.EventName():
		var d domain.APIKeyUsed
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return false, err
		}
		if k := f.keys[d.KeyID]; k != nil {
			at := d.UsedAt.UTC()
			k.LastUsed = &at
		}
		return false, nil // use is exercise, not configuration
	default:
		return false, nil
	}
	return true, nil
}

// Classification returns a space's classification ("" when unknown).
func (f *ConfigFold) Classification(space string) domain.Classification {
	if s := f.spaces[space]; s != nil {
		return s.Classification
	}
	return ""
}

// State implements Folder: every list sorted by id, so the JSON is reproducible.
func (f *ConfigFold) State() State {
	st := State{Exists: f.settings != nil, IdentityProviders: []IdentityProvider{}, Users: []User{}, Spaces: []Space{}, APIKeys: []APIKey{}, Assistants: []Assistant{}}
	if f.settings != nil {
		s := *f.settings
		st.Settings = &s
	}
	for _, p := range f.providers {
		st.IdentityProviders = append(st.IdentityProviders, p)
	}
	sort.Slice(st.IdentityProviders, func(i, j int) bool {
		a, b := st.IdentityProviders[i], st.IdentityProviders[j]
		return a.Issuer+"\x00"+a.Audience < b.Issuer+"\x00"+b.Audience
	})
	for _, u := range f.users {
		st.Users = append(st.Users, *u)
	}
	sort.Slice(st.Users, func(i, j int) bool { return st.Users[i].ID < st.Users[j].ID })
	for id, s := range f.spaces {
		c := *s
		c.Members = []SpaceMember{}
		for u, r := range f.members[id] {
			c.Members = append(c.Members, SpaceMember{UserID: u, Role: r})
		}
		sort.Slice(c.Members, func(i, j int) bool { return c.Members[i].UserID < c.Members[j].UserID })
		st.Spaces = append(st.Spaces, c)
	}
	sort.Slice(st.Spaces, func(i, j int) bool { return st.Spaces[i].ID < st.Spaces[j].ID })
	for _, k := range f.keys {
		st.APIKeys = append(st.APIKeys, *k)
	}
	sort.Slice(st.APIKeys, func(i, j int) bool { return st.APIKeys[i].ID < st.APIKeys[j].ID })
	for _, a := range f.assists {
		st.Assistants = append(st.Assistants, *a)
	}
	sort.Slice(st.Assistants, func(i, j int) bool { return st.Assistants[i].ID < st.Assistants[j].ID })
	return st
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
