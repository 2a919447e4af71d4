// Package framework is the conformance suite's machinery: targets, flags, labels, identities, nodes, feeds, verdicts and reports.
package framework
