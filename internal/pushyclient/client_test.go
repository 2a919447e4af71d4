package pushyclient

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushlab/pushlab/internal/chefauth"
	"github.com/pushlab/pushlab/internal/sse"
)

var (
	keyOnce sync.Once
	testKey *rsa.PrivateKey
)

func key(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	keyOnce.Do(func() {
		k, err := chefauth.GenerateKey()
		if err != nil {
			panic(err)
		}
		testKey = k
	})
	return testKey
}

// seen is one request as the test server received it.
type seen struct {
	Method, Path, Query, Accept, ContentType, LastEventID string
	Body                                                  []byte
}

// fake is an httptest server that checks every request's Chef signature against the test key
// and answers with the handler registered for "METHOD PATH".
type fake struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	seen   []seen
	routes map[string]http.HandlerFunc
}

func newFake(t *testing.T) (*fake, *Client) {
	t.Helper()
	f := &fake{t: t, routes: map[string]http.HandlerFunc{}}
	pub := &key(t).PublicKey
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		p, err := chefauth.ParseHeaders(r.Header, time.Now())
		if err != nil || !p.Verify(r.Method, r.URL.Path, body, []*rsa.PublicKey{pub}) || p.UserID != "alice" {
			t.Errorf("%s %s: bad signature (%v)", r.Method, r.URL.Path, err)
			w.WriteHeader(401)
			return
		}
		if r.Header.Get("X-Chef-Version") == "" {
			t.Errorf("%s %s: no X-Chef-Version", r.Method, r.URL.Path)
		}
		f.mu.Lock()
		f.seen = append(f.seen, seen{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Get("Accept"),
			r.Header.Get("Content-Type"), r.Header.Get("Last-Event-ID"), body})
		h := f.routes[r.Method+" "+r.URL.EscapedPath()]
		f.mu.Unlock()
		if h == nil {
			w.WriteHeader(404)
			return
		}
		h(w, r)
	}))
	t.Cleanup(f.srv.Close)
	c := New(f.srv.URL+"/", "acme", &chefauth.Signer{UserID: "alice", Key: key(t)})
	return f, c
}

func (f *fake) handle(route string, h http.HandlerFunc) {
	f.mu.Lock()
	f.routes[route] = h
	f.mu.Unlock()
}

func (f *fake) reply(route string, status int, body string) {
	f.handle(route, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	})
}

func (f *fake) last() seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.seen) == 0 {
		f.t.Fatal("no request reached the server")
	}
	return f.seen[len(f.seen)-1]
}

const jobID = "0123456789abcdef0123456789abcdef"

func TestStartJobSendsKnifeShapedBody(t *testing.T) {
	f, c := newFake(t)
	f.reply("POST /organizations/acme/pushy/jobs", 201, `{"uri":"https://push.example/organizations/acme/pushy/jobs/`+jobID+`"}`)
	q, to, capture := 2, 30, false
	st, err := c.StartJob(context.Background(), JobRequest{Command: "chef-client", Nodes: []string{"a", "b"},
		Quorum: &q, RunTimeout: &to, CaptureOutput: &capture, Env: map[string]string{}, Dir: "/tmp"})
	if err != nil {
		t.Fatal(err)
	}
	if st.ID != jobID || !strings.HasSuffix(st.URI, "/jobs/"+jobID) {
		t.Fatalf("started %+v", st)
	}
	got := f.last()
	want := `{"command":"chef-client","nodes":["a","b"],"quorum":2,"capture_output":false,"env":{},"dir":"/tmp","run_timeout":30}`
	if string(got.Body) != want {
		t.Fatalf("body\n got  %s\n want %s", got.Body, want)
	}
	if got.ContentType != "application/json" || got.Accept != "application/json" {
		t.Fatalf("content-type %q accept %q", got.ContentType, got.Accept)
	}
}

