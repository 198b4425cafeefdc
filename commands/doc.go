// Package commands holds Arkiv's use cases, one per file: the command struct and the
// executor method that runs it. app.go registers every one in App, once, behind the logging
// decorator (handler.go); exec.go is the shared machinery: load the actor and the target,
// authorize against domain's RBAC table, decide, and append with the loaded revision in
// one retry loop (retryStale) on a wrong expected revision. ports.go and ask_ports.go
// declare the interfaces it needs (EventStore, Codec, IDs, Retriever, ModelRouter; time
// comes from a domain.Clock); infra implements them, and commands never imports infra.
package commands
