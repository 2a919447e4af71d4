package sse

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"time"
)

// Event is one event of a stream, or a comment line (":keepalive") when Comment is set.
type Event struct {
	Name    string
	ID      string
	Data    []byte
	Comment string
	// Received is when the reader had the whole event: the moment to measure an event's
	// latency at, before whatever the caller does with it.
	Received time.Time
}

// IsComment reports whether e is a comment line rather than an event.
func (e Event) IsComment() bool { return e.Name == "" && e.Comment != "" }

// Reader parses events from a stream. Push Jobs feeds write "event:", "id:" and one "data:"
// line per event, a blank line between events, and may end without a blank line after the
// last event; Reader returns that last event too.
type Reader struct {
	sc  *bufio.Scanner
	err error
}

// MaxLine is the longest line Reader accepts (a summary event of a large job is one line).
const MaxLine = 64 << 20

// NewReader returns a Reader over r.
func NewReader(r io.Reader) *Reader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLine)
	return &Reader{sc: sc}
}

// Next returns the next event or comment; io.EOF at the end of the stream.
func (r *Reader) Next() (Event, error) {
	if r.err != nil {
		return Event{}, r.err
	}
	var ev Event
	var data [][]byte
	pending := false
	for r.sc.Scan() {
		line := r.sc.Text()
		switch {
		case line == "":
			if pending {
				ev.Data = bytes.Join(data, []byte("\n"))
				ev.Received = time.Now()
				return ev, nil
			}
		case strings.HasPrefix(line, ":"):
			if !pending {
				return Event{Comment: line[1:], Received: time.Now()}, nil
			}
		default:
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			pending = true
			switch field {
			case "event":
				ev.Name = value
			case "id":
				ev.ID = value
			case "data":
				data = append(data, []byte(value))
			}
		}
	}
	r.err = r.sc.Err()
	if r.err == nil {
		r.err = io.EOF
	}
	if pending {
		ev.Data = bytes.Join(data, []byte("\n"))
		ev.Received = time.Now()
		return ev, nil
	}
	return Event{}, r.err
}

// Stream reads r on a goroutine and delivers its events and comments on the returned
// channel, which is closed at the end of the stream.
func Stream(r io.Reader) <-chan Event {
	ch := make(chan Event, 64)
	go func() {
		defer close(ch)
		rd := NewReader(r)
		for {
			ev, err := rd.Next()
			if err != nil {
				return
			}
			ch <- ev
		}
	}()
	return ch
}

// ReadAll reads events (comments dropped) until the end of the stream.
func ReadAll(r io.Reader) ([]Event, error) {
	rd := NewReader(r)
	var out []Event
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		if !ev.IsComment() {
			out = append(out, ev)
		}
	}
}
