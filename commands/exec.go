package commands

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/google/uuid"

	"github.com/arkiv/arkiv/domain"
)

// maxAttempts bounds the load → decide → append tries on a wrong expected revision.
const maxAttempts = 5

// accessAttempts bounds the tries of an access event on its organisation's one access log.
// Concurrent readers of one organisation all append there, one per commit winning each
// round: the soak's 16 searching clients gave up CONFLICT on 6.5 % of their searches with
// 10 tries; n contenders need about n.
const accessAttempts = 32

// eventNamespace is the UUID namespace of event ids derived from command ids.
var eventNamespace = uuid.MustParse("6f1b8a4e-2c0d-5b7e-9a3f-41d2c8e07b15")

// EventID returns the id of the index-th event a command appends to a stream: a name-based
// UUID of the command id, the stream and the index, so a retried command proposes the
// same ids.
func EventID(commandID, stream string, index int) string {
	return uuid.NewSHA1(eventNamespace, []byte(commandID+"\x00"+stream+"\x00"+strconv.Itoa(index))).String()
}

// DerivedID returns the id of an aggregate a command creates when the caller supplied none:
// a name-based UUID of the command id and the aggregate kind, so a retry creates nothing new.
func DerivedID(commandID, kind string) string {
	return uuid.NewSHA1(eventNamespace, []byte(commandID+"\x00id\x00"+kind)).String()
}

// executor runs the use cases: each is a method of it, in the file of its command, built
// on the shared load → authorize → decide → append machinery in this file.
type executor struct {
	d Deps
}

func newExecutor(d Deps) (*executor, error) {
	d, err := d.check()
	if err != nil {
		return nil, err
	}
	return &executor{d: d}, nil
}

// actor is the user running a command, as the write model knows them, with the command
// being run (for access-denied events). system marks domain.SystemActor, Arkiv's own process
// managers: it has no organisation of its own (run takes the target's) and no role.
type actor struct {
	id     string
	org    string
	role   domain.OrgRole
	meta   Meta
	cmd    domain.Command
	system bool
}

func checkMeta(m Meta) error {
	const op = "command.validate"
	if m.CommandID == "" || len(m.CommandID) > 128 {
		return domain.E(domain.KindInvalid, op, "command id must be 1 to 128 characters")
	}
	return nil
}

// loadActor loads the actor's membership from their user stream. Unknown actors are
// unauthenticated; deactivated ones are refused with an access-denied event.
//
// The system actor (domain.SystemActor) has no user stream: it is accepted for the commands
// domain.SystemAllowed lists — completing an erasure, recording retention destructions — and
// refused as forbidden for every other. Its id is not a UUID, so authentication can never
// produce it; only process managers inside Arkiv set it.
func (x *executor) loadActor(ctx context.Context, m Meta, cmd domain.Command) (actor, error) {
	const op = "command.actor"
	if err := checkMeta(m); err != nil {
		return actor{}, err
	}
	if m.ActorID == domain.SystemActor {
		if !domain.SystemAllowed(cmd) {
			return actor{}, domain.E(domain.KindForbidden, string(cmd), "the system actor may not run "+string(cmd))
		}
		return actor{id: domain.SystemActor, meta: m, cmd: cmd, system: true}, nil
	}
	if domain.ValidateID("actor id", m.ActorID) != nil {
		return actor{}, domain.E(domain.KindUnauthenticated, op, "unknown actor")
	}
	u := domain.NewUser(m.ActorID)
	if _, err := x.load(ctx, u); err != nil {
		return actor{}, err
	}
	if u.OrganizationID() == "" {
		return actor{}, domain.E(domain.KindUnauthenticated, op, "unknown actor")
	}
	a := actor{id: u.ID(), org: u.OrganizationID(), role: u.Role(), meta: m, cmd: cmd}
	if !u.Active() {
		x.deny(ctx, m, a, cmd, u.Stream(), a.org, domain.SpaceRoleNone, domain.ReasonInactive)
		return actor{}, domain.E(domain.KindUnauthenticated, op, "user is deactivated")
	}
	return a, nil
}

