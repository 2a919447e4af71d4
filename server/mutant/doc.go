// Package mutant names the deliberate faults the reference server can be started with: faults
// that break a rule of the protocol, so that the conformance suite can prove it catches each
// one, and slowdowns that break none, so that the regression gate can prove it notices them.
package mutant
