// Package specs holds the conformance specs; each carries a structured comment (MUST:, Section:, Supersedes:) that the catalogue is generated from.
package specs
