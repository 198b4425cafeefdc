package domain

import (
	"errors"
	"fmt"
)

// Kind classifies an error for callers: the GraphQL edge maps it to extensions.code.
type Kind uint8

// The kinds of error Arkiv reports. Their string forms are stable API codes.
const (
	KindInternal Kind = iota
	KindInvalid
	KindUnauthenticated
	KindForbidden
	KindNotFound
	KindConflict
	KindErased
	KindUnavailable
	// KindRateLimited refuses a call made too often; the caller may retry after a while
	// (HTTP 429 with Retry-After at the edge).
	KindRateLimited
)

var kindCodes = [...]string{
	KindInternal:        "INTERNAL",
	KindInvalid:         "INVALID",
	KindUnauthenticated: "UNAUTHENTICATED",
	KindForbidden:       "FORBIDDEN",
	KindNotFound:        "NOT_FOUND",
	KindConflict:        "CONFLICT",
	KindErased:          "ERASED",
	KindUnavailable:     "UNAVAILABLE",
	KindRateLimited:     "RATE_LIMITED",
}

// String returns the stable code of the kind, e.g. "NOT_FOUND".
func (k Kind) String() string {
	if int(k) < len(kindCodes) {
		return kindCodes[k]
	}
	return "INTERNAL"
}

// Error is Arkiv's one error type: a kind, the operation that failed, a message safe to show
// to the caller, and an optional wrapped cause that is never shown to callers.
type Error struct {
	Kind Kind
	Op   string
	Msg  string
	Err  error
}

// E builds an *Error. Msg must not contain personal data: it may reach the client.
func E(kind Kind, op, msg string) *Error { return &Error{Kind: kind, Op: op, Msg: msg} }

// Wrap builds an *Error around a cause, which stays internal.
func Wrap(kind Kind, op string, err error, msg string) *Error {
	return &Error{Kind: kind, Op: op, Msg: msg, Err: err}
}

// Errorf builds an *Error with a formatted message.
func Errorf(kind Kind, op, format string, args ...any) *Error {
	return &Error{Kind: kind, Op: op, Msg: fmt.Sprintf(format, args...)}
}

// Error implements error.
func (e *Error) Error() string {
	s := e.Op
	if e.Msg != "" {
		if s != "" {
			s += ": "
		}
		s += e.Msg
	}
	if e.Err != nil {
		if s != "" {
			s += ": "
		}
		s += e.Err.Error()
	}
	if s == "" {
		s = e.Kind.String()
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the kind of the outermost *Error in err's chain, KindInternal otherwise.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		if e.Kind == KindInternal && e.Err != nil {
			if inner := KindOf(e.Err); inner != KindInternal {
				return inner
			}
		}
		return e.Kind
	}
	return KindInternal
}

// PublicMessage returns the first caller-safe message in err's chain, or a generic text.
func PublicMessage(err error) string {
	var e *Error
	for errors.As(err, &e) {
		if e.Msg != "" {
			return e.Msg
		}
		err = e.Err
		if err == nil {
			break
		}
	}
	return "internal error"
}

// Is reports whether err is an *Error of the given kind.
func Is(kind Kind, err error) bool { return err != nil && KindOf(err) == kind }
