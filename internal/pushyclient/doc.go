// Package pushyclient is a typed REST and SSE client for any Push Jobs server, signing every request with Chef request signing.
package pushyclient
