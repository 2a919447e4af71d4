// Package gate runs a scenario against a baseline and a candidate server, several times and
// interleaved, and gathers the two sides' reports for the regression gate (reports.Compare
// judges them). A side may also be given as reports of earlier runs.
package gate
