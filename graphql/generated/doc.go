// Package generated is gqlgen's output for schema.graphql (make generate, configured by
// gqlgen.yml): the executable schema and the models of inputs and payloads the read side has
// no struct for. Nothing in it is written by hand; package graphql implements its resolver
// interfaces.
package generated
