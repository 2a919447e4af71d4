// Package engine runs the reference server's node and job state machines (protocol.md §4.5–§5.5).
package engine