func TestJobRequestOmitsUnsetFields(t *testing.T) {
	b, err := json.Marshal(JobRequest{Command: "", Nodes: nil})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"command":"","nodes":[]}` {
		t.Fatalf("%s", b)
	}
	b, _ = json.Marshal(JobRequest{Command: "x", Nodes: []string{"n"}, User: "u", File: "raw:hi", Env: map[string]string{"A": "1"}})
	if string(b) != `{"command":"x","nodes":["n"],"file":"raw:hi","env":{"A":"1"},"user":"u"}` {
		t.Fatalf("%s", b)
	}
}

func TestErrorsCarryStatusAndMessage(t *testing.T) {
	f, c := newFake(t)
	f.reply("POST /organizations/acme/pushy/jobs", 400, `{"error":"invalid command supplied"}`)
	f.reply("GET /organizations/acme/pushy/jobs", 403, `{"error":["User or client 'alice' does not have access to that action on this server."]}`)
	_, err := c.StartJob(context.Background(), JobRequest{Nodes: []string{"a"}})
	var e *Error
	if !errors.As(err, &e) || e.StatusCode != 400 || e.Message() != "invalid command supplied" {
		t.Fatalf("%v", err)
	}
	if want := "POST /organizations/acme/pushy/jobs: 400 Bad Request: invalid command supplied"; err.Error() != want {
		t.Fatalf("got %q want %q", err.Error(), want)
	}
	_, err = c.Jobs(context.Background())
	if StatusCode(err) != 403 || !strings.Contains(err.Error(), "does not have access") {
		t.Fatalf("%v", err)
	}
	_, err = c.Job(context.Background(), "nope")
	if StatusCode(err) != 404 {
		t.Fatalf("%v", err)
	}
	if StatusCode(errors.New("x")) != 0 {
		t.Fatal("StatusCode of a plain error")
	}
}

const jobBody = `{"nodes":{"succeeded":["b","a"],"failed":["c"]},"id":"` + jobID + `","command":"chef-client","status":"complete","run_timeout":3600,"created_at":"Tue, 04 Sep 2012 23:01:02 GMT","updated_at":"Tue, 04 Sep 2012 23:01:05 GMT","env":{},"capture_output":true}`

func TestJobDecodesAndKeepsRaw(t *testing.T) {
	f, c := newFake(t)
	f.reply("GET /organizations/acme/pushy/jobs/"+jobID, 200, jobBody)
	j, err := c.Job(context.Background(), jobID)
	if err != nil {
		t.Fatal(err)
	}
	if j.ID != jobID || j.Status != "complete" || j.RunTimeout.String() != "3600" || !j.CaptureOutput || !j.Finished() {
		t.Fatalf("%+v", j)
	}
	if ns := j.NodeStatus(); ns["a"] != "succeeded" || ns["c"] != "failed" || len(ns) != 3 {
		t.Fatalf("%v", ns)
	}
	if string(j.Raw) != jobBody {
		t.Fatalf("raw %s", j.Raw)
	}
	if _, err := c.JobWithFile(context.Background(), jobID); err != nil {
		t.Fatal(err)
	}
	if q := f.last().Query; q != "include_file=true" {
		t.Fatalf("query %q", q)
	}
	j, err = c.JobURI(context.Background(), "https://elsewhere.example/organizations/acme/pushy/jobs/"+jobID)
	if err != nil || j.ID != jobID {
		t.Fatalf("%v %v", j, err)
	}
	for _, st := range []string{"new", "voting", "running"} {
		if (&Job{Status: st}).Finished() {
			t.Fatalf("%s counted as finished", st)
		}
	}
}

func TestJobsList(t *testing.T) {
	f, c := newFake(t)
	f.reply("GET /organizations/acme/pushy/jobs", 200, `[{"id":"a","status":"complete","run_timeout":1},{"id":"b","status":"voting","run_timeout":2.5}]`)
	jobs, err := c.Jobs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 2 || jobs[0].ID != "a" || jobs[1].RunTimeout.String() != "2.5" || string(jobs[1].Raw) != `{"id":"b","status":"voting","run_timeout":2.5}` {
		t.Fatalf("%+v", jobs)
	}
}

func TestOutputIsBytesWithOctetStreamAccept(t *testing.T) {
	f, c := newFake(t)
	f.handle("GET /organizations/acme/pushy/jobs/"+jobID+"/output/web%201/stderr", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		io.WriteString(w, "oops\n")
	})
	b, err := c.Output(context.Background(), jobID, "web 1", "stderr")
	if err != nil || string(b) != "oops\n" {
		t.Fatalf("%q %v", b, err)
	}
	if a := f.last().Accept; a != "application/octet-stream" {
		t.Fatalf("accept %q", a)
	}
	if _, err := c.Output(context.Background(), jobID, "web 1", "stdin"); err == nil {
		t.Fatal("stdin accepted as a channel")
	}
}

func TestNodeStates(t *testing.T) {
	f, c := newFake(t)
	f.reply("GET /organizations/acme/pushy/node_states", 200, `[{"node_name":"a","availability":"available"}]`)
	f.reply("GET /organizations/acme/pushy/node_states/ghost", 200, `{"node_name":"ghost","status":"offline","availability":"unavailable"}`)
	list, err := c.NodeStates(context.Background())
	if err != nil || len(list) != 1 || list[0].NodeName != "a" || list[0].Availability != "available" || list[0].Status != "" {
		t.Fatalf("%+v %v", list, err)
	}
	st, err := c.NodeState(context.Background(), "ghost")
	if err != nil || st.Status != "offline" || st.Availability != "unavailable" || !strings.Contains(string(st.Raw), `"ghost"`) {
		t.Fatalf("%+v %v", st, err)
	}
}

func TestSearchNodes(t *testing.T) {
	f, c := newFake(t)
	f.reply("GET /organizations/acme/search/node", 200, `{"total":2,"start":0,"rows":[{"name":"web1"},{"name":"web2"}]}`)
	names, err := c.SearchNodes(context.Background(), "role:web AND x:y")
	if err != nil || strings.Join(names, ",") != "web1,web2" {
		t.Fatalf("%v %v", names, err)
	}
	if q := f.last().Query; q != "q=role%3Aweb+AND+x%3Ay&start=0&rows=1000" {
		t.Fatalf("query %q", q)
	}
}

func TestStatus(t *testing.T) {
	f, c := newFake(t)
	f.reply("GET /pushy/_status", 200, `{"status":"it's alive","incarnation_id":"i","node_fsm_count":3,"job_processes":["j"]}`)
	st, err := c.Status(context.Background())
	if err != nil || st.Status != "it's alive" || st.NodeFSMCount.String() != "3" || len(st.JobProcesses) != 1 {
		t.Fatalf("%+v %v", st, err)
	}
}

func TestJobFeed(t *testing.T) {
	f, c := newFake(t)
	release := make(chan struct{})
	f.handle("GET /organizations/acme/pushy/job_status_feed/"+jobID, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		fmt.Fprint(w, ":keepalive\nevent: start\nid: job-1\ndata: {\"timestamp\":\"t1\",\"command\":\"x\",\"quorum\":2,\"node_count\":2}\n\n")
		fl.Flush()
		<-release
		fmt.Fprint(w, "event: run_complete\nid: job-2\ndata: {\"timestamp\":\"t2\",\"node\":\"a\",\"status\":\"success\"}\n\n:keepalive\n")
		fmt.Fprint(w, "event: job_complete\nid: job-3\ndata: {\"timestamp\":\"t3\",\"status\":\"complete\"}")
	})
	feed, err := c.JobFeed(context.Background(), jobID, "job-0")
	if err != nil {
		t.Fatal(err)
	}
	defer feed.Close()
	if s := f.last(); s.Accept != "text/event-stream" || s.LastEventID != "job-0" {
		t.Fatalf("%+v", s)
	}
	ev, err := feed.Next()
	if err != nil || ev.Name != "start" || ev.ID != "job-1" {
		t.Fatalf("%+v %v", ev, err)
	}
	d, err := DecodeEvent(ev)
	if err != nil || d.Command != "x" || d.Quorum.String() != "2" || d.NodeCount.String() != "2" {
		t.Fatalf("%+v %v", d, err)
	}
	close(release)
	var names []string
	for ev := range feed.Events() {
		names = append(names, ev.Name)
		if ev.Name == "run_complete" {
			if d, _ := DecodeEvent(ev); d.Node != "a" || d.Status != "success" {
				t.Fatalf("%+v", d)
			}
		}
	}
	if strings.Join(names, ",") != "run_complete,job_complete" {
		t.Fatalf("events %v", names)
	}
	if _, err := feed.Next(); err != io.EOF {
		t.Fatalf("after the end: %v", err)
	}
	if _, err := c.JobFeed(context.Background(), "unknown", ""); StatusCode(err) != 404 {
		t.Fatalf("unknown job feed: %v", err)
	}
}

func TestFeedCloseStopsEvents(t *testing.T) {
	f, c := newFake(t)
	f.handle("GET /organizations/acme/pushy/job_status_feed", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := 1; ; i++ {
			if _, err := fmt.Fprintf(w, "event: start\nid: org-%d\ndata: {}\n\n", i); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			default:
			}
		}
	})
	feed, err := c.OrgFeed(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	ch := feed.Events()
	<-ch
	if err := feed.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("events channel still open after Close")
		}
	}
}

func TestDoResolvesPathsAndOverridesHeaders(t *testing.T) {
	f, c := newFake(t)
	f.reply("GET /organizations/acme/pushy/jobs", 200, `[]`)
	resp, err := c.Do(context.Background(), "GET", "pushy/jobs", nil, http.Header{"Accept": {"text/plain"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if s := f.last(); s.Path != "/organizations/acme/pushy/jobs" || s.Accept != "text/plain" || s.ContentType != "" {
		t.Fatalf("%+v", s)
	}
	if p := c.Path("/pushy/_status"); p != "/pushy/_status" {
		t.Fatal(p)
	}
	if _, err := (&Client{BaseURL: f.srv.URL}).Do(context.Background(), "GET", "/x", nil, nil); err == nil {
		t.Fatal("a client without a signer sent a request")
	}
}

// Events takes events off the connection while the caller is busy elsewhere, so an event's
// Received is when it arrived, not when the caller got round to it.
func TestEventsReadsAheadOfASlowCaller(t *testing.T) {
	const n = 5000
	f, c := newFake(t)
	written := make(chan time.Time, 1)
	f.handle("GET /organizations/acme/pushy/job_status_feed/"+jobID, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := 1; i <= n; i++ {
			fmt.Fprintf(w, "event: quorum_vote\nid: job-%d\ndata: {\"node\":\"n%d\"}\n\n", i, i)
		}
		w.(http.Flusher).Flush()
		written <- time.Now()
		<-r.Context().Done()
	})
	feed, err := c.JobFeed(context.Background(), jobID, "")
	if err != nil {
		t.Fatal(err)
	}
	defer feed.Close()
	ch := feed.Events()
	wrote := <-written
	// The caller takes nothing until every event has been read off the connection.
	for deadline := time.Now().Add(5 * time.Second); feed.read.Load() < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events read while the caller was busy", feed.read.Load(), n)
		}
	}
	took := time.Now()
	var last sse.Event
	for i := 0; i < n; i++ {
		last = <-ch
	}
	if last.ID != fmt.Sprintf("job-%d", n) {
		t.Fatalf("last event %q", last.ID)
	}
	if last.Received.Before(wrote.Add(-time.Second)) || !last.Received.Before(took) {
		t.Fatalf("last event received at %v: written at %v, taken from %v", last.Received, wrote, took)
	}
}
