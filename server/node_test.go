package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pushlab/pushlab/internal/chefauth"
	"github.com/pushlab/pushlab/internal/scripted"
	"github.com/pushlab/pushlab/internal/sse"
	"github.com/pushlab/pushlab/internal/wire"
	"github.com/pushlab/pushlab/server/servertest"
)

// TestLivenessSilentNodeGoesDown: a node that stops heartbeating is declared down by the
// decaying average of protocol.md §4.6 and comes back, through a fresh FSM's abort, when it
// talks again.
func TestLivenessSilentNodeGoesDown(t *testing.T) {
	e := newNodeEnv(t)
	p := e.node(t, "quiet")
	p.Heartbeat(0)
	silent := time.Now()
	e.waitAvailable(t, p.Node, "unavailable")
	// Decay from a steady one beat per 100 ms bucket below 0.6 takes 2 empty buckets; the
	// scanner runs every 4 intervals: the node is down within about 0.8 s, never at once.
	if d := time.Since(silent); d < 150*time.Millisecond || d > 3*time.Second {
		t.Fatalf("silent node declared down after %v", d)
	}
	_, b := e.request(t, "GET", e.pushy("/node_states/"+p.Node), "")
	if !strings.Contains(string(b), `"status":"offline"`) {
		t.Fatalf("node state %s", b)
	}
	p.Heartbeat(50 * time.Millisecond)
	if m, ok := p.Next(5*time.Second, wire.TypeAck); !ok || m.MessageType() != wire.TypeAbort {
		t.Fatalf("a returning node must be aborted by its new FSM, got %v", m)
	}
	p.Send(wire.TypeAborted, "")
	e.waitAvailable(t, p.Node, "available")
}

