//go:build !linux

package reports

// isTerminal is false where terminals are not detected; output stays plain.
func isTerminal(fd uintptr) bool { return false }
