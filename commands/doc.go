// Package commands holds Arkiv's use cases, one per file: each command is a plain struct,
// its handler loads the actor's membership and the target aggregate from the event store,
// authorizes against the RBAC table in domain, decides, and appends with an expected
// revision. It declares the small interfaces it needs (EventStore, Codec, Clock, IDs) and
// never imports infra.
package commands
