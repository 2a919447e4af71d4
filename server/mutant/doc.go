// Package mutant names the deliberate faults the reference server can be started with, so that the conformance suite can prove it catches each one.
package mutant
