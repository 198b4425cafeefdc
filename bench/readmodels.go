package main

import (
	"context"
	"github.com/arkiv/arkiv/infra/auth"
	"io"
	"log/slog"
	"time"

	"github.com/arkiv/arkiv/app/eventlog"
	"github.com/arkiv/arkiv/commands"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/esdbwatermill"
	"github.com/arkiv/arkiv/infra/eventstore"
	"github.com/arkiv/arkiv/infra/keyring"
	"github.com/arkiv/arkiv/infra/postgres"
	"github.com/arkiv/arkiv/projections"
	"github.com/arkiv/arkiv/projections/engine"
	"github.com/arkiv/arkiv/readmodels"
	"github.com/jackc/pgx/v5/pgxpool"
)

// readmodelsScenarios measure read-your-writes (issue 6): how long after a command starts
// its effect is visible in the read models.
func readmodelsScenarios() []Scenario {
	return []Scenario{{Name: "readmodels-command-to-visible", Issue: 6, Run: benchCommandToVisible}}
}

// benchCommandToVisible sends messages (sealed) through the real command handler and waits,
// with engine.Waiter, until the readmodel, auth and audit projections have committed the
// command's position; the message is then read back, decrypted, through readmodels. The
// runner commits as soon as its subscription holds no backlog, so BatchWait only bounds
// batching under load.
func benchCommandToVisible(ctx context.Context, env *Env) ([]Result, error) {
	f, err := startESDB(ctx, env)
	if err != nil {
		return nil, err
	}
	defer f.drop()
	defer f.stop()
	store := eventstore.New(f.client)
	rmURL, dropRM, err := env.NewDatabase(ctx)
	if err != nil {
		return nil, err
	}
	defer dropRM()
	if err := postgres.Migrate(ctx, rmURL); err != nil {
		return nil, err
	}
	pool, err := pgxpool.New(ctx, rmURL)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	kr, releaseKeys, err := env.NewKeyring(ctx)
	if err != nil {
		return nil, err
	}
	defer releaseKeys()
	codec := keyring.NewCodec(kr)
	reg := domain.NewRegistry()
	if err := domain.RegisterEvents(reg); err != nil {
		return nil, err
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	app, err := commands.NewApp(commands.Deps{Store: store, Codec: codec, Clock: benchClock{}, IDs: benchIDs{}, Events: reg}, log)
	if err != nil {
		return nil, err
	}
	ps, err := projections.All(projections.Deps{Streams: store, Auth: auth.Tables{}})
	if err != nil {
		return nil, err
	}
	runner, err := engine.NewRunner(engine.Config{Pool: pool, Log: eventlog.New(f.client, esdbwatermill.Options{Logger: log}),
		Projections: ps, Logger: log, BatchWait: 5 * time.Millisecond})
	if err != nil {
		return nil, err
	}
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { _ = runner.Run(rctx) }()
	waiter := engine.NewWaiter(pool, log)
	defer waiter.Close()
	reader := readmodels.New(pool, codec)

	meta, startConv, err := benchOrg(ctx, app)
	if err != nil {
		return nil, err
	}
	var org, conv string
	n := env.Size(400, 40)
	var visible, command []time.Duration
	for i := 0; i < n; i++ {
		if i%50 == 0 { // each command replays its conversation: keep them short
			if conv, err = startConv(); err != nil {
				return nil, err
			}
		}
		t0 := time.Now()
		res, err := app.SendMessage.Handle(ctx, commands.SendMessage{Meta: meta(), ConversationID: conv, Text: "Hur lång är semestern?"})
		if err != nil {
			return nil, err
		}
		t1 := time.Now()
		if err := waiter.WaitFor(ctx, runner.Names(), res.Position, 5*time.Second); err != nil {
			return nil, err
		}
		t2 := time.Now()
		if org == "" {
			if err := pool.QueryRow(ctx, `SELECT organization_id FROM conversations WHERE conversation_id = $1`, conv).Scan(&org); err != nil {
				return nil, err
			}
		}
		if i%50 == 0 { // the message is there, decrypted
			page, err := reader.Messages(ctx, org, conv, readmodels.Page{First: readmodels.MaxFirst})
			if err != nil || len(page.Edges) == 0 || page.Edges[len(page.Edges)-1].Node.Text == nil {
				return nil, errNotVisible
			}
		}
		command = append(command, t1.Sub(t0))
		visible = append(visible, t2.Sub(t0))
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	p99 := Percentile(visible, 99)
	return []Result{
		{Metric: "command → visible p50", Value: ms(Percentile(visible, 50)), Unit: "ms"},
		{Metric: "command → visible p99", Value: ms(p99), Unit: "ms", Target: "<= 50 ms", Met: Met(p99 <= 50*time.Millisecond)},
		{Metric: "command alone p50", Value: ms(Percentile(command, 50)), Unit: "ms"},
		{Metric: "projection lag p50 (visible - command)", Value: ms(Percentile(visible, 50) - Percentile(command, 50)), Unit: "ms"},
	}, nil
}

var errNotVisible = domain.E(domain.KindInternal, "bench.readmodels", "the message is not visible in the read model after WaitFor")
