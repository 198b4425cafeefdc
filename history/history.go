// Package history answers what an organisation looked like at an instant — who could access
// which space, its settings and identity providers, a space's classification, models and
// members, an assistant's model, retention and logging — by folding the organisation's events
// up to that instant into the domain's own aggregates. It never reads the projected tables, so
// its answers hold for any period, rebuilt read models or not.
//
// It reads the log through Log (the event store adapter) and decodes through Codec (the
// keyring codec). Replayer keeps each organisation's folded events in memory so that a
// question costs a fold, not a read of the log; Fold reads the log every time and is what the
// cache is tested against.
package history

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"time"

	"github.com/arkiv/arkiv/domain"
)

// Log is what the fold needs of the event store: the global log ($all) in order.
type Log interface {
	// ReadAll reads up to max events after the commit position after (0: from the start).
	ReadAll(ctx context.Context, after uint64, max uint64) ([]domain.Recorded, error)
}

// Codec decodes event payloads, opening their sealed fields (infra/keyring).
type Codec interface {
	Decode(ctx context.Context, eventID string, data []byte, into any) error
}

// pageSize is how many events one read of the log asks for.
const pageSize = 4096

// folded lists the event types the fold applies; every other event is skipped undecoded.
var folded = func() map[string]bool {
	m := map[string]bool{}
	for _, e := range []domain.Event{
		domain.OrganizationCreated{}, domain.OrganizationSettingsChanged{},
		domain.IdentityProviderConfigured{}, domain.IdentityProviderRemoved{},
		domain.UserRegistered{}, domain.UserRoleChanged{}, domain.UserDeactivated{},
		domain.SpaceCreated{}, domain.SpaceMemberAdded{}, domain.SpaceMemberRemoved{}, domain.SpaceMemberRoleChanged{},
		domain.SpaceModelsEnabled{}, domain.SpaceDeleted{},
		domain.AssistantCreated{}, domain.AssistantUpdated{}, domain.AssistantDeleted{},
		domain.ErasureRequested{}, domain.ErasureRestored{}, domain.ErasureCompleted{},
	} {
		m[e.EventName()] = true
	}
	return m
}()

// fact is one folded event: where it is in its stream, when it occurred (business time,
// from the metadata's injected clock) and the event, its sealed fields emptied.
type fact struct {
	stream   string
	revision uint64
	at       time.Time
	event    domain.Event
}

// meta is the part of an event's metadata the fold reads.
type meta struct {
	Organization string    `json:"organization"`
	OccurredAt   time.Time `json:"occurredAt"`
}

// decoder turns recorded events into facts.
type decoder struct {
	codec  Codec
	events *domain.Registry
}

// fact decodes r into a fact of its organisation; ok is false for an event the fold skips.
func (d decoder) fact(ctx context.Context, r domain.Recorded) (org string, f fact, ok bool, err error) {
	if !folded[r.Type] {
		return "", fact{}, false, nil
	}
	var m meta
	if err := json.Unmarshal(r.Metadata, &m); err != nil {
		return "", fact{}, false, domain.Wrap(domain.KindInternal, "history.decode", err, "bad event metadata")
	}
	if m.Organization == "" {
		return "", fact{}, false, nil
	}
	p, err := d.events.New(r.Type)
	if err != nil {
		return "", fact{}, false, err
	}
	if err := d.codec.Decode(ctx, r.EventID, r.Data, p); err != nil {
		return "", fact{}, false, err
	}
	e, err := domain.Deref(p)
	if err != nil {
		return "", fact{}, false, err
	}
	return m.Organization, fact{stream: r.Stream, revision: r.Revision, at: m.OccurredAt.UTC(), event: scrub(e)}, true, nil
}

// scrub empties the sealed fields of e: no answer needs them, and a fact kept in memory
// must not outlive the erasure of what it held.
func scrub(e domain.Event) domain.Event {
	switch e := e.(type) {
	case domain.OrganizationCreated:
		e.Name = domain.Sealed{}
		return e
	case domain.UserRegistered:
		e.Email, e.Name = domain.Sealed{}, domain.Sealed{}
		return e
	case domain.SpaceCreated:
		e.Name = domain.Sealed{}
		return e
	case domain.AssistantCreated:
		e.Name, e.Instructions = domain.Sealed{}, domain.Sealed{}
		return e
	case domain.AssistantUpdated:
		e.Name, e.Instructions = domain.Sealed{}, domain.Sealed{}
		return e
	}
	return e
}

