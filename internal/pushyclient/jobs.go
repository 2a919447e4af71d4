package pushyclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// JobRequest is the body of POST /pushy/jobs (protocol.md §2.5). Nil pointers and empty
// strings are left out; Env is sent whenever it is non-nil, even when empty.
type JobRequest struct {
	Command       string
	Nodes         []string
	Quorum        *int
	RunTimeout    *int
	User          string
	Dir           string
	Env           map[string]string
	File          string // "raw:..." or "base64:..."
	CaptureOutput *bool
}

// MarshalJSON writes the request in the key order knife-push sends.
func (r JobRequest) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	first := true
	put := func(k string, v any) error {
		enc, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("job request %s: %w", k, err)
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		b.Write(enc)
		return nil
	}
	nodes := r.Nodes
	if nodes == nil {
		nodes = []string{}
	}
	fields := []struct {
		k    string
		v    any
		keep bool
	}{
		{"command", r.Command, true},
		{"nodes", nodes, true},
		{"quorum", r.Quorum, r.Quorum != nil},
		{"file", r.File, r.File != ""},
		{"capture_output", r.CaptureOutput, r.CaptureOutput != nil},
		{"env", r.Env, r.Env != nil},
		{"dir", r.Dir, r.Dir != ""},
		{"user", r.User, r.User != ""},
		{"run_timeout", r.RunTimeout, r.RunTimeout != nil},
	}
	for _, f := range fields {
		if !f.keep {
			continue
		}
		if err := put(f.k, f.v); err != nil {
			return nil, err
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// Started is the answer to a job creation.
type Started struct {
	URI string // the "uri" of the reply
	ID  string // the job id: the last 32 characters of URI, as knife-push takes it
}

// StartJob creates a job (POST /pushy/jobs). A 4xx reply is an *Error carrying the server's
// message.
func (c *Client) StartJob(ctx context.Context, req JobRequest) (Started, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return Started{}, err
	}
	return c.StartJobRaw(ctx, body)
}

// StartJobRaw posts body as is to /pushy/jobs.
func (c *Client) StartJobRaw(ctx context.Context, body []byte) (Started, error) {
	path := c.pushy("jobs")
	b, _, err := c.call(ctx, http.MethodPost, path, body, nil)
	if err != nil {
		return Started{}, err
	}
	var out struct {
		URI string `json:"uri"`
	}
	if err := decode(http.MethodPost, path, b, &out); err != nil {
		return Started{}, err
	}
	if out.URI == "" {
		return Started{}, fmt.Errorf("POST %s: reply has no uri: %s", path, b)
	}
	id := out.URI
	if len(id) > 32 {
		id = id[len(id)-32:]
	}
	return Started{URI: out.URI, ID: id}, nil
}

// Job is a job object of GET /pushy/jobs or /pushy/jobs/ID (protocol.md §2.6).
type Job struct {
	ID            string              `json:"id"`
	Command       string              `json:"command"`
	Status        string              `json:"status"`
	RunTimeout    json.Number         `json:"run_timeout"`
	CreatedAt     string              `json:"created_at"`
	UpdatedAt     string              `json:"updated_at"`
	User          string              `json:"user,omitempty"`
	Dir           string              `json:"dir,omitempty"`
	Env           map[string]string   `json:"env,omitempty"`
	CaptureOutput bool                `json:"capture_output,omitempty"`
	FileSpecified bool                `json:"file_specified,omitempty"`
	File          string              `json:"file,omitempty"`
	Nodes         map[string][]string `json:"nodes,omitempty"` // per-node status → node names; GET /jobs/ID only

	// Raw is the object exactly as the server sent it.
	Raw json.RawMessage `json:"-"`
}

// Finished reports whether the job has left new, voting and running.
func (j *Job) Finished() bool {
	switch j.Status {
	case "new", "voting", "running":
		return false
	}
	return true
}

// NodeStatus inverts Nodes: node name → per-node status.
func (j *Job) NodeStatus() map[string]string {
	out := make(map[string]string)
	for st, names := range j.Nodes {
		for _, n := range names {
			out[n] = st
		}
	}
	return out
}

func decodeJob(method, path string, raw []byte) (*Job, error) {
	var j Job
	if err := decode(method, path, raw, &j); err != nil {
		return nil, err
	}
	j.Raw = append(json.RawMessage(nil), raw...)
	return &j, nil
}

// Job returns one job with its nodes (GET /pushy/jobs/ID).
func (c *Client) Job(ctx context.Context, id string) (*Job, error) {
	return c.getJob(ctx, c.pushy("jobs", id))
}

// JobWithFile is Job with ?include_file=true: File replaces FileSpecified.
func (c *Client) JobWithFile(ctx context.Context, id string) (*Job, error) {
	return c.getJob(ctx, c.pushy("jobs", id)+"?include_file=true")
}

// JobURI fetches a job by the uri StartJob returned; only its path is used, so the job is
// read from this client's server whatever host the uri names.
func (c *Client) JobURI(ctx context.Context, uri string) (*Job, error) {
	u, err := url.Parse(uri)
	if err != nil || !strings.HasPrefix(u.Path, "/") {
		return nil, fmt.Errorf("job uri %q: not an absolute URL", uri)
	}
	return c.getJob(ctx, u.EscapedPath())
}

func (c *Client) getJob(ctx context.Context, path string) (*Job, error) {
	b, _, err := c.call(ctx, http.MethodGet, path, nil, nil)
	if err != nil {
		return nil, err
	}
	return decodeJob(http.MethodGet, path, b)
}

// Jobs lists every job of the organization (GET /pushy/jobs), in the server's order.
func (c *Client) Jobs(ctx context.Context) ([]Job, error) {
	path := c.pushy("jobs")
	b, _, err := c.call(ctx, http.MethodGet, path, nil, nil)
	if err != nil {
		return nil, err
	}
	var raws []json.RawMessage
	if err := decode(http.MethodGet, path, b, &raws); err != nil {
		return nil, err
	}
	jobs := make([]Job, 0, len(raws))
	for _, r := range raws {
		j, err := decodeJob(http.MethodGet, path, r)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, *j)
	}
	return jobs, nil
}

// Output returns a node's captured output of a job, byte for byte (GET
// /pushy/jobs/ID/output/NODE/CHANNEL); channel is "stdout" or "stderr".
func (c *Client) Output(ctx context.Context, id, node, channel string) ([]byte, error) {
	if channel != "stdout" && channel != "stderr" {
		return nil, fmt.Errorf("output channel %q: want stdout or stderr", channel)
	}
	b, _, err := c.call(ctx, http.MethodGet, c.pushy("jobs", id, "output", node, channel), nil, nil)
	if err != nil {
		return nil, err
	}
	return b, nil
}
