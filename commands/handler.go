package commands

import (
	"context"
	"log/slog"
	"time"

	"github.com/arkiv/arkiv/domain"
)

// Handler is any command handler: the GraphQL layer and the CLI call commands through it.
type Handler[C, R any] interface {
	Handle(ctx context.Context, cmd C) (R, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc[C, R any] func(ctx context.Context, cmd C) (R, error)

// Handle calls f.
func (f HandlerFunc[C, R]) Handle(ctx context.Context, cmd C) (R, error) { return f(ctx, cmd) }

// metaCarrier is a command that carries Meta (every command does, by embedding it).
type metaCarrier interface{ CommandMeta() Meta }

// logged is the logging and timing decorator.
type logged[C, R any] struct {
	name string
	log  *slog.Logger
	next Handler[C, R]
}

// withLogging wraps a handler so that every command is logged once with its name, command
// id, actor id, outcome (error kind) and duration — never its fields, which may hold
// personal data.
func withLogging[C, R any](name string, log *slog.Logger, next Handler[C, R]) Handler[C, R] {
	return logged[C, R]{name: name, log: log, next: next}
}

// Handle implements Handler.
func (l logged[C, R]) Handle(ctx context.Context, cmd C) (R, error) {
	start := time.Now()
	res, err := l.next.Handle(ctx, cmd)
	var m Meta
	if mc, ok := any(cmd).(metaCarrier); ok {
		m = mc.CommandMeta()
	}
	attrs := []slog.Attr{
		slog.String("command", l.name),
		slog.String("command_id", m.CommandID),
		slog.String("actor", m.ActorID),
		slog.Duration("duration", time.Since(start)),
	}
	if err != nil {
		kind := domain.KindOf(err)
		attrs = append(attrs, slog.String("outcome", kind.String()))
		level := slog.LevelInfo
		if kind == domain.KindInternal || kind == domain.KindUnavailable {
			level = slog.LevelError
			attrs = append(attrs, slog.String("error", err.Error()))
		}
		l.log.LogAttrs(ctx, level, "command failed", attrs...)
		return res, err
	}
	attrs = append(attrs, slog.String("outcome", "OK"))
	l.log.LogAttrs(ctx, slog.LevelInfo, "command handled", attrs...)
	return res, nil
}
