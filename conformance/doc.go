// Package conformance is the Ginkgo suite that checks any Push Jobs implementation against protocol.md.
package conformance
