// Package conformance is the Ginkgo suite that checks any Push Jobs implementation against protocol.md.
//
// The specs live in conformance/specs and the machinery in conformance/framework. Run runs the
// compiled-in suite in this process (go test ./conformance/..., pushlab conformance); Exec runs
// a compiled suite binary as a child process, once per target, and reads its results.
package conformance

//go:generate go test -run ^TestCatalogue$ . -args -conformance.update-catalogue