// load reads a's stream, decodes every event and replays it into a.
func (x *executor) load(ctx context.Context, a domain.Aggregate) ([]domain.Recorded, error) {
	recs, rev, err := x.d.Store.Load(ctx, a.Stream())
	if err != nil {
		return nil, err
	}
	events := make([]domain.Event, 0, len(recs))
	for _, r := range recs {
		e, err := x.decode(ctx, r)
		if err != nil {
			return nil, err
		}
		events = append(events, e)
	}
	domain.Replay(a, events, rev)
	return recs, nil
}

func (x *executor) decode(ctx context.Context, r domain.Recorded) (domain.Event, error) {
	p, err := x.d.Events.New(r.Type)
	if err != nil {
		return nil, err
	}
	if err := x.d.Codec.Decode(ctx, r.EventID, r.Data, p); err != nil {
		return nil, err
	}
	return domain.Deref(p)
}

// loadSameOrg loads an aggregate the command refers to (a space, a user, an assistant…).
// One that does not exist is not found; one of another organisation is refused like any
// cross-organisation target, with an access-denied event.
func (x *executor) loadSameOrg(ctx context.Context, act actor, a domain.Aggregate, what string) error {
	if _, err := x.load(ctx, a); err != nil {
		return err
	}
	switch a.OrganizationID() {
	case act.org:
		return nil
	case "":
		return domain.Errorf(domain.KindNotFound, "command.load", "%s not found", what)
	}
	return x.deny(ctx, act.meta, act, act.cmd, a.Stream(), a.OrganizationID(), domain.SpaceRoleNone, domain.ReasonOrganization)
}

// spec describes one single-stream command for run.
type spec struct {
	cmd domain.Command
	// target returns the empty target aggregate.
	target func(act actor) domain.Aggregate
	// create says the command creates the target; otherwise it must exist.
	create bool
	// space returns the id of the space whose role authorizes a space-scoped command, from
	// the loaded target.
	space func(domain.Aggregate) string
	// prepare, if set, loads what space needs before authorization (once per attempt).
	prepare func(ctx context.Context, act actor) error
	// decide records events on the loaded, authorized target.
	decide func(ctx context.Context, act actor, t domain.Aggregate) error
	// denyReason is the reason recorded when decide refuses as forbidden (default
	// domain.ReasonNotOwner).
	denyReason string
}

// run loads the actor and the target, authorizes, decides and appends with the target's
// revision as the expected one, through retryStale. A command whose events are already in
// the stream (a retry) appends nothing and returns their position.
func (x *executor) run(ctx context.Context, m Meta, s spec) (Result, error) {
	act, err := x.loadActor(ctx, m, s.cmd)
	if err != nil {
		return Result{}, err
	}
	return retryStale(ctx, string(s.cmd), maxAttempts, func() (Result, error) {
		t := s.target(act)
		recs, err := x.load(ctx, t)
		if err != nil {
			return Result{}, err
		}
		if pos, ok := applied(recs, m.CommandID, t.Stream()); ok {
			return Result{ID: t.ID(), Position: pos}, nil
		}
		if !s.create && t.OrganizationID() == "" {
			return Result{}, domain.Errorf(domain.KindNotFound, string(s.cmd), "%s not found", kindOfStream(t.Stream()))
		}
		act := act
		if act.system {
			act.org = t.OrganizationID()
		}
		if s.prepare != nil {
			if err := s.prepare(ctx, act); err != nil {
				return Result{}, err
			}
		}
		if err := x.authorize(ctx, m, act, s.cmd, t, s.space); err != nil {
			return Result{}, err
		}
		if err := s.decide(ctx, act, t); err != nil {
			if domain.Is(domain.KindForbidden, err) {
				reason := s.denyReason
				if reason == "" {
					reason = domain.ReasonNotOwner
				}
				x.deny(ctx, m, act, s.cmd, t.Stream(), t.OrganizationID(), domain.SpaceRoleNone, reason)
			}
			return Result{}, err
		}
		if len(t.Changes()) == 0 {
			return Result{ID: t.ID(), Position: lastPosition(recs)}, nil
		}
		pos, err := x.append(ctx, m, act.id, t, recs)
		if err != nil {
			return Result{}, staleOr(err)
		}
		return Result{ID: t.ID(), Position: pos}, nil
	})
}

