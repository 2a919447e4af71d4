// Package jobview renders a job as the REST API and the SSE summary event show it (protocol.md §2.6).
package jobview

import (
	"bytes"
	"sort"
	"time"

	"github.com/pushlab/pushlab/internal/ejson"
	"github.com/pushlab/pushlab/server/store"
)

// RFC1123 is the REST timestamp layout: "Tue, 04 Sep 2012 23:01:02 GMT", always UTC.
const RFC1123 = "Mon, 02 Jan 2006 15:04:05 GMT"

// FormatTime formats t in UTC as the REST API does.
func FormatTime(t time.Time) string { return t.UTC().Format(RFC1123) }

// field is one key of an ordered JSON object.
type field struct {
	key string
	val any
}

// Render returns the job object in the real server's key order: ["nodes"], id, command, status,
// run_timeout, created_at, updated_at, [user], [dir], [env], [capture_output], [file_specified|file].
// withNodes adds the "nodes" map of status to node names (sorted), only statuses that have nodes.
func Render(j *store.Job, includeFile, withNodes bool) []byte {
	var fs []field
	if withNodes {
		fs = append(fs, field{"nodes", NodesByStatus(j.Nodes)})
	}
	fs = append(fs,
		field{"id", j.ID},
		field{"command", j.Command},
		field{"status", j.Status},
		field{"run_timeout", j.RunTimeout},
		field{"created_at", FormatTime(j.CreatedAt)},
		field{"updated_at", FormatTime(j.UpdatedAt)},
	)
	if j.User != nil {
		fs = append(fs, field{"user", *j.User})
	}
	if j.Dir != nil {
		fs = append(fs, field{"dir", *j.Dir})
	}
	if j.Env != nil {
		fs = append(fs, field{"env", j.Env})
	}
	if j.CaptureOutput {
		fs = append(fs, field{"capture_output", true})
	}
	if j.File != "" {
		if includeFile {
			fs = append(fs, field{"file", j.File})
		} else {
			fs = append(fs, field{"file_specified", true})
		}
	}
	return encode(fs)
}

// RenderList renders GET /jobs: an array of job objects without nodes and without files.
func RenderList(jobs []store.Job) []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	for i := range jobs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(Render(&jobs[i], false, false))
	}
	b.WriteByte(']')
	return b.Bytes()
}

// NodesByStatus inverts node -> status into status -> sorted node names.
func NodesByStatus(nodes map[string]string) map[string][]string {
	out := map[string][]string{}
	for n, s := range nodes {
		out[s] = append(out[s], n)
	}
	for _, ns := range out {
		sort.Strings(ns)
	}
	return out
}

func encode(fs []field) []byte {
	o := make(ejson.Object, len(fs))
	for i, f := range fs {
		o[i] = ejson.Field{Key: f.key, Value: f.val}
	}
	b, _ := o.MarshalJSON()
	return b
}
