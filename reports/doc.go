// Package reports renders a run's results: terminal summary, JSON, JUnit XML, HTML and an artifact bundle.
package reports