// Fold reads the whole log and folds org's events that occurred at or before t. It is the
// reference the Replayer's cache agrees with.
func Fold(ctx context.Context, log Log, codec Codec, events *domain.Registry, org string, t time.Time) (*State, error) {
	if log == nil || codec == nil || events == nil {
		return nil, domain.E(domain.KindInternal, "history.fold", "nil log, codec or event registry")
	}
	d := decoder{codec: codec, events: events}
	s := newState(org)
	var after uint64
	for {
		page, err := log.ReadAll(ctx, after, pageSize)
		if err != nil {
			return nil, err
		}
		if len(page) == 0 {
			return s, nil
		}
		for _, r := range page {
			after = r.Position
			o, f, ok, err := d.fact(ctx, r)
			if err != nil {
				return nil, err
			}
			if ok && o == org && !f.at.After(t) {
				s.apply(f)
			}
		}
	}
}

// State is an organisation as it was at an instant: its aggregates, each replayed from the
// events of its stream that had occurred by then.
type State struct {
	org        *domain.Organization
	users      map[string]*domain.User
	spaces     map[string]*domain.Space
	assistants map[string]*domain.Assistant
	erasures   map[string]*domain.Erasure
	// hiddenSet caches hidden's answers: the subjects under a pending or completed erasure
	// (nil until asked, and again after every apply).
	hiddenSet map[domain.Subject]bool
}

func newState(org string) *State {
	return &State{org: domain.NewOrganization(org), users: map[string]*domain.User{}, spaces: map[string]*domain.Space{},
		assistants: map[string]*domain.Assistant{}, erasures: map[string]*domain.Erasure{}}
}

// aggregate returns the aggregate of f's stream, created on first use; nil for a stream
// the fold does not keep.
func (s *State) aggregate(stream string) domain.Aggregate {
	id := stream[strings.IndexByte(stream, '-')+1:]
	switch {
	case strings.HasPrefix(stream, domain.StreamPrefixOrganization):
		if id != s.org.ID() {
			return nil
		}
		return s.org
	case strings.HasPrefix(stream, domain.StreamPrefixUser):
		return get(s.users, id, domain.NewUser)
	case strings.HasPrefix(stream, domain.StreamPrefixSpace):
		return get(s.spaces, id, domain.NewSpace)
	case strings.HasPrefix(stream, domain.StreamPrefixAssistant):
		return get(s.assistants, id, domain.NewAssistant)
	case strings.HasPrefix(stream, domain.StreamPrefixErasure):
		return get(s.erasures, id, domain.NewErasure)
	}
	return nil
}

func get[A domain.Aggregate](m map[string]A, id string, create func(string) A) A {
	a, ok := m[id]
	if !ok {
		a = create(id)
		m[id] = a
	}
	return a
}

// apply replays f into its aggregate, exactly as loading the aggregate's stream would.
func (s *State) apply(f fact) {
	if a := s.aggregate(f.stream); a != nil {
		domain.Replay(a, []domain.Event{f.event}, int64(f.revision))
		s.hiddenSet = nil
	}
}

// hidden reports whether a subject is under an erasure that was pending or completed: its
// data is hidden from every answer, as from the read models.
func (s *State) hidden(kind domain.SubjectKind, id string) bool {
	if s.hiddenSet == nil {
		s.hiddenSet = map[domain.Subject]bool{}
		for _, x := range s.erasures {
			if st := x.State(); st == domain.ErasurePendingState || st == domain.ErasureCompletedState {
				s.hiddenSet[x.Subject()] = true
			}
		}
	}
	return s.hiddenSet[domain.Subject{Kind: kind, ID: id}] || s.hiddenSet[domain.OrganizationSubject(s.org.ID())]
}

// Access is one user's access to one space, with the role.
type Access struct {
	SpaceID string           `json:"spaceId"`
	UserID  string           `json:"userId"`
	Role    domain.SpaceRole `json:"role"`
}

// visibleSpace returns the space id when it existed, was not deleted and not erased.
func (s *State) visibleSpace(id string) (*domain.Space, bool) {
	sp, ok := s.spaces[id]
	if !ok || !sp.Live() || sp.OrganizationID() != s.org.ID() || s.hidden(domain.SubjectSpace, id) {
		return nil, false
	}
	return sp, true
}

