// Package checks holds pure checkers over what a run recorded: SSE job and org feeds, final job and node statuses, outputs.
package checks
