package main

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/eventstore"
	"github.com/arkiv/arkiv/infra/keyring"
	"github.com/google/uuid"
)

// commandsScenarios measure command handlers end to end (issue 5): load the actor and the
// aggregate, authorize, decide, seal, append through the official client to the embedded
// server.
func commandsScenarios() []Scenario {
	return []Scenario{{Name: "commands-send-message", Issue: 5, Run: benchSendMessage}}
}

type benchClock struct{}

func (benchClock) Now() time.Time { return time.Now() }

type benchIDs struct{}

func (benchIDs) NewID() string { return uuid.NewString() }

// benchSendMessage times SendMessage (one conversation per writer) with the encrypting and
// the plaintext codec side by side, sequentially and with 8 concurrent writers.
func benchSendMessage(ctx context.Context, env *Env) ([]Result, error) {
	f, err := startESDB(ctx, env)
	if err != nil {
		return nil, err
	}
	defer f.drop()
	defer f.stop()
	store := eventstore.New(f.client)
	kr, releaseKeys, err := env.NewKeyring(ctx)
	if err != nil {
		return nil, err
	}
	defer releaseKeys()
	reg := domain.NewRegistry()
	if err := domain.RegisterEvents(reg); err != nil {
		return nil, err
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	apps := map[string]*commands.App{}
	for name, codec := range map[string]commands.Codec{"sealed": keyring.NewCodec(kr), "plain": keyring.NewPlainCodec()} {
		a, err := commands.NewApp(commands.Deps{Store: store, Codec: codec, Clock: benchClock{}, IDs: benchIDs{}, Events: reg}, log)
		if err != nil {
			return nil, err
		}
		apps[name] = a
	}
	// Each codec gets its own organisation: a store is written by one codec only.
	start := map[string]func() (string, error){}
	metas := map[string]func() commands.Meta{}
	for name, a := range apps {
		m, conv, err := benchOrg(ctx, a)
		if err != nil {
			return nil, err
		}
		metas[name], start[name] = m, conv
	}
	n := env.Size(300, 30)
	// Conversations grow: each handler replays its conversation, so alternate the codecs
	// over fresh conversations of the same length.
	lat := map[string][]time.Duration{}
	convs := map[string]string{}
	for _, name := range []string{"sealed", "plain"} {
		if convs[name], err = start[name](); err != nil {
			return nil, err
		}
	}
	for i := 0; i < n; i++ {
		for _, name := range []string{"sealed", "plain"} {
			start := time.Now()
			if _, err := apps[name].SendMessage.Handle(ctx, commands.SendMessage{Meta: metas[name](), ConversationID: convs[name], Text: "Hur lång är semestern?"}); err != nil {
				return nil, err
			}
			lat[name] = append(lat[name], time.Since(start))
		}
	}
	// 8 writers, each on its own conversation, sealed.
	const writers = 8
	per := env.Size(100, 10)
	own := make([]string, writers)
	for i := range own {
		if own[i], err = start["sealed"](); err != nil {
			return nil, err
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	t0 := time.Now()
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(conv string) {
			defer wg.Done()
			for i := 0; i < per; i++ {
				if _, err := apps["sealed"].SendMessage.Handle(ctx, commands.SendMessage{Meta: metas["sealed"](), ConversationID: conv, Text: "Parallellt"}); err != nil {
					errs <- err
					return
				}
			}
		}(own[w])
	}
	wg.Wait()
	elapsed := time.Since(t0)
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	p50s, p50p := Percentile(lat["sealed"], 50), Percentile(lat["plain"], 50)
	return []Result{
		{Metric: "sealed p50", Value: ms(p50s), Unit: "ms"},
		{Metric: "sealed p95", Value: ms(Percentile(lat["sealed"], 95)), Unit: "ms"},
		{Metric: "plain p50", Value: ms(p50p), Unit: "ms"},
		{Metric: "sealed/plain p50", Value: float64(p50s) / float64(p50p), Unit: "x"},
		{Metric: "8 writers", Value: float64(writers*per) / elapsed.Seconds(), Unit: "cmd/s"},
	}, nil
}

// benchOrg bootstraps an organisation with a space, a model and an assistant; it returns
// the Admin's command metadata and a function starting a conversation of the Admin.
func benchOrg(ctx context.Context, a *commands.App) (func() commands.Meta, func() (string, error), error) {
	b, err := a.Bootstrap.Handle(ctx, commands.Bootstrap{CommandID: uuid.NewString(), OrganizationName: "Bench", AdminEmail: "admin@bench.example", AdminName: "Admin"})
	if err != nil {
		return nil, nil, err
	}
	m := func() commands.Meta { return commands.Meta{CommandID: uuid.NewString(), ActorID: b.AdminUserID} }
	s := domain.DefaultOrganizationSettings()
	s.Models = []domain.AllowedModel{{ID: "llm-a", Endpoint: "https://llm.example.se", Region: domain.RegionSE, MaxClassification: domain.ClassRestricted}}
	if _, err := a.ChangeOrganizationSettings.Handle(ctx, commands.ChangeOrganizationSettings{Meta: m(), Settings: s}); err != nil {
		return nil, nil, err
	}
	space, err := a.CreateSpace.Handle(ctx, commands.CreateSpace{Meta: m(), Name: "Bench", Classification: domain.ClassInternal})
	if err != nil {
		return nil, nil, err
	}
	if _, err := a.EnableSpaceModels.Handle(ctx, commands.EnableSpaceModels{Meta: m(), SpaceID: space.ID, Models: []domain.ModelID{"llm-a"}}); err != nil {
		return nil, nil, err
	}
	asst, err := a.CreateAssistant.Handle(ctx, commands.CreateAssistant{Meta: m(), SpaceID: space.ID, Spec: domain.AssistantSpec{Name: "A", Model: "llm-a"}})
	if err != nil {
		return nil, nil, err
	}
	return m, func() (string, error) {
		r, err := a.StartConversation.Handle(ctx, commands.StartConversation{Meta: m(), AssistantID: asst.ID})
		return r.ID, err
	}, nil
}
