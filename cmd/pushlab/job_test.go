package main

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushlab/pushlab/internal/chefauth"
	"github.com/pushlab/pushlab/internal/pushyclient"
)

// runCLI runs the pushlab command tree in process and maps its error to an exit status as
// main does (the message of an exit error goes to stderr).
func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	root := newRootCommand()
	var o, e bytes.Buffer
	root.SetOut(&o)
	root.SetErr(&e)
	root.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := root.ExecuteContext(ctx)
	if err != nil {
		var ec exitCoder
		if errors.As(err, &ec) {
			code = ec.ExitCode()
		} else {
			code = 1
		}
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(&e, "pushlab:", msg)
		}
	}
	return o.String(), e.String(), code
}

var (
	cliKeyOnce sync.Once
	cliKey     *rsa.PrivateKey
)

// keyFile writes a private key for the fake server's user to a temporary file.
func keyFile(t *testing.T) (string, *rsa.PrivateKey) {
	t.Helper()
	cliKeyOnce.Do(func() {
		k, err := chefauth.GenerateKey()
		if err != nil {
			panic(err)
		}
		cliKey = k
	})
	path := filepath.Join(t.TempDir(), "alice.pem")
	if err := os.WriteFile(path, chefauth.EncodePrivateKeyPEM(cliKey), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, cliKey
}

const fakeID = "aaaaaaaaaaaabbbbbbbbbbbbbbbbbbbb"

// pushyFake is a scripted Push Jobs server: POST /jobs answers with fakeID (or 400 to 2.x
// bodies when v1Only), each GET of the job returns the next body of script (the last one
// sticks), the feed streams feedEvents or is absent.
type pushyFake struct {
	t          *testing.T
	srv        *httptest.Server
	mu         sync.Mutex
	posts      []string
	script     []string
	gets       int
	feedEvents []string // "name" per event; nil: no feed (404)
	v1Only     bool
	routes     map[string]string // "GET path" → JSON reply
	keyFile    string
}

func newPushyFake(t *testing.T) *pushyFake {
	t.Helper()
	kf, key := keyFile(t)
	f := &pushyFake{t: t, routes: map[string]string{}, keyFile: kf}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		p, err := chefauth.ParseHeaders(r.Header, time.Now())
		if err != nil || !p.Verify(r.Method, r.URL.Path, body, []*rsa.PublicKey{&key.PublicKey}) {
			t.Errorf("%s %s: bad signature", r.Method, r.URL.Path)
			w.WriteHeader(401)
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		const base = "/organizations/acme/pushy/"
		switch {
		case r.Method == "POST" && r.URL.Path == base+"jobs":
			f.posts = append(f.posts, string(body))
			if f.v1Only && strings.Contains(string(body), "capture_output") {
				w.WriteHeader(400)
				io.WriteString(w, `{"error":"invalid key supplied"}`)
				return
			}
			w.WriteHeader(201)
			fmt.Fprintf(w, `{"uri":"%s%sjobs/%s"}`, f.srv.URL, base, fakeID)
		case r.Method == "GET" && r.URL.Path == base+"jobs/"+fakeID && len(f.script) > 0:
			i := min(f.gets, len(f.script)-1)
			f.gets++
			io.WriteString(w, f.script[i])
		case r.Method == "GET" && r.URL.Path == base+"job_status_feed/"+fakeID && f.feedEvents != nil:
			w.Header().Set("Content-Type", "text/event-stream")
			for i, name := range f.feedEvents {
				fmt.Fprintf(w, "event: %s\nid: job-%d\ndata: {\"timestamp\":\"t\"}\n\n", name, i+1)
			}
		default:
			if reply, ok := f.routes[r.Method+" "+r.URL.EscapedPath()]; ok {
				io.WriteString(w, reply)
				return
			}
			w.WriteHeader(404)
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *pushyFake) args(args ...string) []string {
	return append(args, "--server", f.srv.URL, "--org", "acme", "--user", "alice", "--key", f.keyFile)
}

func (f *pushyFake) postBodies() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.posts...)
}

func jobJSON(status string, nodes map[string][]string) string {
	b, _ := json.Marshal(map[string]any{"id": fakeID, "command": "chef-client", "status": status, "run_timeout": 3600,
		"created_at": "Tue, 04 Sep 2012 23:01:02 GMT", "updated_at": "Tue, 04 Sep 2012 23:01:03 GMT", "env": map[string]string{}, "nodes": nodes})
	return string(b)
}

func TestParseQuorum(t *testing.T) {
	cases := []struct {
		in    string
		nodes int
		want  int
		bad   bool
	}{
		{"100%", 3, 3, false}, {"50%", 3, 2, false}, {"34%", 3, 2, false}, {"33%", 3, 1, false},
		{"0%", 5, 0, false}, {"1%", 1, 1, false}, {"150%", 2, 3, false},
		{"2", 3, 2, false}, {"999", 1, 999, false}, {"0", 1, 0, false},
		{"", 1, 0, true}, {"abc", 1, 0, true}, {"-1", 1, 0, true}, {"50.5%", 2, 0, true}, {"%", 1, 0, true}, {"5 %", 1, 0, true},
	}
	for _, c := range cases {
		got, err := parseQuorum(c.in, c.nodes)
		if c.bad != (err != nil) || got != c.want {
			t.Errorf("parseQuorum(%q, %d) = %d, %v; want %d (error %v)", c.in, c.nodes, got, err, c.want, c.bad)
		}
	}
}

func TestJobStateLines(t *testing.T) {
	cases := []struct {
		status   string
		nodes    map[string][]string
		finished bool
		line     string
	}{
		{"new", nil, false, "Initialized."},
		{"voting", map[string][]string{"new": {"a"}}, false, "Voting."},
		// knife-push counts statuses, not nodes: two running nodes are "1 in progress".
		{"running", map[string][]string{"running": {"a", "b"}, "succeeded": {"c"}}, false, "Running (1/3 in progress) ..."},
		{"running", map[string][]string{"ready": {"a"}, "succeeded": {"c"}}, false, "Running (0/2 in progress) ..."},
		{"complete", map[string][]string{"succeeded": {"a"}}, true, "Complete."},
		{"quorum_failed", map[string][]string{"unavailable": {"a"}}, true, "Quorum_failed."},
		{"timed_out", nil, true, "Timed_out."},
		{"crashed", nil, true, "Crashed."},
	}
	for _, c := range cases {
		finished, line := jobState(&pushyclient.Job{Status: c.status, Nodes: c.nodes})
		if finished != c.finished || line != c.line {
			t.Errorf("%s %v: got %v %q, want %v %q", c.status, c.nodes, finished, line, c.finished, c.line)
		}
	}
}

func TestJobExitStatus(t *testing.T) {
	n := func(keys ...string) map[string][]string {
		m := map[string][]string{}
		for _, k := range keys {
			m[k] = []string{"x-" + k}
		}
		return m
	}
	cases := []struct {
		status string
		nodes  map[string][]string
		want   int
	}{
		{"complete", n("succeeded"), 0},
		{"complete", n("succeeded", "nacked", "unavailable"), 0},
		{"complete", n(), 0},
		{"complete", n("succeeded", "failed"), 1},
		{"complete", n("crashed"), 1},
		{"complete", n("succeeded", "was_ready"), 1},
		{"quorum_failed", n("nacked"), 1},
		{"quorum_failed", n("unavailable"), 1},
		{"timed_out", n("succeeded", "timed_out"), 1},
		{"crashed", n("succeeded"), 1},
	}
	for _, c := range cases {
		if got := jobExitStatus(&pushyclient.Job{Status: c.status, Nodes: c.nodes}); got != c.want {
			t.Errorf("%s %v: exit %d, want %d", c.status, c.nodes, got, c.want)
		}
	}
}

func TestKnifeText(t *testing.T) {
	job := `{"nodes":{"succeeded":["web2","web1"],"failed":["db1"],"crashed":[]},"id":"` + fakeID + `","command":"chef-client","status":"complete","run_timeout":3600,"created_at":"Tue, 04 Sep 2012 23:01:02 GMT","updated_at":"Tue, 04 Sep 2012 23:01:03 GMT","env":{},"capture_output":true,"user":null}`
	want := `capture_output: true
command:        chef-client
created_at:     Tue, 04 Sep 2012 23:01:02 GMT
env:
id:             ` + fakeID + `
nodes:
  crashed:
  failed:    db1
  succeeded:
    web2
    web1
run_timeout:    3600
status:         complete
updated_at:     Tue, 04 Sep 2012 23:01:03 GMT
user:           
`
	var b bytes.Buffer
	if err := (&outputFlags{format: "summary"}).print(&b, []byte(job)); err != nil {
		t.Fatal(err)
	}
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
	// A list of objects: blank line between them; nested lists of objects keep the blank
	// separator, indented.
	list := `[{"id":"a","status":"complete"},{"id":"b","n":[{"x":1},{"y":2}]}]`
	want = "id:     a\nstatus: complete\n\nid: b\nn:\n  x: 1\n  \n  y: 2\n"
	b.Reset()
	if err := (&outputFlags{format: "text"}).print(&b, []byte(list)); err != nil {
		t.Fatal(err)
	}
	if b.String() != want {
		t.Fatalf("got %q\nwant %q", b.String(), want)
	}
	b.Reset()
	if err := (&outputFlags{format: "summary"}).print(&b, []byte(`[]`)); err != nil || b.String() != "\n" {
		t.Fatalf("empty list: %q %v", b.String(), err)
	}
	b.Reset()
	if err := (&outputFlags{format: "json"}).print(&b, []byte(`{"b":1,"a":[2]}`)); err != nil || b.String() != "{\n  \"b\": 1,\n  \"a\": [\n    2\n  ]\n}\n" {
		t.Fatalf("json: %q %v", b.String(), err)
	}
	if err := (&outputFlags{format: "yaml"}).validate(); err == nil {
		t.Fatal("yaml accepted")
	}
}

func TestBuildJobRequest(t *testing.T) {
	f := &jobStartFlags{quorum: "50%"}
	req, err := buildJobRequest(f, "chef-client", []string{"a", "b", "c"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(req)
	if string(b) != `{"command":"chef-client","nodes":["a","b","c"],"quorum":2,"capture_output":false,"env":{}}` {
		t.Fatalf("%s", b)
	}
	dir := t.TempDir()
	text := filepath.Join(dir, "script.sh")
	bin := filepath.Join(dir, "blob")
	os.WriteFile(text, []byte("echo hi\n"), 0o600)
	os.WriteFile(bin, []byte{0xff, 0x00, 0x01}, 0o600)
	f = &jobStartFlags{quorum: "1", timeoutSet: true, file: text, capture: true, withEnv: `{"A":"1"}`, asUser: "deploy", inDir: "/srv"}
	req, err = buildJobRequest(f, "sh", []string{"a"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ = json.Marshal(req)
	if string(b) != `{"command":"sh","nodes":["a"],"quorum":1,"file":"raw:echo hi\n","capture_output":true,"env":{"A":"1"},"dir":"/srv","user":"deploy","run_timeout":0}` {
		t.Fatalf("%s", b)
	}
	f.file = bin
	if req, err = buildJobRequest(f, "sh", []string{"a"}); err != nil || req.File != "base64:/wAB" {
		t.Fatalf("%q %v", req.File, err)
	}
	for _, bad := range []*jobStartFlags{{quorum: "x"}, {quorum: "1", withEnv: `["a"]`}, {quorum: "1", withEnv: `{"A":1}`}, {quorum: "1", file: filepath.Join(dir, "missing")}} {
		if _, err := buildJobRequest(bad, "x", []string{"a"}); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestV1Request(t *testing.T) {
	q, to, capture := 1, 5, true
	base := pushyclient.JobRequest{Command: "c", Nodes: []string{"a"}, Quorum: &q, RunTimeout: &to, CaptureOutput: &capture, Env: map[string]string{}}
	v1, err := v1Request(base)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(v1)
	if string(b) != `{"command":"c","nodes":["a"],"quorum":1,"run_timeout":5}` {
		t.Fatalf("%s", b)
	}
	for _, mod := range []func(*pushyclient.JobRequest){
		func(r *pushyclient.JobRequest) { r.Env = map[string]string{"A": "1"} },
		func(r *pushyclient.JobRequest) { r.File = "raw:x" },
		func(r *pushyclient.JobRequest) { r.Dir = "/" },
		func(r *pushyclient.JobRequest) { r.User = "u" },
	} {
		r := base
		mod(&r)
		if _, err := v1Request(r); err == nil {
			t.Errorf("%+v has 2.x fields but passed", r)
		}
	}
}

func TestJobStartNowait(t *testing.T) {
	f := newPushyFake(t)
	out, errOut, code := runCLI(t, f.args("job", "start", "chef-client", "a", "b", "-q", "1", "--timeout", "30", "--nowait")...)
	if code != 0 || out != "Started.  Job ID: "+fakeID+"\n" {
		t.Fatalf("exit %d stdout %q stderr %q", code, out, errOut)
	}
	if posts := f.postBodies(); len(posts) != 1 || posts[0] != `{"command":"chef-client","nodes":["a","b"],"quorum":1,"capture_output":false,"env":{},"run_timeout":30}` {
		t.Fatalf("posts %q", posts)
	}
}

func TestJobStartPollsLikeKnife(t *testing.T) {
	f := newPushyFake(t)
	f.script = []string{
		jobJSON("voting", map[string][]string{"new": {"a", "b"}}),
		jobJSON("voting", map[string][]string{"ready": {"a"}, "new": {"b"}}),
		jobJSON("running", map[string][]string{"running": {"a", "b"}}),
		jobJSON("complete", map[string][]string{"succeeded": {"a", "b"}}),
	}
	out, errOut, code := runCLI(t, f.args("job", "start", "chef-client", "a", "b", "--poll", "--poll-interval", "1ms")...)
	want := "Started.  Job ID: " + fakeID + "\n.Voting.\n..Running (1/2 in progress) ...\n.Complete.\n"
	if code != 0 || !strings.HasPrefix(out, want) {
		t.Fatalf("exit %d stderr %q stdout\n%s\nwant prefix\n%s", code, errOut, out, want)
	}
	if !strings.Contains(out, "status:      complete\n") || !strings.Contains(out, "  succeeded:\n    a\n    b\n") {
		t.Fatalf("job not printed:\n%s", out)
	}
}

func TestJobStartExitStatusFollowingFeed(t *testing.T) {
	cases := []struct {
		name  string
		final string
		nodes map[string][]string
		code  int
	}{
		{"all succeeded", "complete", map[string][]string{"succeeded": {"a", "b"}}, 0},
		{"nacked and unavailable count as fine", "complete", map[string][]string{"succeeded": {"a"}, "nacked": {"b"}, "unavailable": {"c"}}, 0},
		{"one failed", "complete", map[string][]string{"succeeded": {"a"}, "failed": {"b"}}, 1},
		{"quorum failed", "quorum_failed", map[string][]string{"was_ready": {"a"}, "nacked": {"b"}}, 1},
		{"timed out", "timed_out", map[string][]string{"timed_out": {"a"}}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newPushyFake(t)
			f.feedEvents = []string{"start", "quorum_vote", "job_complete"}
			f.script = []string{jobJSON("voting", map[string][]string{"new": {"a"}}), jobJSON(c.final, c.nodes)}
			out, errOut, code := runCLI(t, f.args("job", "start", "chef-client", "a", "b", "--poll-interval", "1ms", "-F", "json")...)
			if code != c.code {
				t.Fatalf("exit %d, want %d; stdout %s stderr %s", code, c.code, out, errOut)
			}
			final := capitalize(c.final) + "."
			if !strings.Contains(out, "\nVoting.\n"+final+"\n{\n") || strings.Contains(out, ".Voting") {
				t.Fatalf("progress lines (no dots when following the feed):\n%s", out)
			}
			if !strings.Contains(out, `"status": "`+c.final+`"`) {
				t.Fatalf("final job not printed as JSON:\n%s", out)
			}
		})
	}
}

func TestJobStartFeedEndsEarlyFallsBackToPolling(t *testing.T) {
	f := newPushyFake(t)
	f.feedEvents = []string{"start"} // the feed closes without job_complete
	f.script = []string{jobJSON("voting", nil), jobJSON("running", map[string][]string{"running": {"a"}}), jobJSON("complete", map[string][]string{"failed": {"a"}})}
	out, _, code := runCLI(t, f.args("job", "start", "x", "a", "--poll-interval", "1ms")...)
	if code != 1 || !strings.Contains(out, "Complete.\n") {
		t.Fatalf("exit %d\n%s", code, out)
	}
}

func TestJobStartFallsBackToV1(t *testing.T) {
	f := newPushyFake(t)
	f.v1Only = true
	f.script = []string{jobJSON("complete", map[string][]string{"succeeded": {"a"}})}
	out, errOut, code := runCLI(t, f.args("job", "start", "chef-client", "a", "--capture", "--poll-interval", "1ms")...)
	if code != 0 || !strings.Contains(errOut, "Falling back to Push Jobs v1 mode") || !strings.Contains(errOut, "invalid key supplied") {
		t.Fatalf("exit %d stdout %q stderr %q", code, out, errOut)
	}
	posts := f.postBodies()
	if len(posts) != 2 || posts[1] != `{"command":"chef-client","nodes":["a"],"quorum":1}` {
		t.Fatalf("posts %q", posts)
	}
	_, errOut, code = runCLI(t, f.args("job", "start", "chef-client", "a", "--with-env", `{"A":"1"}`)...)
	if code != 1 || !strings.Contains(errOut, "not possible with Push Jobs 1.x") {
		t.Fatalf("exit %d stderr %q", code, errOut)
	}
}

func TestJobCommandsShapesAndErrors(t *testing.T) {
	f := newPushyFake(t)
	base := "/organizations/acme/pushy/"
	f.routes["GET "+base+"jobs"] = `[{"id":"j1","command":"a","status":"complete","run_timeout":5},{"id":"j2","command":"b","status":"voting","run_timeout":60}]`
	f.routes["GET "+base+"jobs/j1"] = `{"id":"j1","command":"a","status":"complete","run_timeout":5,"nodes":{"succeeded":["n1"]}}`
	f.routes["GET "+base+"jobs/j1/output/n1/stdout"] = "out\n"
	f.routes["GET "+base+"jobs/j1/output/n1/stderr"] = "no newline"

	out, _, code := runCLI(t, f.args("job", "list")...)
	if code != 0 || out != "command:     a\nid:          j1\nrun_timeout: 5\nstatus:      complete\n\ncommand:     b\nid:          j2\nrun_timeout: 60\nstatus:      voting\n" {
		t.Fatalf("list: %d %q", code, out)
	}
	out, _, code = runCLI(t, f.args("job", "list", "-F", "json")...)
	var list []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 2 || list[1]["id"] != "j2" {
		t.Fatalf("list json: %d %q", code, out)
	}
	out, _, code = runCLI(t, f.args("job", "status", "j1")...)
	if code != 0 || out != "command:     a\nid:          j1\nnodes:\n  succeeded: n1\nrun_timeout: 5\nstatus:      complete\n" {
		t.Fatalf("status: %d %q", code, out)
	}
	out, _, code = runCLI(t, f.args("job", "output", "j1", "n1")...)
	if code != 0 || out != "out\n" {
		t.Fatalf("output: %d %q", code, out)
	}
	out, _, code = runCLI(t, f.args("job", "output", "j1", "n1", "--channel", "stderr")...)
	if code != 0 || out != "no newline" {
		t.Fatalf("output stderr: %d %q", code, out)
	}
	if _, _, code = runCLI(t, f.args("job", "output", "j1", "n1", "--channel", "stdin")...); code != 1 {
		t.Fatalf("bad channel: exit %d", code)
	}
	_, errOut, code := runCLI(t, f.args("job", "status", "nope")...)
	if code != exitAPIError || !strings.Contains(errOut, "404") {
		t.Fatalf("unknown job: exit %d stderr %q", code, errOut)
	}
	if _, errOut, code = runCLI(t, f.args("job", "start", "x", "a", "-q", "lots")...); code != 1 || !strings.Contains(errOut, "--quorum") {
		t.Fatalf("bad quorum: exit %d %q", code, errOut)
	}
	if _, errOut, code = runCLI(t, f.args("job", "start", "x")...); code != 1 || !strings.Contains(errOut, "no nodes") {
		t.Fatalf("no nodes: exit %d %q", code, errOut)
	}
	if len(f.postBodies()) != 0 {
		t.Fatal("an invalid start reached the server")
	}
	if _, _, code = runCLI(t, "job", "list", "--server", f.srv.URL, "--key", filepath.Join(t.TempDir(), "none.pem")); code != 1 {
		t.Fatalf("missing key: exit %d", code)
	}
}

func TestJobStartSearch(t *testing.T) {
	f := newPushyFake(t)
	f.routes["GET /organizations/acme/search/node"] = `{"total":2,"start":0,"rows":[{"name":"web1"},{"name":"web2"}]}`
	if _, _, code := runCLI(t, f.args("job", "start", "uptime", "-s", "role:web", "--nowait")...); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if posts := f.postBodies(); len(posts) != 1 || !strings.Contains(posts[0], `"nodes":["web1","web2"],"quorum":2`) {
		t.Fatalf("posts %q", posts)
	}
}

func TestNodeStatusAgainstFake(t *testing.T) {
	f := newPushyFake(t)
	base := "/organizations/acme/pushy/"
	f.routes["GET "+base+"node_states"] = `[{"node_name":"a","availability":"available"},{"node_name":"b","availability":"unavailable"}]`
	f.routes["GET "+base+"node_states/ghost"] = `{"node_name":"ghost","status":"offline","availability":"unavailable"}`
	f.routes["GET "+base+"node_states/web1"] = `{"node_name":"web1","status":"online","availability":"available"}`
	f.routes["GET /organizations/acme/search/node"] = `{"total":1,"start":0,"rows":[{"name":"web1"}]}`
	out, _, code := runCLI(t, f.args("node", "status")...)
	if code != 0 || out != "a\tavailable\nb\tunavailable\n" {
		t.Fatalf("%d %q", code, out)
	}
	out, _, code = runCLI(t, f.args("node", "status", "ghost", "role:web")...)
	if code != 0 || out != "ghost\tunavailable\nweb1\tavailable\n" {
		t.Fatalf("%d %q", code, out)
	}
	out, _, code = runCLI(t, f.args("node", "status", "ghost", "-F", "json")...)
	if code != 0 || out != "[\n  {\n    \"node_name\": \"ghost\",\n    \"status\": \"offline\",\n    \"availability\": \"unavailable\"\n  }\n]\n" {
		t.Fatalf("%d %q", code, out)
	}
	delete(f.routes, "GET /organizations/acme/search/node")
	if _, _, code = runCLI(t, f.args("node", "status", "x:y")...); code != exitAPIError {
		t.Fatalf("failed search: exit %d", code)
	}
}
