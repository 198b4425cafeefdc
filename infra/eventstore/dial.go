package eventstore

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/arkiv/arkiv/domain"
	// Reads and subscriptions decode each event without protobuf reflection.
	_ "github.com/arkiv/arkiv/infra/esdbcodec"
)

// Dial creates an official client for connection string url whose own log lines go to log
// (JSON through slog like the rest of Arkiv) instead of the client's plain console output.
// A nil log means slog.Default(). The client dials lazily.
func Dial(url string, log *slog.Logger) (*esdb.Client, error) {
	cfg, err := esdb.ParseConnectionString(url)
	if err != nil {
		return nil, domain.Wrap(domain.KindInvalid, "eventstore.dial", err, "bad event store connection string")
	}
	if log == nil {
		log = slog.Default()
	}
	cfg.Logger = clientLogger(log)
	c, err := esdb.NewClient(cfg)
	if err != nil {
		return nil, domain.Wrap(domain.KindUnavailable, "eventstore.dial", err, "cannot create event store client")
	}
	return c, nil
}

// clientLogger adapts slog to the client's printf-style logging function.
func clientLogger(log *slog.Logger) esdb.LoggingFunc {
	return func(level esdb.LogLevel, format string, args ...interface{}) {
		// v4.2.0 passes its arguments on as one slice; spread it again.
		if len(args) == 1 {
			if inner, ok := args[0].([]interface{}); ok {
				args = inner
			}
		}
		// The client's info lines (one per discovery attempt) are connection chatter: debug.
		l := slog.LevelDebug
		switch level {
		case esdb.LogWarn:
			l = slog.LevelWarn
		case esdb.LogError:
			l = slog.LevelError
		}
		if !log.Enabled(context.Background(), l) {
			return
		}
		log.Log(context.Background(), l, "eventstore client: "+fmt.Sprintf(format, args...))
	}
}
