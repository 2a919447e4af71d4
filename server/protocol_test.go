package server_test

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushlab/pushlab/internal/chefauth"
	"github.com/pushlab/pushlab/internal/scripted"
	"github.com/pushlab/pushlab/internal/sse"
	"github.com/pushlab/pushlab/internal/wire"
	"github.com/pushlab/pushlab/server/servertest"
)

// nodeEnv is a fast reference server with node clients sharing one key, for tests that play
// the nodes' part over real ZeroMQ.
type nodeEnv struct {
	t   *testing.T
	srv *servertest.Server
	key *rsa.PrivateKey
	mu  sync.Mutex
	n   int
}

var (
	nodeKeyOnce sync.Once
	nodeKey     *rsa.PrivateKey
)

func newNodeEnv(t *testing.T) *nodeEnv {
	t.Helper()
	nodeKeyOnce.Do(func() {
		k, err := chefauth.GenerateKey()
		if err != nil {
			panic(err)
		}
		nodeKey = k
	})
	return &nodeEnv{t: t, srv: servertest.StartFast(t), key: nodeKey}
}

// request sends a request signed by admin and returns status and body.
func (e *nodeEnv) request(t *testing.T, method, path, body string) (int, []byte) {
	t.Helper()
	return signedRequest(t, e.srv.URL(), "admin", e.srv.Admin, method, path, body)
}

func signedRequest(t *testing.T, base, user string, key *rsa.PrivateKey, method, path, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Content-Type", "application/json")
	if err := (&chefauth.Signer{UserID: user, Key: key, Version: "1.1"}).Sign(req, []byte(body)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp.StatusCode, b
}

func (e *nodeEnv) pushy(p string) string { return "/organizations/" + e.srv.Org() + "/pushy" + p }

// node registers a client and connects a peer that heartbeats and has left rehab (available).
func (e *nodeEnv) node(t *testing.T, prefix string) *scripted.Peer {
	t.Helper()
	e.mu.Lock()
	e.n++
	name := fmt.Sprintf("%s-%d", prefix, e.n)
	e.mu.Unlock()
	body := fmt.Sprintf(`{"name":%q,"public_key":%q}`, name, chefauth.EncodePublicKeyPEM(&e.key.PublicKey))
	if code, b := signedRequest(t, e.srv.URL(), "pivotal", e.srv.Pivotal, "POST", "/organizations/"+e.srv.Org()+"/clients", body); code != 201 {
		t.Fatalf("registering %s: %d %s", name, code, b)
	}
	p := scripted.DialPeer(t, e.srv.URL(), e.srv.Org(), name, e.key)
	p.Heartbeat(50 * time.Millisecond)
	if m, ok := p.Next(5 * time.Second); !ok || m.MessageType() != wire.TypeAbort {
		t.Fatalf("%s: a new node FSM must send abort first, got %v", name, m)
	}
	p.Send(wire.TypeAborted, "")
	e.waitAvailable(t, name, "available")
	return p
}

func (e *nodeEnv) waitAvailable(t *testing.T, node, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, b := e.request(t, "GET", e.pushy("/node_states/"+node), "")
		var st struct{ Availability string }
		_ = json.Unmarshal(b, &st)
		if st.Availability == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s: %s, want availability %s", node, b, want)
		}
		time.Sleep(10 * time.Millisecond) // poll interval of a deadline loop
	}
}

// job starts a job as admin and opens its feed at once.
func (e *nodeEnv) job(t *testing.T, alias map[string]string, command string, quorum, timeout int, nodes ...*scripted.Peer) (string, *feedLog) {
	t.Helper()
	names := make([]string, len(nodes))
	for i, n := range nodes {
		names[i] = n.Node
	}
	b, _ := json.Marshal(map[string]any{"command": command, "nodes": names, "quorum": quorum, "run_timeout": timeout})
	code, resp := e.request(t, "POST", e.pushy("/jobs"), string(b))
	if code != 201 {
		t.Fatalf("POST /jobs: %d %s", code, resp)
	}
	var out struct{ ID string }
	_ = json.Unmarshal(resp, &out)
	return out.ID, e.openFeed(t, out.ID, alias)
}

