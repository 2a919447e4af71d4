package scenarios

import (
	"fmt"
	"sort"
	"strings"
)

// Pos is a place in a scenario file; lines and columns count from 1. The zero Pos is unknown.
type Pos struct {
	Line   int
	Column int
}

// IsValid reports whether the position is known.
func (p Pos) IsValid() bool { return p.Line > 0 }

func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Column) }

// Error is one problem found in a scenario file.
type Error struct {
	File    string
	Line    int
	Column  int
	Path    string // where in the document, e.g. timeline[2].job.quorum; empty for the whole file
	Message string // includes the path
}

// Error formats the problem as file:line:column: message.
func (e *Error) Error() string {
	switch {
	case e.Line > 0:
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Message)
	case e.File != "":
		return fmt.Sprintf("%s: %s", e.File, e.Message)
	default:
		return e.Message
	}
}

// ErrorList is every problem found in one scenario file, in file order.
type ErrorList struct {
	Errors []*Error
}

// Error prints one problem per line.
func (l *ErrorList) Error() string {
	lines := make([]string, len(l.Errors))
	for i, e := range l.Errors {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Len is the number of problems.
func (l *ErrorList) Len() int { return len(l.Errors) }

// Unwrap gives the problems to errors.Is and errors.As.
func (l *ErrorList) Unwrap() []error {
	out := make([]error, len(l.Errors))
	for i, e := range l.Errors {
		out[i] = e
	}
	return out
}

func (l *ErrorList) add(file string, pos Pos, path, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	l.Errors = append(l.Errors, &Error{File: file, Line: pos.Line, Column: pos.Column, Path: path, Message: msg})
}

// sort orders the problems by position and drops exact repeats.
func (l *ErrorList) sort() {
	sort.SliceStable(l.Errors, func(i, j int) bool {
		a, b := l.Errors[i], l.Errors[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	out := l.Errors[:0]
	for i, e := range l.Errors {
		if i > 0 {
			p := l.Errors[i-1]
			if p.Line == e.Line && p.Column == e.Column && p.Message == e.Message {
				continue
			}
		}
		out = append(out, e)
	}
	l.Errors = out
}

// err returns the list as an error, or nil when it is empty.
func (l *ErrorList) err() error {
	if len(l.Errors) == 0 {
		return nil
	}
	l.sort()
	return l
}

// offsetError is a problem at a byte offset inside a scalar, so the column can point at it.
type offsetError struct {
	off int
	msg string
}

func (e *offsetError) Error() string { return e.msg }

func errAt(off int, format string, args ...any) error {
	return &offsetError{off: off, msg: fmt.Sprintf(format, args...)}
}
