package main

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushlab/pushlab/internal/chefauth"
	"github.com/pushlab/pushlab/internal/pushyclient"
	"github.com/pushlab/pushlab/internal/scripted"
	"github.com/pushlab/pushlab/internal/wire"
	"github.com/pushlab/pushlab/server/servertest"
)

// e2e is a reference server with node clients that play scripted parts over real ZeroMQ.
type e2e struct {
	srv   *servertest.Server
	admin *pushyclient.Client
}

var (
	e2eNodeKeyOnce sync.Once
	e2eNodeKey     *rsa.PrivateKey
)

func newE2E(t *testing.T) *e2e {
	t.Helper()
	srv := servertest.StartFast(t)
	admin := pushyclient.New(srv.URL(), srv.Org(), &chefauth.Signer{UserID: "admin", Key: srv.Admin})
	return &e2e{srv: srv, admin: admin}
}

// cli runs pushlab as admin against the server.
func (e *e2e) cli(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	args = append(args, "--server", e.srv.URL(), "--org", e.srv.Org(), "--user", "admin", "--key", e.srv.KeyPath("admin"))
	return runCLI(t, args...)
}

// nodePart says how a node answers a job: vote "ack" or "nack"; result "succeeded" or "failed".
type nodePart struct {
	vote, result   string
	stdout, stderr string
}

// node registers a client named name, connects it, waits until the server sees it available
// and then plays part for every job it is offered, until the test ends.
func (e *e2e) node(t *testing.T, name string, part nodePart) *scripted.Peer {
	t.Helper()
	e2eNodeKeyOnce.Do(func() {
		k, err := chefauth.GenerateKey()
		if err != nil {
			panic(err)
		}
		e2eNodeKey = k
	})
	pivotal := pushyclient.New(e.srv.URL(), e.srv.Org(), &chefauth.Signer{UserID: "pivotal", Key: e.srv.Pivotal})
	body, _ := json.Marshal(map[string]string{"name": name, "public_key": string(chefauth.EncodePublicKeyPEM(&e2eNodeKey.PublicKey))})
	resp, err := pivotal.Do(context.Background(), "POST", "clients", body, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("registering %s: %s", name, resp.Status)
	}
	p := scripted.DialPeer(t, e.srv.URL(), e.srv.Org(), name, e2eNodeKey)
	p.Heartbeat(50 * time.Millisecond)
	done := make(chan struct{})
	finished := make(chan struct{})
	t.Cleanup(func() { close(done); <-finished })
	go func() {
		defer close(finished)
		for {
			select {
			case <-done:
				return
			case m := <-p.Inbox():
				switch m := m.(type) {
				case wire.Abort:
					p.Send(wire.TypeAborted, "")
				case wire.Commit:
					if part.vote == "nack" {
						p.Send(wire.TypeNackCommit, m.JobID)
					} else {
						p.Send(wire.TypeAckCommit, m.JobID)
					}
				case wire.Run:
					p.Send(wire.TypeAckRun, m.JobID)
					stdout, stderr := part.stdout, part.stderr
					p.SendResult(part.result, m.JobID, &stdout, &stderr)
				}
			}
		}
	}()
	e.waitAvailability(t, name, "available")
	return p
}

func (e *e2e) waitAvailability(t *testing.T, node, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := e.admin.NodeState(context.Background(), node)
		if err == nil && st.Availability == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s: %+v %v, want availability %s", node, st, err, want)
		}
		time.Sleep(10 * time.Millisecond) // poll interval of a deadline loop
	}
}

var startedRE = regexp.MustCompile(`^Started\.  Job ID: ([0-9a-f]{32})\n`)

func startedID(t *testing.T, out string) string {
	t.Helper()
	m := startedRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no job id line in %q", out)
	}
	return m[1]
}

func TestE2EJobStartNowait(t *testing.T) {
	e := newE2E(t)
	e.node(t, "nw-1", nodePart{vote: "ack", result: "succeeded"})
	out, errOut, code := e.cli(t, "job", "start", "chef-client", "nw-1", "--nowait")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	id := startedID(t, out)
	if strings.TrimPrefix(out, "Started.  Job ID: "+id+"\n") != "" {
		t.Fatalf("--nowait printed more than the id: %q", out)
	}
	if _, err := e.admin.Job(context.Background(), id); err != nil {
		t.Fatalf("the started job is not on the server: %v", err)
	}
}