func (e *nodeEnv) feed(t *testing.T, id string) <-chan sse.Event {
	t.Helper()
	return e.openStream(t, e.pushy("/job_status_feed/"+id), "")
}

// jobState is GET /jobs/ID: the job status and each node's status.
func (e *nodeEnv) jobState(t *testing.T, id string) (string, map[string]string) {
	t.Helper()
	code, b := e.request(t, "GET", e.pushy("/jobs/"+id), "")
	if code != 200 {
		t.Fatalf("GET job: %d %s", code, b)
	}
	var j struct {
		Status string
		Nodes  map[string][]string
	}
	if err := json.Unmarshal(b, &j); err != nil {
		t.Fatal(err)
	}
	nodes := map[string]string{}
	for st, ns := range j.Nodes {
		for _, n := range ns {
			nodes[n] = st
		}
	}
	return j.Status, nodes
}

// waitNode polls GET /jobs/ID until node has status want.
func (e *nodeEnv) waitNode(t *testing.T, id, node, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, nodes := e.jobState(t, id)
		if nodes[node] == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s node %s is %q, want %q (%v)", id, node, nodes[node], want, nodes)
		}
		time.Sleep(10 * time.Millisecond) // poll interval of a deadline loop
	}
}

// expect reads the next message of the peer that is not an abort or ack and checks its type.
func expect(t *testing.T, p *scripted.Peer, typ string) wire.ServerMessage {
	t.Helper()
	m, ok := p.Next(5*time.Second, wire.TypeAbort, wire.TypeAck)
	if !ok {
		t.Fatalf("%s: no %s from the server", p.Node, typ)
	}
	if m.MessageType() != typ {
		t.Fatalf("%s: got %s, want %s", p.Node, m.MessageType(), typ)
	}
	return m
}

// eventLine names an event as "name" or "name node status" for comparison.
func eventLine(ev sse.Event, nodes map[string]string) string {
	var d struct{ Node, Status string }
	_ = json.Unmarshal(ev.Data, &d)
	s := ev.Name
	if d.Node != "" {
		s += " " + nodes[d.Node]
	}
	if d.Status != "" {
		s += " " + d.Status
	}
	return s
}

// feedLog reads a job feed and names its events for comparison, checking ids as it goes.
type feedLog struct {
	t     *testing.T
	ch    <-chan sse.Event
	alias map[string]string
	lines []string
	ended bool
}

func (e *nodeEnv) openFeed(t *testing.T, id string, alias map[string]string) *feedLog {
	return &feedLog{t: t, ch: e.feed(t, id), alias: alias}
}

// read reads until n events have been seen in all, or the feed ends when n < 0.
func (f *feedLog) read(n int) []string {
	f.t.Helper()
	timeout := time.After(20 * time.Second)
	for n < 0 || len(f.lines) < n {
		select {
		case ev, ok := <-f.ch:
			if !ok {
				f.ended = true
				if n >= 0 {
					f.t.Fatalf("feed ended after %q, want %d events", f.lines, n)
				}
				return f.lines
			}
			if ev.IsComment() {
				continue
			}
			if want := fmt.Sprintf("job-%d", len(f.lines)+1); ev.ID != want {
				f.t.Errorf("event %d has id %q, want %q", len(f.lines)+1, ev.ID, want)
			}
			f.lines = append(f.lines, eventLine(ev, f.alias))
		case <-timeout:
			f.t.Fatalf("feed stalled; so far %q", f.lines)
		}
	}
	return f.lines
}

// drain reads to the end: the server closes the feed right after job_complete.
func (f *feedLog) drain() []string { return f.read(-1) }

// down makes the server see the peer as down at once: a heartbeat with a new incarnation id
// stops its node FSM (protocol.md §4.5), as a restarted client does.
func down(p *scripted.Peer) {
	p.IncarnationID = "restarted-" + p.IncarnationID
	p.Send(wire.TypeHeartbeat, "")
}

func equalLines(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("SSE events:\n  got  %q\n  want %q", got, want)
	}
}

