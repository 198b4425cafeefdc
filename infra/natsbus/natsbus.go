// Package natsbus carries live, short-lived messages between Arkiv's API replicas over NATS
// JetStream, through Watermill's NATS publisher and subscriber (watermill-nats/v2): every
// replica subscribes with an ephemeral consumer that delivers only what is published after
// it subscribed, so each message reaches every replica once. Nothing here is a system of
// record: the stream keeps messages in memory for a minute, for replicas that reconnect.
package natsbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
)

// Stream is the JetStream stream of live messages; its subjects are Prefix + topic.
const (
	Stream = "ARKIV_LIVE"
	Prefix = "arkiv.live."
	// MaxAge is how long the stream keeps a message.
	MaxAge = time.Minute
)

// Bus is a connection to NATS with a Watermill publisher and subscriber on it.
type Bus struct {
	conn *nats.Conn
	pub  *wmnats.Publisher
	sub  *wmnats.Subscriber
	log  *slog.Logger
}

// Open connects to url (comma-separated for a cluster), creates the stream when it is
// missing and returns the bus. It fails when NATS is unreachable or has no JetStream.
func Open(ctx context.Context, url string, log *slog.Logger) (*Bus, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	conn, err := nats.Connect(url, nats.Name("arkiv"), nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond), nats.Timeout(5*time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn("NATS connection lost; reconnecting", "err_type", fmt.Sprintf("%T", err))
		}),
		nats.ReconnectHandler(func(*nats.Conn) { log.Info("NATS connection restored") }))
	if err != nil {
		return nil, fmt.Errorf("NATS at ARKIV_NATS_URL: %w", err)
	}
	b := &Bus{conn: conn, log: log}
	if err := b.ensureStream(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("NATS at ARKIV_NATS_URL (JetStream): %w", err)
	}
	wl := watermill.NewSlogLogger(log)
	if b.pub, err = wmnats.NewPublisherWithNatsConn(conn, wmnats.PublisherPublishConfig{
		Marshaler: &wmnats.NATSMarshaler{}, SubjectCalculator: wmnats.DefaultSubjectCalculator,
	}, wl); err != nil {
		conn.Close()
		return nil, err
	}
	if b.sub, err = wmnats.NewSubscriberWithNatsConn(conn, wmnats.SubscriberSubscriptionConfig{
		Unmarshaler: &wmnats.NATSMarshaler{}, AckWaitTimeout: 5 * time.Second, CloseTimeout: 2 * time.Second,
		JetStream: wmnats.JetStreamConfig{AckAsync: true,
			SubscribeOptions: []nats.SubOpt{nats.DeliverNew(), nats.AckExplicit()}},
	}, wl); err != nil {
		conn.Close()
		return nil, err
	}
	return b, nil
}

func (b *Bus) ensureStream(ctx context.Context) error {
	js, err := b.conn.JetStream(nats.Context(ctx))
	if err != nil {
		return err
	}
	cfg := &nats.StreamConfig{Name: Stream, Subjects: []string{Prefix + ">"}, Storage: nats.MemoryStorage,
		MaxAge: MaxAge, Discard: nats.DiscardOld, Description: "Arkiv's live fan-out between API replicas"}
	if _, err := js.StreamInfo(Stream, nats.Context(ctx)); errors.Is(err, nats.ErrStreamNotFound) {
		_, err = js.AddStream(cfg, nats.Context(ctx))
		if errors.Is(err, nats.ErrStreamNameAlreadyInUse) {
			return nil // another replica created it meanwhile
		}
		return err
	} else if err != nil {
		return err
	}
	return nil
}

// Publish sends payload on topic and returns once JetStream has stored it.
func (b *Bus) Publish(topic string, payload []byte) error {
	return b.pub.Publish(Prefix+topic, message.NewMessage(uuid.NewString(), payload))
}

// Subscribe calls handle, in order and one at a time, with each payload published on topic
// from now until ctx ends.
func (b *Bus) Subscribe(ctx context.Context, topic string, handle func(payload []byte)) error {
	msgs, err := b.sub.Subscribe(ctx, Prefix+topic)
	if err != nil {
		return err
	}
	go func() {
		for m := range msgs {
			handle(m.Payload)
			m.Ack()
		}
	}()
	return nil
}

// Ping checks the connection with a round trip to the server.
func (b *Bus) Ping(ctx context.Context) error { return b.conn.FlushWithContext(ctx) }

// Close stops the subscriptions and closes the connection.
func (b *Bus) Close() error {
	err := b.sub.Close()
	b.conn.Close()
	return err
}
