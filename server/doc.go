// Package server is the pushlab reference Push Jobs server, wire-compatible with opscode-pushy-server 3.0.
package server