// TestVotingTable plays each row of protocol.md §5.4 with node A while node B holds voting
// open, then B nacks so voting ends (quorum 2 fails).
func TestVotingTable(t *testing.T) {
	e := newNodeEnv(t)
	type row struct {
		name   string
		act    func(t *testing.T, a *scripted.Peer, job string)
		status string   // A's status before B votes
		events []string // A's part of the feed (after start, before B's vote)
	}
	send := func(steps ...string) func(t *testing.T, a *scripted.Peer, job string) {
		return func(t *testing.T, a *scripted.Peer, job string) {
			for _, s := range steps {
				if s == "down" {
					down(a)
					continue
				}
				a.Send(s, job)
			}
		}
	}
	rows := []row{
		{"new/ack_commit", send("ack_commit"), "ready", []string{"quorum_vote A success"}},
		{"new/nack_commit", send("nack_commit"), "nacked", []string{"quorum_vote A failure"}},
		{"new/down", send("down"), "unavailable", []string{"quorum_vote A down", "rehab A"}},
		{"new/other", send("ack_run"), "unavailable", []string{"rehab A"}},
		{"ready/ack_commit", send("ack_commit", "ack_commit"), "ready", []string{"quorum_vote A success", "quorum_vote A unexpected_commit"}},
		{"ready/nack_commit", send("ack_commit", "nack_commit"), "unavailable", []string{"quorum_vote A success", "rehab A", "quorum_vote A lost_availibility"}},
		{"ready/down", send("ack_commit", "down"), "unavailable", []string{"quorum_vote A success", "quorum_vote A down", "rehab A"}},
		{"ready/other", send("ack_commit", "succeeded"), "unavailable", []string{"quorum_vote A success", "rehab A"}},
		{"terminal/ack_commit", send("nack_commit", "ack_commit"), "nacked", []string{"quorum_vote A failure", "rehab A", "quorum_vote A client_died_while_voting"}},
		{"terminal/nack_commit", send("nack_commit", "nack_commit"), "nacked", []string{"quorum_vote A failure", "rehab A", "quorum_vote A client_died_while_voting"}},
		{"terminal/down", send("nack_commit", "down"), "nacked", []string{"quorum_vote A failure", "quorum_vote A down", "rehab A"}},
		{"terminal/other", send("nack_commit", "failed"), "nacked", []string{"quorum_vote A failure", "rehab A"}},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			a, b := e.node(t, "vote-a"), e.node(t, "vote-b")
			alias := map[string]string{a.Node: "A", b.Node: "B"}
			id, feed := e.job(t, alias, "chef-client", 2, 60, a, b)
			expect(t, a, wire.TypeCommit)
			expect(t, b, wire.TypeCommit)
			r.act(t, a, id)
			// B votes only once A's row has played out: its events are in the feed.
			feed.read(1 + len(r.events))
			e.waitNode(t, id, a.Node, r.status)
			b.Send(wire.TypeNackCommit, id)
			got := feed.drain()
			want := append([]string{"start"}, r.events...)
			want = append(want, "quorum_vote B failure")
			final := r.status
			if r.status == "ready" {
				final = "was_ready"
			}
			want = append(want, "job_complete quorum_failed")
			equalLines(t, got, want)
			status, nodes := e.jobState(t, id)
			if status != "quorum_failed" || nodes[a.Node] != final || nodes[b.Node] != "nacked" {
				t.Fatalf("job %s, nodes %v; want quorum_failed, A %s, B nacked", status, nodes, final)
			}
		})
	}
}

// TestVotingTimeout: a node that never answers the commit gets quorum_vote(voting_timeout) and
// becomes unavailable without a rehab event; the job fails its quorum.
func TestVotingTimeout(t *testing.T) {
	e := newNodeEnv(t)
	a, b := e.node(t, "silent"), e.node(t, "voter")
	alias := map[string]string{a.Node: "A", b.Node: "B"}
	start := time.Now()
	id, feed := e.job(t, alias, "chef-client", 2, 60, a, b)
	expect(t, b, wire.TypeCommit)
	b.Send(wire.TypeAckCommit, id)
	got := feed.drain()
	if elapsed := time.Since(start); elapsed < e.srv.Config().VotingTimeout {
		t.Fatalf("voting ended after %v, before the %v voting timeout", elapsed, e.srv.Config().VotingTimeout)
	}
	equalLines(t, got, []string{"start", "quorum_vote B success", "quorum_vote A voting_timeout", "job_complete quorum_failed"})
	status, nodes := e.jobState(t, id)
	if status != "quorum_failed" || nodes[a.Node] != "unavailable" || nodes[b.Node] != "was_ready" {
		t.Fatalf("job %s nodes %v", status, nodes)
	}
}