func TestE2EJobStartSucceedsAndOutputs(t *testing.T) {
	e := newE2E(t)
	e.node(t, "ok-1", nodePart{vote: "ack", result: "succeeded", stdout: "hello from ok-1\n", stderr: "warn 1"})
	e.node(t, "ok-2", nodePart{vote: "ack", result: "succeeded", stdout: "hello from ok-2\n"})
	out, errOut, code := e.cli(t, "job", "start", "echo hello", "ok-1", "ok-2", "--capture", "--poll-interval", "20ms")
	if code != 0 {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	id := startedID(t, out)
	for _, want := range []string{"\nComplete.\n", "capture_output: true\n", "command:        echo hello\n", "id:             " + id + "\n",
		"nodes:\n  succeeded:\n    ok-1\n    ok-2\n", "status:         complete\n", "run_timeout:    "} {
		if !strings.Contains(out, want) {
			t.Fatalf("stdout lacks %q:\n%s", want, out)
		}
	}

	got, _, code := e.cli(t, "job", "output", id, "ok-1")
	if code != 0 || got != "hello from ok-1\n" {
		t.Fatalf("output: %d %q", code, got)
	}
	got, _, code = e.cli(t, "job", "output", id, "ok-1", "--channel", "stderr")
	if code != 0 || got != "warn 1" {
		t.Fatalf("output stderr: %d %q", code, got)
	}
	if _, errOut, code = e.cli(t, "job", "output", id, "nobody"); code != exitAPIError || !strings.Contains(errOut, "404") {
		t.Fatalf("output of a node not in the job: %d %q", code, errOut)
	}

	got, _, code = e.cli(t, "job", "status", id)
	if code != 0 || !strings.Contains(got, "status:         complete\n") || !strings.Contains(got, "  succeeded:\n    ok-1\n    ok-2\n") {
		t.Fatalf("status: %d\n%s", code, got)
	}
	got, _, code = e.cli(t, "job", "status", id, "-F", "json")
	var j struct {
		ID     string
		Status string
		Nodes  map[string][]string
	}
	if code != 0 || json.Unmarshal([]byte(got), &j) != nil || j.ID != id || len(j.Nodes["succeeded"]) != 2 {
		t.Fatalf("status json: %d %q", code, got)
	}
	got, _, code = e.cli(t, "job", "list")
	if code != 0 || !regexp.MustCompile(`(?m)^id: +`+id+`$`).MatchString(got) || strings.Contains(got, "nodes:") {
		t.Fatalf("list: %d\n%s", code, got)
	}
	if _, errOut, code = e.cli(t, "job", "status", strings.Repeat("0", 32)); code != exitAPIError || !strings.Contains(errOut, "404") {
		t.Fatalf("unknown job: %d %q", code, errOut)
	}
}

func TestE2EJobStartExitStatus(t *testing.T) {
	e := newE2E(t)
	e.node(t, "good", nodePart{vote: "ack", result: "succeeded"})
	e.node(t, "bad", nodePart{vote: "ack", result: "failed"})
	e.node(t, "busy", nodePart{vote: "nack"})
	cases := []struct {
		name   string
		args   []string
		code   int
		status string
	}{
		{"one node failed", []string{"good", "bad"}, 1, "Complete."},
		{"nacked and unavailable are fine when complete", []string{"good", "busy", "never-connected", "-q", "1"}, 0, "Complete."},
		{"quorum 34% of 3 is 2: one ready node fails it", []string{"good", "busy", "never-connected", "-q", "34%"}, 1, "Quorum_failed."},
		{"quorum 33% of 3 is 1", []string{"good", "busy", "never-connected", "-q", "33%"}, 0, "Complete."},
		{"default quorum 100% with an unavailable node", []string{"good", "never-connected"}, 1, "Quorum_failed."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// A node sent to rehab by an earlier case (was_ready, failed) must be back first.
			for _, n := range []string{"good", "bad", "busy"} {
				e.waitAvailability(t, n, "available")
			}
			args := append([]string{"job", "start", "chef-client"}, c.args...)
			args = append(args, "--poll-interval", "20ms")
			out, errOut, code := e.cli(t, args...)
			if code != c.code {
				t.Fatalf("exit %d, want %d\nstdout %s\nstderr %s", code, c.code, out, errOut)
			}
			if !strings.Contains(out, "\n"+c.status+"\n") {
				t.Fatalf("no %q line:\n%s", c.status, out)
			}
		})
	}
}

func TestE2EJobStartPolling(t *testing.T) {
	e := newE2E(t)
	e.node(t, "poll-1", nodePart{vote: "ack", result: "failed"})
	out, errOut, code := e.cli(t, "job", "start", "false", "poll-1", "--poll", "--poll-interval", "20ms")
	if code != 1 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if !regexp.MustCompile(`\n\.+(Voting\.\n\.+)?(Running \(\d/1 in progress\) \.\.\.\n\.+)?Complete\.\n`).MatchString(out) {
		t.Fatalf("knife poll progress missing:\n%s", out)
	}
	if !strings.Contains(out, "  failed: poll-1\n") {
		t.Fatalf("job not printed:\n%s", out)
	}
}

func TestE2ENodeStatus(t *testing.T) {
	e := newE2E(t)
	e.node(t, "up-1", nodePart{vote: "ack", result: "succeeded"})
	out, _, code := e.cli(t, "node", "status", "never-connected", "up-1")
	if code != 0 || out != "never-connected\tunavailable\nup-1\tavailable\n" {
		t.Fatalf("%d %q", code, out)
	}
	out, _, code = e.cli(t, "node", "status")
	if code != 0 || !strings.Contains(out, "up-1\tavailable\n") || strings.Contains(out, "never-connected") {
		t.Fatalf("list: %d %q", code, out)
	}
	out, _, code = e.cli(t, "node", "status", "never-connected", "-F", "json")
	var states []map[string]string
	if code != 0 || json.Unmarshal([]byte(out), &states) != nil || len(states) != 1 ||
		fmt.Sprint(states[0]) != fmt.Sprint(map[string]string{"node_name": "never-connected", "status": "offline", "availability": "unavailable"}) {
		t.Fatalf("json: %d %q", code, out)
	}
}
