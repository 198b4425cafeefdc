package eventstore

import (
	"context"
	"errors"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/arkiv/arkiv/domain"
)

// mapErr classifies a client error as a domain kind. The client wraps some errors with %w,
// so the *esdb.Error is found with errors.As. Arkiv never deletes streams except when a
// subject is erased, so a deleted (tombstoned) stream is KindErased.
func mapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return domain.Wrap(domain.KindUnavailable, op, err, "event store call cancelled or timed out")
	}
	var e *esdb.Error
	if !errors.As(err, &e) {
		return domain.Wrap(domain.KindInternal, op, err, "")
	}
	switch e.Code() {
	case esdb.ErrorCodeWrongExpectedVersion:
		return domain.Wrap(domain.KindConflict, op, err, "the stream changed concurrently")
	case esdb.ErrorCodeStreamDeleted:
		return domain.Wrap(domain.KindErased, op, err, "the stream has been deleted")
	case esdb.ErrorCodeResourceNotFound:
		return domain.Wrap(domain.KindNotFound, op, err, "not found")
	case esdb.ErrorCodeAccessDenied:
		return domain.Wrap(domain.KindForbidden, op, err, "the event store denied access")
	case esdb.ErrorCodeUnauthenticated:
		return domain.Wrap(domain.KindUnauthenticated, op, err, "the event store refused the credentials")
	case esdb.ErrorCodeConnectionClosed, esdb.ErrorUnavailable, esdb.ErrorCodeDeadlineExceeded,
		esdb.ErrorCodeNotLeader, esdb.ErrorAborted:
		return domain.Wrap(domain.KindUnavailable, op, err, "the event store is unavailable")
	}
	return domain.Wrap(domain.KindInternal, op, err, "")
}

// isCode reports whether err carries the client error code c.
func isCode(err error, c esdb.ErrorCode) bool {
	var e *esdb.Error
	return errors.As(err, &e) && e.Code() == c
}