// stale marks an append refused for a wrong expected revision: someone appended to the
// stream since it was loaded. It is the one failure retryStale retries.
type stale struct{ err error }

func (s stale) Error() string { return s.err.Error() }
func (s stale) Unwrap() error { return s.err }

// staleOr marks err as stale when it is the store's KindConflict (a wrong expected
// revision); other errors pass unchanged. Only an append's error may be given to it: a
// decision's KindConflict (say, a member added twice) is final.
func staleOr(err error) error {
	if domain.Is(domain.KindConflict, err) {
		return stale{err}
	}
	return err
}

// retryStale is the one load → decide → append loop of the write side: it runs attempt,
// which loads what it decides on, decides and appends with the loaded revision as the
// expected one, again on fresh state while the append is refused as stale, at most tries
// times, with a capped exponential backoff (with jitter, so that writers racing for one
// stream spread out) between tries. Any other failure ends it at once; so does ctx. Giving
// up is KindConflict.
func retryStale[T any](ctx context.Context, op string, tries int, attempt func() (T, error)) (T, error) {
	var zero T
	wait := &backoff.ExponentialBackOff{InitialInterval: 2 * time.Millisecond, RandomizationFactor: 0.5,
		Multiplier: 2, MaxInterval: 50 * time.Millisecond}
	var failed error // attempt's failure other than stale, which ends the loop
	res, err := backoff.Retry(ctx, func() (T, error) {
		res, err := attempt()
		var s stale
		if err != nil && !errors.As(err, &s) {
			failed = err
			return res, backoff.Permanent(err)
		}
		return res, err
	}, backoff.WithBackOff(wait), backoff.WithMaxTries(uint(tries)), backoff.WithMaxElapsedTime(0))
	var s stale
	switch {
	case err == nil:
		return res, nil
	case failed != nil:
		return zero, failed
	case errors.As(err, &s):
		return zero, domain.Errorf(domain.KindConflict, op, "concurrent changes: gave up after %d attempts", tries)
	}
	// Retry's own error: ctx ended between two tries.
	return zero, domain.Wrap(domain.KindUnavailable, op, err, "the command was cancelled or timed out")
}

// authorize checks that the target belongs to the actor's organisation (a target being
// created belongs to it by construction) and that the RBAC table allows the command for the
// actor's organisation role and — for space-scoped commands — their role in the space.
// A refusal is appended to the access log and returned as KindForbidden.
func (x *executor) authorize(ctx context.Context, m Meta, act actor, cmd domain.Command, t domain.Aggregate, spaceOf func(domain.Aggregate) string) error {
	if act.system {
		if domain.SystemAllowed(cmd) {
			return nil
		}
		return domain.E(domain.KindForbidden, string(cmd), "the system actor may not run "+string(cmd))
	}
	org := t.OrganizationID()
	if org == "" {
		org = act.org
	}
	if org != act.org {
		return x.deny(ctx, m, act, cmd, t.Stream(), org, domain.SpaceRoleNone, domain.ReasonOrganization)
	}
	role := domain.SpaceRoleNone
	if domain.ScopeOf(cmd) == domain.ScopeSpace {
		id := spaceOf(t)
		sp, ok := t.(*domain.Space)
		if !ok || sp.ID() != id {
			if domain.ValidateID("space id", id) != nil {
				return domain.E(domain.KindInvalid, string(cmd), "space id must be a lower-case UUID")
			}
			sp = domain.NewSpace(id)
			if _, err := x.load(ctx, sp); err != nil {
				return err
			}
		}
		if sp.OrganizationID() != "" && sp.OrganizationID() != act.org {
			return x.deny(ctx, m, act, cmd, sp.Stream(), sp.OrganizationID(), domain.SpaceRoleNone, domain.ReasonOrganization)
		}
		if !sp.Live() {
			return domain.E(domain.KindNotFound, string(cmd), "space not found")
		}
		role = sp.RoleOf(act.id)
	}
	if !domain.Allowed(cmd, act.role, role) {
		return x.deny(ctx, m, act, cmd, t.Stream(), org, role, domain.ReasonRole)
	}
	return nil
}

