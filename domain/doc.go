// Package domain holds Arkiv's aggregates, events, value objects, the RBAC table and the
// error model. It performs no I/O and imports nothing of Arkiv's outer layers.
package domain
