// Package feeds serves the Push Jobs SSE job and org feeds (protocol.md §6).
package feeds
