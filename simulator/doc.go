// Package simulator runs a scenario's timeline against a Push Jobs server and records one history of the run.
package simulator