// TestRunningTable plays each row of protocol.md §5.5 with node A while node B runs to the end.
func TestRunningTable(t *testing.T) {
	e := newNodeEnv(t)
	type row struct {
		name    string
		ackRun  bool     // A acks the run first (A running) before the row's message
		msg     string   // A's message, or "down"
		status  string   // A's final status
		events  []string // A's events after A's run_start (if any)
		capture bool
	}
	rows := []row{
		{name: "ready/ack_run", msg: wire.TypeAckRun, status: "running", events: []string{"run_start A"}},
		{name: "ready/nack_run", msg: wire.TypeNackRun, status: "failed", events: []string{"rehab A", "run_complete A run_nacked"}},
		{name: "ready/succeeded", msg: wire.TypeSucceeded, status: "crashed", events: []string{"rehab A", "run_complete A crashed"}},
		{name: "ready/failed", msg: wire.TypeFailed, status: "crashed", events: []string{"rehab A", "run_complete A crashed"}},
		{name: "ready/down", msg: "down", status: "crashed", events: []string{"rehab A", "run_complete A crashed"}},
		{name: "running/ack_run", ackRun: true, msg: wire.TypeAckRun, status: "running"},
		{name: "running/nack_run", ackRun: true, msg: wire.TypeNackRun, status: "failed", events: []string{"rehab A", "run_complete A run_nacked_while_running"}},
		{name: "running/succeeded", ackRun: true, msg: wire.TypeSucceeded, status: "succeeded", events: []string{"run_complete A success"}},
		{name: "running/failed", ackRun: true, msg: wire.TypeFailed, status: "failed", events: []string{"run_complete A failure"}},
		{name: "running/other", ackRun: true, msg: wire.TypeAckCommit, status: "crashed", events: []string{"rehab A", "run_complete A crashed"}},
		{name: "running/down", ackRun: true, msg: "down", status: "crashed", events: []string{"rehab A", "run_complete A crashed"}},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			a, b := e.node(t, "run-a"), e.node(t, "run-b")
			alias := map[string]string{a.Node: "A", b.Node: "B"}
			id, feed := e.job(t, alias, "chef-client", 2, 60, a, b)
			expect(t, a, wire.TypeCommit)
			expect(t, b, wire.TypeCommit)
			a.Send(wire.TypeAckCommit, id)
			feed.read(2) // votes in a known order
			b.Send(wire.TypeAckCommit, id)
			expect(t, a, wire.TypeRun)
			expect(t, b, wire.TypeRun)
			b.Send(wire.TypeAckRun, id)
			e.waitNode(t, id, b.Node, "running")
			want := []string{"start", "quorum_vote A success", "quorum_vote B success", "quorum_succeeded", "run_start B"}
			if r.ackRun {
				a.Send(wire.TypeAckRun, id)
				e.waitNode(t, id, a.Node, "running")
				want = append(want, "run_start A")
			}
			if r.msg == "down" {
				down(a)
			} else {
				a.Send(r.msg, id)
			}
			want = append(want, r.events...)
			feed.read(len(want))
			e.waitNode(t, id, a.Node, r.status)
			final := r.status
			if r.status == "running" {
				// A finishes too, so the job completes.
				a.Send(wire.TypeSucceeded, id)
				want = append(want, "run_complete A success")
				final = "succeeded"
				feed.read(len(want))
			}
			b.Send(wire.TypeSucceeded, id)
			want = append(want, "run_complete B success", "job_complete complete")
			got := feed.drain()
			equalLines(t, got, want)
			status, nodes := e.jobState(t, id)
			if status != "complete" || nodes[a.Node] != final || nodes[b.Node] != "succeeded" {
				t.Fatalf("job %s, nodes %v; want complete, A %s, B succeeded", status, nodes, final)
			}
		})
	}
}

