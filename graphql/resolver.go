// Package graphql holds Arkiv's GraphQL resolvers: thin translations from the schema in
// schema.graphql to commands/ and readmodels/. gqlgen generates the rest of the package.
package graphql

// Resolver is the root resolver; it holds the use cases and read models resolvers call.
type Resolver struct {
	// Version is the server's version string.
	Version string
}
