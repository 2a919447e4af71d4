// Package scripted is a Push Jobs node whose every message the caller chooses: it fetches config, connects over CURVE and signs frames like a real node, but has no job logic of its own.
package scripted
