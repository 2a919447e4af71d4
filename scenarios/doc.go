// Package scenarios defines the pushlab/v1 Scenario format and loads it strictly, with file:line:column errors.
package scenarios
