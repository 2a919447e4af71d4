// Package ejson writes JSON the way the real Push Jobs server's Erlang encoder does: objects with keys in a fixed order, no HTML escaping, floats always with a fraction.
package ejson