// activeUser reports whether the user was an active, unerased user of the organisation.
func (s *State) activeUser(id string) bool {
	u, ok := s.users[id]
	return ok && u.Active() && u.OrganizationID() == s.org.ID() && !s.hidden(domain.SubjectUser, id)
}

// WhoCanAccess returns who could access the space, and with which role: its members who
// were active users, by user id. Organisation Admins have no implicit access (the RBAC
// table gives them none).
func (s *State) WhoCanAccess(spaceID string) []Access {
	out := []Access{}
	sp, ok := s.visibleSpace(spaceID)
	if !ok {
		return out
	}
	for u, role := range sp.Members() {
		if s.activeUser(u) {
			out = append(out, Access{SpaceID: spaceID, UserID: u, Role: role})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UserID < out[j].UserID })
	return out
}

// SpaceIDs returns the ids of the spaces that existed (not deleted, not erased), sorted.
func (s *State) SpaceIDs() []string {
	out := []string{}
	for id := range s.spaces {
		if _, ok := s.visibleSpace(id); ok {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// AccessOf returns the spaces the user could access, with the role, by space id; none for
// a user who was not active.
func (s *State) AccessOf(userID string) []Access {
	out := []Access{}
	if !s.activeUser(userID) {
		return out
	}
	for id := range s.spaces {
		if sp, ok := s.visibleSpace(id); ok {
			if role := sp.RoleOf(userID); role != domain.SpaceRoleNone {
				out = append(out, Access{SpaceID: id, UserID: userID, Role: role})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].SpaceID < out[j].SpaceID })
	return out
}

// Settings is an organisation's configuration at an instant.
type Settings struct {
	// Exists is false before the organisation was created (or once it is erased).
	Exists            bool                        `json:"exists"`
	Settings          domain.OrganizationSettings `json:"settings"`
	IdentityProviders []domain.IdentityProvider   `json:"identityProviders"`
}

// Settings returns the organisation's settings and identity providers.
func (s *State) Settings() Settings {
	if s.org.OrganizationID() == "" || s.hidden(domain.SubjectOrganization, s.org.ID()) {
		return Settings{IdentityProviders: []domain.IdentityProvider{}}
	}
	return Settings{Exists: true, Settings: s.org.Settings(), IdentityProviders: s.org.IdentityProviders()}
}

// Space is a space at an instant.
type Space struct {
	ID             string                `json:"id"`
	Classification domain.Classification `json:"classification"`
	Models         []domain.ModelID      `json:"models"`
	// Members are every member with their role, by user id, including members who were
	// deactivated users (WhoCanAccess leaves those out).
	Members []Access `json:"members"`
}

// Space returns the space, nil when it did not exist (or was deleted or erased).
func (s *State) Space(id string) *Space {
	sp, ok := s.visibleSpace(id)
	if !ok {
		return nil
	}
	out := &Space{ID: id, Classification: sp.Classification(), Models: sp.Models(), Members: []Access{}}
	if out.Models == nil {
		out.Models = []domain.ModelID{}
	}
	for u, role := range sp.Members() {
		if !s.hidden(domain.SubjectUser, u) {
			out.Members = append(out.Members, Access{SpaceID: id, UserID: u, Role: role})
		}
	}
	sort.Slice(out.Members, func(i, j int) bool { return out.Members[i].UserID < out.Members[j].UserID })
	return out
}

// Assistant is an assistant at an instant: the settings a DPIA asks about.
type Assistant struct {
	ID               string         `json:"id"`
	SpaceID          string         `json:"spaceId"`
	Model            domain.ModelID `json:"model"`
	RetentionDays    int            `json:"retentionDays"`
	LogModelPayloads bool           `json:"logModelPayloads"`
	MaxExcerpts      int            `json:"maxExcerpts"`
	MaxExcerptChars  int            `json:"maxExcerptChars"`
}

// Assistant returns the assistant, nil when it did not exist (or was deleted, or its space
// was gone).
func (s *State) Assistant(id string) *Assistant {
	a, ok := s.assistants[id]
	if !ok || !a.Live() || a.OrganizationID() != s.org.ID() {
		return nil
	}
	if _, ok := s.visibleSpace(a.SpaceID()); !ok {
		return nil
	}
	spec := a.Spec()
	return &Assistant{ID: id, SpaceID: a.SpaceID(), Model: spec.Model, RetentionDays: spec.RetentionDays,
		LogModelPayloads: spec.LogModelPayloads, MaxExcerpts: spec.MaxExcerpts, MaxExcerptChars: spec.MaxExcerptChars}
}