// deny appends an access.denied event to the actor's organisation's access log and returns
// the KindForbidden error for the caller. If the denial cannot be recorded, the command is
// refused all the same and the error carries the cause.
func (x *executor) deny(ctx context.Context, m Meta, act actor, cmd domain.Command, target, targetOrg string, space domain.SpaceRole, reason string) error {
	ev := domain.AccessDenied{Actor: act.id, Command: cmd, TargetStream: target, OrgRole: act.role,
		SpaceRole: space, Reason: reason, DeniedAt: x.d.Clock.Now().UTC()}
	if targetOrg != act.org {
		ev.TargetOrganizationID = targetOrg
	}
	msg := "not allowed to " + string(cmd)
	if _, err := x.appendAccess(ctx, m, act, ev, "denied"); err != nil {
		return domain.Wrap(domain.KindForbidden, string(cmd), err, msg)
	}
	return domain.E(domain.KindForbidden, string(cmd), msg)
}

// appendAccess appends one access event to the actor's organisation's access log, chained
// to the log's last event, through retryStale with accessAttempts tries: every denial and
// read of an organisation lands on its one log. tag distinguishes several access events of
// one command.
func (x *executor) appendAccess(ctx context.Context, m Meta, act actor, ev domain.Event, tag string) (uint64, error) {
	stream := domain.AccessStream(act.org)
	id := EventID(m.CommandID, stream, 0)
	if tag != "" {
		id = uuid.NewSHA1(eventNamespace, []byte(m.CommandID+"\x00"+stream+"\x00"+tag)).String()
	}
	return retryStale(ctx, "access.append", accessAttempts, func() (uint64, error) {
		last, found, err := x.d.Store.Last(ctx, stream)
		if err != nil {
			return 0, err
		}
		expected, prev := domain.NoStream, ""
		if found {
			if last.EventID == id {
				return last.Position, nil
			}
			expected, prev = int64(last.Revision), domain.HashOf(last)
		}
		p, err := x.propose(ctx, m, act.id, act.org, "", id, ev, prev)
		if err != nil {
			return 0, err
		}
		pos, err := x.d.Store.Append(ctx, stream, expected, []domain.Proposed{p})
		return pos, staleOr(err)
	})
}

// append encodes t's changes, chains them to the last loaded event and appends them with
// t's version as the expected revision.
func (x *executor) append(ctx context.Context, m Meta, actorID string, t domain.Aggregate, recs []domain.Recorded) (uint64, error) {
	prev := ""
	if len(recs) > 0 {
		prev = domain.HashOf(recs[len(recs)-1])
	}
	changes := t.Changes()
	proposed := make([]domain.Proposed, len(changes))
	for i, e := range changes {
		p, err := x.propose(ctx, m, actorID, t.OrganizationID(), t.SpaceID(), EventID(m.CommandID, t.Stream(), i), e, prev)
		if err != nil {
			return 0, err
		}
		proposed[i] = p
		prev = domain.EventHash(p.EventID, p.Type, p.Data, p.Metadata)
	}
	return x.d.Store.Append(ctx, t.Stream(), t.Version(), proposed)
}