// TestTerminalNodeMessagesWhileRunning: a node that already finished and then talks about the
// job (or goes down) while another still runs gets the spurious rehab and
// run_complete(client_died_while_running) of protocol.md §5.5, in the column's order.
func TestTerminalNodeMessagesWhileRunning(t *testing.T) {
	e := newNodeEnv(t)
	for _, tc := range []struct {
		msg  string
		want []string
	}{
		{wire.TypeAckRun, []string{"run_complete A client_died_while_running", "rehab A"}},
		{wire.TypeNackRun, []string{"rehab A", "run_complete A client_died_while_running"}},
		{wire.TypeSucceeded, []string{"rehab A", "run_complete A client_died_while_running"}},
		{"down", []string{"rehab A", "run_complete A client_died_while_running"}},
	} {
		t.Run(tc.msg, func(t *testing.T) {
			t.Parallel()
			a, b := e.node(t, "term-a"), e.node(t, "term-b")
			alias := map[string]string{a.Node: "A", b.Node: "B"}
			id, feed := e.job(t, alias, "chef-client", 2, 60, a, b)
			for i, p := range []*scripted.Peer{a, b} {
				expect(t, p, wire.TypeCommit)
				p.Send(wire.TypeAckCommit, id)
				feed.read(2 + i)
			}
			for i, p := range []*scripted.Peer{a, b} {
				expect(t, p, wire.TypeRun)
				p.Send(wire.TypeAckRun, id)
				feed.read(5 + i)
			}
			a.Send(wire.TypeSucceeded, id)
			feed.read(7)
			if tc.msg == "down" {
				down(a)
			} else {
				a.Send(tc.msg, id)
			}
			want := []string{"start", "quorum_vote A success", "quorum_vote B success", "quorum_succeeded", "run_start A", "run_start B", "run_complete A success"}
			want = append(want, tc.want...)
			// A's status does not change: B finishes once A's events are in the feed.
			feed.read(len(want))
			b.Send(wire.TypeSucceeded, id)
			got := feed.drain()
			want = append(want, "run_complete B success", "job_complete complete")
			equalLines(t, got, want)
			status, nodes := e.jobState(t, id)
			if status != "complete" || nodes[a.Node] != "succeeded" {
				t.Fatalf("job %s nodes %v", status, nodes)
			}
		})
	}
}

// TestRunTimeout: nodes still ready or running when the run timer fires are timed_out and
// aborted, without run_complete events, and the job is timed_out.
func TestRunTimeout(t *testing.T) {
	e := newNodeEnv(t)
	a, b, c := e.node(t, "slow"), e.node(t, "silent-run"), e.node(t, "quick")
	alias := map[string]string{a.Node: "A", b.Node: "B", c.Node: "C"}
	id, feed := e.job(t, alias, "sleep 100", 3, 1, a, b, c)
	for i, p := range []*scripted.Peer{a, b, c} {
		expect(t, p, wire.TypeCommit)
		p.Send(wire.TypeAckCommit, id)
		feed.read(2 + i)
	}
	for _, p := range []*scripted.Peer{a, b, c} {
		expect(t, p, wire.TypeRun)
	}
	a.Send(wire.TypeAckRun, id)
	e.waitNode(t, id, a.Node, "running")
	c.Send(wire.TypeAckRun, id)
	e.waitNode(t, id, c.Node, "running")
	c.Send(wire.TypeSucceeded, id)
	got := feed.drain()
	equalLines(t, got, []string{"start", "quorum_vote A success", "quorum_vote B success", "quorum_vote C success",
		"quorum_succeeded", "run_start A", "run_start C", "run_complete C success", "job_complete timed_out"})
	status, nodes := e.jobState(t, id)
	if status != "timed_out" || nodes[a.Node] != "timed_out" || nodes[b.Node] != "timed_out" || nodes[c.Node] != "succeeded" {
		t.Fatalf("job %s nodes %v", status, nodes)
	}
	for _, p := range []*scripted.Peer{a, b} {
		if m, ok := p.Next(5*time.Second, wire.TypeAck); !ok || m.MessageType() != wire.TypeAbort {
			t.Fatalf("%s: a timed-out node must be aborted, got %v", p.Node, m)
		}
	}
}
