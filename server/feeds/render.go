package feeds

import (
	"bytes"
	"strconv"
	"time"

	"github.com/pushlab/pushlab/internal/ejson"
	"github.com/pushlab/pushlab/server/engine"
)

// TimeLayout is the SSE timestamp layout: "2012-09-04 23:01:02.123456Z" (UTC, microseconds).
const TimeLayout = "2006-01-02 15:04:05.000000Z"

// FormatTime formats t as an SSE timestamp.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

type kv struct {
	k string
	v any
}

// render encodes one event without its separating blank line:
// "event: NAME\nid: ID\ndata: {"timestamp":...,...}".
func render(name, id string, ts time.Time, fields []kv) []byte {
	var b bytes.Buffer
	b.WriteString("event: ")
	b.WriteString(name)
	b.WriteString("\nid: ")
	b.WriteString(id)
	b.WriteString("\ndata: {\"timestamp\":\"")
	b.WriteString(FormatTime(ts))
	b.WriteByte('"')
	for _, f := range fields {
		ejson.AppendField(&b, f.k, f.v)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// fields returns an engine event's data fields in the real server's order.
func fields(ev engine.Event) []kv {
	switch ev.Name {
	case engine.EventStart:
		s := ev.Start
		if s == nil {
			s = &engine.Start{}
		}
		fs := []kv{{"command", s.Command}, {"run_timeout", s.RunTimeout}, {"quorum", s.Quorum},
			{"node_count", s.NodeCount}, {"user", s.User}}
		if s.JobUser != nil {
			fs = append(fs, kv{"job_user", *s.JobUser})
		}
		if s.Dir != nil {
			fs = append(fs, kv{"dir", *s.Dir})
		}
		if s.Env != nil {
			fs = append(fs, kv{"env", s.Env})
		}
		if s.File {
			fs = append(fs, kv{"file_specified", true})
		}
		return append(fs, kv{"capture", s.Capture})
	case engine.EventQuorumVote, engine.EventRunComplete:
		return []kv{{"node", ev.Node}, {"status", ev.Status}}
	case engine.EventRunStart, engine.EventRehab:
		return []kv{{"node", ev.Node}}
	case engine.EventJobComplete:
		return []kv{{"status", ev.Status}}
	}
	return nil
}

func jobEventID(seq int) string { return "job-" + strconv.Itoa(seq) }
func orgEventID(seq int) string { return "org-" + strconv.Itoa(seq) }

// join concatenates events with blank lines between them (none after the last).
func join(evs [][]byte) []byte {
	var b bytes.Buffer
	for i, e := range evs {
		if i > 0 {
			b.WriteString("\n\n")
		}
		b.Write(e)
	}
	return b.Bytes()
}
