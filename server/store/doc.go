// Package store is the reference server's durable store: an embedded SQLite database of identities, groups, jobs, per-node statuses, output and settings.
package store
