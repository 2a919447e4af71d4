// Package sse reads server-sent event streams as Push Jobs feeds write them.
package sse
