// Package fakenodes simulates Push Jobs nodes that speak the real node protocol and misbehave on purpose.
package fakenodes
