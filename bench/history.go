package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/history"
	"github.com/arkiv/arkiv/infra/eventstore"
	"github.com/arkiv/arkiv/infra/keyring"
)

// historyScenarios measure as-of replay (issue 16): the history package's fold of an
// organisation's events.
func historyScenarios() []Scenario {
	return []Scenario{{Name: "history-as-of-who-can-access", Issue: 16, Run: benchAsOfWhoCanAccess}}
}

// benchAsOfWhoCanAccess seeds an organisation of 100,000 events over 100 days — users,
// spaces, and members added, promoted and removed — then asks whoCanAccess at random
// instants through a Replayer: the first answer reads and decodes the whole log (cold),
// every later one folds the cached events (warm, the served case). The target is the warm
// p99.
func benchAsOfWhoCanAccess(ctx context.Context, env *Env) ([]Result, error) {
	f, err := startESDB(ctx, env)
	if err != nil {
		return nil, err
	}
	defer f.close()
	store := eventstore.New(f.client)
	codec := keyring.NewPlainCodec()
	reg := domain.NewRegistry()
	if err := domain.RegisterEvents(reg); err != nil {
		return nil, err
	}
	total := env.Size(100_000, 10_000)
	org, spaces, base, err := seedHistory(ctx, store, codec, total)
	if err != nil {
		return nil, err
	}
	rep, err := history.NewReplayer(store, codec, reg)
	if err != nil {
		return nil, err
	}
	span := 100 * 24 * time.Hour
	rng := rand.New(rand.NewPCG(16, 1))
	ask := func() (time.Duration, error) {
		t := base.Add(time.Duration(rng.Int64N(int64(span))))
		start := time.Now()
		st, err := rep.At(ctx, org, t)
		if err != nil {
			return 0, err
		}
		_ = st.WhoCanAccess(spaces[rng.IntN(len(spaces))])
		return time.Since(start), nil
	}
	cold, err := ask()
	if err != nil {
		return nil, err
	}
	var warm []time.Duration
	for range env.Size(200, 30) {
		d, err := ask()
		if err != nil {
			return nil, err
		}
		warm = append(warm, d)
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	p99 := Percentile(warm, 99)
	return []Result{
		{Metric: fmt.Sprintf("as-of whoCanAccess p99, %d events", total), Value: ms(p99), Unit: "ms",
			Target: "<= 50 ms", Met: Met(p99 <= 50*time.Millisecond)},
		{Metric: "as-of whoCanAccess p50", Value: ms(Percentile(warm, 50)), Unit: "ms"},
		{Metric: "first answer (reads and decodes the log)", Value: ms(cold), Unit: "ms"},
	}, nil
}

// seedHistory appends an organisation's life of n events to store: the organisation,
// 1,000 users, 100 spaces, and membership changes spread over 100 days from base.
func seedHistory(ctx context.Context, store *eventstore.Store, codec *keyring.EventCodec, n int) (org string, spaces []string, base time.Time, err error) {
	org = uuid.NewString()
	base = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	step := 100 * 24 * time.Hour / time.Duration(n)
	seq := 0
	at := func() time.Time { seq++; return base.Add(time.Duration(seq) * step) }
	appendAll := func(stream string, evs []domain.Event) error {
		rev := domain.NoStream
		for len(evs) > 0 {
			chunk := evs[:min(500, len(evs))]
			evs = evs[len(chunk):]
			proposed := make([]domain.Proposed, len(chunk))
			for i, e := range chunk {
				id := uuid.NewString()
				data, err := codec.Encode(ctx, id, e)
				if err != nil {
					return err
				}
				md, _ := json.Marshal(domain.Metadata{Actor: "bench", Organization: org, CommandID: id, SchemaVersion: 1, OccurredAt: at()})
				proposed[i] = domain.Proposed{EventID: id, Type: e.EventName(), Data: data, Metadata: md}
			}
			if _, err := store.Append(ctx, stream, rev, proposed); err != nil {
				return err
			}
			rev += int64(len(chunk))
		}
		return nil
	}
	if err := appendAll(domain.StreamPrefixOrganization+org, []domain.Event{domain.OrganizationCreated{OrganizationID: org,
		Name: domain.Seal("Bench", domain.OrganizationSubject(org)), Settings: domain.DefaultOrganizationSettings()}}); err != nil {
		return "", nil, base, err
	}
	users := make([]string, 1000)
	for i := range users {
		users[i] = uuid.NewString()
		if err := appendAll(domain.StreamPrefixUser+users[i], []domain.Event{domain.UserRegistered{UserID: users[i], OrganizationID: org,
			Email: domain.Seal(fmt.Sprintf("u%d@bench.se", i), domain.UserSubject(users[i])),
			Name:  domain.Seal("User", domain.UserSubject(users[i])), Role: domain.OrgRoleUser}}); err != nil {
			return "", nil, base, err
		}
	}
	spaces = make([]string, 100)
	perSpace := (n - 1 - len(users)) / len(spaces)
	for s := range spaces {
		spaces[s] = uuid.NewString()
		evs := []domain.Event{domain.SpaceCreated{SpaceID: spaces[s], OrganizationID: org,
			Name: domain.Seal("Space", domain.SpaceSubject(spaces[s])), Classification: domain.ClassInternal, CreatedBy: users[0]}}
		for i := 1; i < perSpace; i++ {
			u := users[(i/3*7+s)%len(users)]
			switch i % 3 {
			case 1:
				evs = append(evs, domain.SpaceMemberAdded{SpaceID: spaces[s], UserID: u, Role: domain.SpaceRoleViewer})
			case 2:
				evs = append(evs, domain.SpaceMemberRoleChanged{SpaceID: spaces[s], UserID: u, Role: domain.SpaceRoleEditor})
			default:
				if i%9 == 0 {
					evs = append(evs, domain.SpaceMemberRemoved{SpaceID: spaces[s], UserID: u})
				} else {
					evs = append(evs, domain.SpaceModelsEnabled{SpaceID: spaces[s], Models: []domain.ModelID{}})
				}
			}
		}
		if err := appendAll(domain.StreamPrefixSpace+spaces[s], evs); err != nil {
			return "", nil, base, err
		}
	}
	return org, spaces, base, nil
}
