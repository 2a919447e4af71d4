// Package catalogue reads the structured comments of the conformance specs and renders the catalogue docs/conformance.md and its compiled-in copy.
package catalogue