// TestServerHeartbeats: the PUB socket carries rsa2048_sha1-signed heartbeats with this run's
// incarnation id and a sequence that counts up.
func TestServerHeartbeats(t *testing.T) {
	e := newNodeEnv(t)
	p := e.node(t, "listener")
	hbs, err := p.SubscribeHeartbeats(3, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for i, hb := range hbs {
		if hb.Type != "heartbeat" || hb.IncarnationID != e.srv.IncarnationID() || hb.IncarnationID != p.Config.IncarnationID || hb.Server == "" {
			t.Fatalf("heartbeat %+v", hb)
		}
		if _, err := time.Parse(wire.TimeFormat, hb.Timestamp); err != nil {
			t.Fatalf("heartbeat timestamp %q: %v", hb.Timestamp, err)
		}
		if i > 0 && hb.Sequence != hbs[i-1].Sequence+1 {
			t.Fatalf("sequences %d then %d", hbs[i-1].Sequence, hb.Sequence)
		}
	}
}

// TestNodeMessagesThatMustBeIgnoredOrRehabbed: forged frames change nothing; a heartbeat
// naming a job the server does not run sends the node to rehab; a new ZeroMQ identity is
// acknowledged with ack.
func TestNodeMessagesThatMustBeIgnoredOrRehabbed(t *testing.T) {
	e := newNodeEnv(t)
	a, b := e.node(t, "forger"), e.node(t, "honest")
	alias := map[string]string{a.Node: "A", b.Node: "B"}
	id, feed := e.job(t, alias, "chef-client", 2, 60, a, b)
	expect(t, a, wire.TypeCommit)
	expect(t, b, wire.TypeCommit)

	// A forged ack_commit (bad HMAC) and one signed with another key are dropped.
	body, _ := json.Marshal(wire.NodeMessage{Node: a.Node, Client: a.Node, ProtocolVersion: "2.0", Org: a.Org,
		Type: wire.TypeAckCommit, Sequence: 99, Timestamp: wire.FormatTime(time.Now()), IncarnationID: a.IncarnationID, JobID: id})
	a.SendRaw([]byte("Version:2.0;SigningMethod:hmac_sha256;Signature:AAAA"), body)
	a.SendRaw(wire.SignHMAC(make([]byte, 32), body), body)
	// A message whose timestamp is outside the allowed skew is dropped too.
	stale, _ := json.Marshal(wire.NodeMessage{Node: a.Node, Client: a.Node, ProtocolVersion: "2.0", Org: a.Org,
		Type: wire.TypeAckCommit, Sequence: 100, Timestamp: wire.FormatTime(time.Now().Add(-time.Hour)), IncarnationID: a.IncarnationID, JobID: id})
	a.SendRaw(wire.SignHMAC(a.SessionKey(), stale), stale)
	// B's vote travels after A's frames on another connection; A must still be new after it.
	b.Send(wire.TypeAckCommit, id)
	feed.read(2)
	if _, nodes := e.jobState(t, id); nodes[a.Node] != "new" {
		t.Fatalf("forged or stale votes were counted: %v", nodes)
	}
	a.Send(wire.TypeNackCommit, id)
	got := feed.drain()
	equalLines(t, got, []string{"start", "quorum_vote B success", "quorum_vote A failure", "job_complete quorum_failed"})

	// A heartbeat about a job the server does not run: rehab (abort).
	b.SetJob("running", "0123456789abcdef0123456789abcdef")
	if m, ok := b.Next(5*time.Second, wire.TypeAck); !ok || m.MessageType() != wire.TypeAbort {
		t.Fatalf("heartbeat naming an unknown job: want abort, got %v", m)
	}
	b.SetJob("idle", "")
	b.Send(wire.TypeAborted, "")

	// A new connection (new ZeroMQ identity) of a known node: ack.
	p := e.node(t, "mover")
	p.Reconnect()
	if m, ok := p.Next(5*time.Second, wire.TypeAbort); !ok || m.MessageType() != wire.TypeAck {
		t.Fatalf("new identity: want ack, got %v", m)
	}
}

// TestCURVEKeyNotAdmittedCannotConnect: the ZAP handler admits only keys sent with a config
// request, so a peer with another key never gets a message through.
func TestCURVEKeyNotAdmittedCannotConnect(t *testing.T) {
	e := newNodeEnv(t)
	p := e.node(t, "admitted")
	// A stranger reuses p's config and session key but its own CURVE key pair.
	stranger := scripted.DialPeerWithConfig(t, p.Config, p.SessionKey(), p.Node, p.Org)
	stranger.Send(wire.TypeHeartbeat, "")
	if m, ok := stranger.Next(1500 * time.Millisecond); ok {
		t.Fatalf("an unadmitted CURVE key got %v", m)
	}
}

// TestOutputCapture: output sent with succeeded and failed is stored byte for byte (§2.7).
func TestOutputCapture(t *testing.T) {
	e := newNodeEnv(t)
	a, b := e.node(t, "out-a"), e.node(t, "out-b")
	code, resp := e.request(t, "POST", e.pushy("/jobs"), `{"command":"echo","nodes":["`+a.Node+`","`+b.Node+`"],"capture_output":true}`)
	if code != 201 {
		t.Fatalf("%d %s", code, resp)
	}
	var j struct{ ID string }
	_ = json.Unmarshal(resp, &j)
	for _, p := range []*scripted.Peer{a, b} {
		c := expect(t, p, wire.TypeCommit).(wire.Commit)
		if !c.Capture || c.Command != "echo" || c.JobID != j.ID {
			t.Fatalf("commit %+v", c)
		}
		p.Send(wire.TypeAckCommit, j.ID)
	}
	for _, p := range []*scripted.Peer{a, b} {
		expect(t, p, wire.TypeRun)
		p.Send(wire.TypeAckRun, j.ID)
	}
	outA, errA := "héllo\nwörld\n", ""
	outB, errB := strings.Repeat("x", 60000), "boom\r\n"
	a.SendResult(wire.TypeSucceeded, j.ID, &outA, &errA)
	b.SendResult(wire.TypeFailed, j.ID, &outB, &errB)
	e2 := &env{t: t, srv: e.srv, org: e.srv.Org(), admin: requestor{"admin", e.srv.Admin}}
	e2.waitJob(j.ID, "complete")
	for _, c := range []struct{ node, channel, want string }{
		{a.Node, "stdout", outA}, {a.Node, "stderr", errA}, {b.Node, "stdout", outB}, {b.Node, "stderr", errB},
	} {
		r := e2.mustStatus(e2.admin, "GET", e.pushy("/jobs/"+j.ID+"/output/"+c.node+"/"+c.channel), "", 200)
		if string(r.body) != c.want {
			t.Fatalf("%s %s: %d bytes, want %d", c.node, c.channel, len(r.body), len(c.want))
		}
		if r.header.Get("Content-Type") != "application/octet-stream" {
			t.Fatalf("output content type %q", r.header.Get("Content-Type"))
		}
	}
	if _, nodes := e.jobState(t, j.ID); nodes[a.Node] != "succeeded" || nodes[b.Node] != "failed" {
		t.Fatalf("nodes %v", nodes)
	}
}

// TestFeedsOverHTTP: the job feed under both spellings, its summary once the job is gone, and
// the org feed's start/job_complete pair with the job id.
func TestFeedsOverHTTP(t *testing.T) {
	e := newNodeEnv(t)
	org := e.openStream(t, e.pushy("/job_status_feed"), "")
	a := e.node(t, "feed")
	alias := map[string]string{a.Node: "A"}
	id, feed := e.job(t, alias, "chef-client", 1, 60, a)
	expect(t, a, wire.TypeCommit)
	a.Send(wire.TypeAckCommit, id)
	expect(t, a, wire.TypeRun)
	a.Send(wire.TypeAckRun, id)
	a.Send(wire.TypeSucceeded, id)
	want := []string{"start", "quorum_vote A success", "quorum_succeeded", "run_start A", "run_complete A success", "job_complete complete"}
	equalLines(t, feed.drain(), want)
	// The docs' spelling, while the job lingers: the whole history, then the end.
	alt, err := sse.ReadAll(e.openBody(t, e.pushy("/jobs_status_feed/"+id), ""))
	if err != nil || len(alt) != len(want) {
		t.Fatalf("jobs_status_feed: %d events, %v", len(alt), err)
	}
	// Once the job's FSM is gone: one summary event with the job object.
	deadline := time.Now().Add(10 * time.Second)
	for {
		evs, _ := sse.ReadAll(e.openBody(t, e.pushy("/job_status_feed/"+id), "job-2"))
		if len(evs) == 1 && evs[0].Name == "summary" {
			if evs[0].ID != "job-1" || !strings.Contains(string(evs[0].Data), `"status":"complete"`) || !strings.Contains(string(evs[0].Data), `"nodes":{"succeeded":["`+a.Node+`"]}`) {
				t.Fatalf("summary %s %s", evs[0].ID, evs[0].Data)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no summary; last answer %v", evs)
		}
		time.Sleep(50 * time.Millisecond) // poll interval of a deadline loop
	}
	var names []string
	timeout := time.After(5 * time.Second)
	for len(names) < 2 {
		select {
		case ev := <-org:
			if ev.IsComment() {
				continue
			}
			if !strings.Contains(string(ev.Data), `"job":"`+id+`"`) {
				t.Fatalf("org event without the job id: %s", ev.Data)
			}
			names = append(names, ev.Name+" "+ev.ID)
		case <-timeout:
			t.Fatalf("org feed: %v", names)
		}
	}
	if strings.Join(names, ",") != "start org-1,job_complete org-2" {
		t.Fatalf("org feed %v", names)
	}
}

// TestServerRestartMidJob: a job running when the server stops is crashed at the next start,
// and its node, reconnecting with fresh config, is aborted (protocol.md §5.6).
func TestServerRestartMidJob(t *testing.T) {
	dir := t.TempDir()
	cfg := servertest.Fast(dir)
	srv := servertest.Start(t, cfg)
	e := &nodeEnv{t: t, srv: srv, key: newNodeEnv(t).key}
	a := e.node(t, "survivor")
	alias := map[string]string{a.Node: "A"}
	id, feed := e.job(t, alias, "sleep 100", 1, 60, a)
	expect(t, a, wire.TypeCommit)
	a.Send(wire.TypeAckCommit, id)
	expect(t, a, wire.TypeRun)
	a.Send(wire.TypeAckRun, id)
	feed.read(4)
	a.Close()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	srv2 := servertest.Start(t, cfg)
	if srv2.CrashedJobs() != 1 {
		t.Fatalf("crashed jobs at start: %d", srv2.CrashedJobs())
	}
	e2 := &nodeEnv{t: t, srv: srv2, key: e.key}
	if status, _ := e2.jobState(t, id); status != "crashed" {
		t.Fatalf("job after restart: %s", status)
	}
	p := scripted.DialPeer(t, srv2.URL(), srv2.Org(), a.Node, e.key)
	p.SetJob("running", id)
	p.Heartbeat(50 * time.Millisecond)
	if m, ok := p.Next(5 * time.Second); !ok || m.MessageType() != wire.TypeAbort {
		t.Fatalf("node of a crashed job: want abort, got %v", m)
	}
}

// openBody opens a signed GET of a feed and returns its body, closed when the test ends.
func (e *nodeEnv) openBody(t *testing.T, path, lastID string) io.Reader {
	t.Helper()
	req, _ := http.NewRequest("GET", e.srv.URL()+path, nil)
	req.Header.Set("Accept", "text/event-stream")
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	if err := (&chefauth.Signer{UserID: "admin", Key: e.srv.Admin, Version: "1.1"}).Sign(req, nil); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d", path, resp.StatusCode)
	}
	return resp.Body
}

func (e *nodeEnv) openStream(t *testing.T, path, lastID string) <-chan sse.Event {
	return sse.Stream(e.openBody(t, path, lastID))
}
