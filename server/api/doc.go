// Package api serves the Push Jobs REST API (/organizations/ORG/pushy/... and /pushy/_status) with the real server's order of checks, status codes and error bodies.
package api
