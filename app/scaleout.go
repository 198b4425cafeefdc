package app

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/arkiv/arkiv/graphql/generated"
	"github.com/arkiv/arkiv/infra/natsbus"
	"github.com/arkiv/arkiv/infra/postgres"
)

// The advisory locks under which Config.Exclusive runs the worker components; each runs on
// exactly one worker process at a time. Never rename them: running processes of two
// versions must contend for the same locks.
const (
	LockProjections     = "projections"
	LockProcessManagers = "process-managers"
	LockLedger          = "ledger"
	LockBackups         = "backups"
	LockAuditStreams    = "audit-streams"
)

// RunExclusively runs fn on exactly one process of the deployment at a time: while this
// process holds the Postgres advisory lock named name (postgres.Exclusive), standing by
// otherwise, and taking over within seconds when the holder dies. Worker components that
// must not run twice (each audit stream destination, for one) use it with a name of their
// own.
func (p *Platform) RunExclusively(ctx context.Context, name string, fn func(context.Context) error) error {
	return postgres.Exclusive{URL: p.cfg.PGURL, Log: p.log}.Run(ctx, name, fn)
}

// exclusively is RunExclusively when Config.Exclusive is set, fn(ctx) otherwise.
func (p *Platform) exclusively(ctx context.Context, name string, fn func(context.Context) error) error {
	if !p.cfg.Exclusive {
		return fn(ctx)
	}
	return p.RunExclusively(ctx, name, fn)
}

// repliesTopic is the natsbus topic of reply deltas.
const repliesTopic = "replies"

// replyMessage is a reply delta on the bus.
type replyMessage struct {
	OrganizationID string                `json:"organizationId"`
	ConversationID string                `json:"conversationId"`
	Delta          *generated.ReplyDelta `json:"delta"`
}

// openBus connects to NATS and routes the reply broker through it: every replica's broker
// publishes on the bus and delivers what the bus brings to its own subscribers, so a client
// subscribed on any replica receives the tokens of a reply streamed by another.
func (p *Platform) openBus(ctx context.Context) error {
	bus, err := natsbus.Open(ctx, p.cfg.NATSURL, p.log)
	if err != nil {
		return err
	}
	p.Bus = bus
	subCtx, cancel := context.WithCancel(context.Background())
	p.closers = append(p.closers, func() { cancel(); _ = bus.Close() })
	if err := bus.Subscribe(subCtx, repliesTopic, func(payload []byte) {
		var m replyMessage
		if err := json.Unmarshal(payload, &m); err != nil || m.Delta == nil {
			p.log.Warn("dropped a malformed reply delta from NATS")
			return
		}
		p.Replies.Deliver(m.OrganizationID, m.ConversationID, m.Delta)
	}); err != nil {
		return fmt.Errorf("NATS at ARKIV_NATS_URL: %w", err)
	}
	p.Replies.SetRelay(func(orgID, conversationID string, d *generated.ReplyDelta) error {
		b, err := json.Marshal(replyMessage{OrganizationID: orgID, ConversationID: conversationID, Delta: d})
		if err != nil {
			return err
		}
		if err := bus.Publish(repliesTopic, b); err != nil {
			p.log.Warn("reply delta not published on NATS; delivered to this replica's subscribers only", "err_type", fmt.Sprintf("%T", err))
			return err
		}
		return nil
	})
	return nil
}
