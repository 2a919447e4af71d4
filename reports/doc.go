// Package reports holds a run's result model and renders it: terminal summary, JSON, JUnit XML, HTML, artifact bundle, and the comparison of two runs.
package reports
