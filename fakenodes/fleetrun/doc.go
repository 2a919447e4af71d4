// Package fleetrun runs a fleet of simulated nodes as a command: registration, shards, worker processes, progress, metrics and a clean stop.
package fleetrun
