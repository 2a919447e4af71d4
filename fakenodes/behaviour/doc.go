// Package behaviour holds the misbehaviours of simulated nodes as data: typed configs registered by name, validated, and assigned to node groups by weight and seed.
package behaviour