// propose encodes one event with its metadata.
func (x *executor) propose(ctx context.Context, m Meta, actorID, org, space, id string, e domain.Event, prev string) (domain.Proposed, error) {
	data, err := x.d.Codec.Encode(ctx, id, e)
	if err != nil {
		return domain.Proposed{}, err
	}
	now := x.d.Clock.Now().UTC()
	facts := domain.AuditFactsOf(e)
	sealed := domain.SealAuditDetail(org, now, facts)
	detail, err := x.sealAuditDetail(ctx, id, sealed)
	if domain.Is(domain.KindErased, err) {
		// The entry is about an erased user (say, a read of who they could access): its
		// detail is sealed under the audit-log bucket alone.
		sealed.Subjects = sealed.Subjects[:1]
		detail, err = x.sealAuditDetail(ctx, id, sealed)
	}
	if err != nil {
		return domain.Proposed{}, err
	}
	subs := domain.SubjectsOf(e)
	if detail != "" {
		subs = domain.SubjectsOf([]any{e, sealed})
	}
	names := make([]string, len(subs))
	for i, s := range subs {
		names[i] = s.String()
	}
	md := domain.Metadata{Actor: actorID, Organization: org, Space: space,
		CorrelationID: orDefault(m.CorrelationID, m.CommandID), CausationID: orDefault(m.CausationID, m.CommandID),
		CommandID: m.CommandID, Reason: m.Reason, SchemaVersion: domain.SchemaVersion(e.EventName()), Subjects: names,
		PrevHash: prev, OccurredAt: now, AuditDetail: detail}
	if facts.Subject.Kind != "" && facts.Subject.Validate() == nil {
		md.AuditSubject = facts.Subject.String()
	}
	meta, err := json.Marshal(md)
	if err != nil {
		return domain.Proposed{}, domain.Wrap(domain.KindInternal, "command.metadata", err, "")
	}
	return domain.Proposed{EventID: id, Type: e.EventName(), Data: data, Metadata: meta}, nil
}

// auditDetailWire carries a sealed audit detail through the codec, which encrypts it bound
// to the event id and domain.AuditDetailPath.
type auditDetailWire struct {
	AuditDetail domain.Sealed `json:"auditDetail"`
}

// sealAuditDetail encrypts an audit detail for the event's metadata and returns its
// envelope, "" for none.
func (x *executor) sealAuditDetail(ctx context.Context, eventID string, detail domain.Sealed) (string, error) {
	if detail.Plain == "" {
		return "", nil
	}
	b, err := x.d.Codec.Encode(ctx, eventID, auditDetailWire{AuditDetail: detail})
	if err != nil {
		return "", err
	}
	var w struct {
		AuditDetail string `json:"auditDetail"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return "", domain.Wrap(domain.KindInternal, "command.audit_detail", err, "")
	}
	return w.AuditDetail, nil
}

// applied reports whether the command's events are already in the stream, and the
// position of the last of them.
func applied(recs []domain.Recorded, commandID, stream string) (uint64, bool) {
	first := EventID(commandID, stream, 0)
	for i, r := range recs {
		if r.EventID != first {
			continue
		}
		n := 1
		for i+n < len(recs) && recs[i+n].EventID == EventID(commandID, stream, n) {
			n++
		}
		return recs[i+n-1].Position, true
	}
	return 0, false
}

func lastPosition(recs []domain.Recorded) uint64 {
	if len(recs) == 0 {
		return 0
	}
	return recs[len(recs)-1].Position
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// kindOfStream returns the aggregate kind of a stream name ("space" of "space-<uuid>").
func kindOfStream(stream string) string {
	if n := len(stream) - 37; n > 0 && stream[n] == '-' {
		return stream[:n]
	}
	return "stream"
}

// recordAccess runs a read-type command: it loads the actor and the target (which must
// exist), authorizes, builds the access event and appends it to the organisation's access
// log.
func (x *executor) recordAccess(ctx context.Context, m Meta, cmd domain.Command, target func(actor) domain.Aggregate,
	spaceOf func(domain.Aggregate) string, build func(actor, domain.Aggregate) (domain.Event, error)) (Result, error) {
	act, err := x.loadActor(ctx, m, cmd)
	if err != nil {
		return Result{}, err
	}
	t := target(act)
	if _, err := x.load(ctx, t); err != nil {
		return Result{}, err
	}
	if t.OrganizationID() == "" {
		return Result{}, domain.Errorf(domain.KindNotFound, string(cmd), "%s not found", kindOfStream(t.Stream()))
	}
	if act.system {
		act.org = t.OrganizationID()
	}
	if err := x.authorize(ctx, m, act, cmd, t, spaceOf); err != nil {
		return Result{}, err
	}
	ev, err := build(act, t)
	if err != nil {
		return Result{}, err
	}
	pos, err := x.appendAccess(ctx, m, act, ev, "")
	if err != nil {
		return Result{}, err
	}
	return Result{ID: t.ID(), Position: pos}, nil
}
