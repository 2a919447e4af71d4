package simulator

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pushlab/pushlab/fakenodes"
	"github.com/pushlab/pushlab/fakenodes/behaviour"
	"github.com/pushlab/pushlab/server"
)

const oj = "job1"

func sec(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// life is a node's event log written tersely: "1.0 state online", "2.0 recv commit job1", ...
func life(lines ...string) []nodeEvent {
	var out []nodeEvent
	for _, l := range lines {
		f := strings.Fields(l)
		t, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			panic(l)
		}
		e := nodeEvent{t: sec(t), typ: f[2]}
		switch f[1] {
		case "state":
			e.kind = fakenodes.EventState
		case "recv":
			e.kind = fakenodes.EventReceived
		case "sent":
			e.kind = fakenodes.EventSent
		case "job":
			e.kind = fakenodes.EventJob
		case "beh":
			e.kind = fakenodes.EventBehaviour
		}
		if len(f) > 3 {
			e.job = f[3]
		}
		out = append(out, e)
	}
	return out
}

// healthy is a node that joined at 0.5s.
func healthy(extra ...string) []nodeEvent {
	return life(append([]string{"0.2 state configuring", "0.4 state connecting", "0.5 recv abort", "0.5 state online", "0.5 sent aborted"}, extra...)...)
}

func testOracleConfig() oracleConfig {
	cfg := server.DefaultConfig()
	cfg.HeartbeatInterval = time.Second
	cfg.VotingTimeout = 10 * time.Second
	return newOracleConfig(cfg)
}

func testJob(nodes ...string) jobFacts {
	return jobFacts{id: oj, nodes: nodes, quorum: len(nodes), runTimeout: 30 * time.Second,
		posted: sec(10), created: sec(10.01), end: sec(15),
		inFleet: func(n string) bool { return !strings.HasPrefix(n, "ghost") }}
}

func prof(bs ...behaviour.Behaviour) profile { return profileOf(bs) }

func TestOracleHappyPath(t *testing.T) {
	cfg := testOracleConfig()
	job := testJob("a", "b", "ghost")
	job.quorum = 2
	in := map[string]nodeInput{
		"a": {name: "a", profile: prof(), events: healthy("10.02 recv commit job1", "10.02 sent ack_commit job1", "10.1 recv run job1", "10.1 sent ack_run job1", "10.2 sent succeeded job1")},
		"b": {name: "b", profile: prof(&behaviour.CommandResult{ExitStatus: 3}), events: healthy("10.02 recv commit job1", "10.02 sent ack_commit job1", "10.1 recv run job1", "10.1 sent ack_run job1", "10.2 sent failed job1")},
	}
	preds, jobPred, _ := predictJob(cfg, job, in)
	want := map[string]string{"a": "succeeded", "b": "failed", "ghost": "unavailable"}
	for n, st := range want {
		if p := preds[n]; !p.Determinate || p.String() != st {
			t.Errorf("%s: %+v, want exactly %s", n, p, st)
		}
	}
	if !jobPred.Determinate || jobPred.String() != "complete" {
		t.Errorf("job: %+v", jobPred)
	}
}

func TestOracleVotes(t *testing.T) {
	cfg := testOracleConfig()
	cases := []struct {
		name   string
		p      profile
		events []nodeEvent
		want   string
		det    bool
	}{
		{"nack", prof(&behaviour.NackCommit{}), healthy("10.02 recv commit job1", "10.02 sent nack_commit job1"), "nacked", true},
		{"ignore", prof(&behaviour.IgnoreCommit{}), healthy("10.02 recv commit job1"), "unavailable", true},
		{"dropped ack", prof(&behaviour.DropAckCommit{}), healthy("10.02 recv commit job1", "10.02 job committed job1"), "unavailable", true},
		{"busy", prof(), healthy("5 recv commit other", "5 job committed other", "10.02 recv commit job1", "10.02 sent nack_commit job1"), "nacked", true},
		{"late ack", prof(&behaviour.AckCommit{Delay: 15 * time.Second}), healthy("10.02 recv commit job1", "25 sent ack_commit job1"), "unavailable", true},
		{"ack racing the timeout", prof(&behaviour.AckCommit{Delay: 10 * time.Second}), healthy("10.02 recv commit job1", "20.02 sent ack_commit job1"), "succeeded|unavailable", false},
		{"no commit", prof(), healthy(), "unavailable", false},
		{"rehab forever", prof(&behaviour.IgnoreAbort{}), healthy("8 recv abort"), "unavailable", true},
		// The node nacks another job's run just as this one is posted: the server may have it in
		// rehab when it starts this job (the abort comes before this job's commit).
		{"rehab crossing the POST", prof(&behaviour.NackRun{}), healthy("5 recv commit other", "5 job committed other", "5 sent ack_commit other",
			"10.001 recv run other", "10.001 sent nack_run other", "10.008 recv abort", "10.008 job idle", "10.008 sent aborted other",
			"10.009 recv commit job1", "10.009 job committed job1", "10.009 sent ack_commit job1", "10.01 recv abort", "10.01 job idle", "10.01 sent aborted job1"),
			"failed|unavailable", false},
		// An abort after this job's commit was sent after the job started: it says nothing of
		// the node at the start.
		{"abort after the commit", prof(&behaviour.NackRun{}), healthy("10.02 recv commit job1", "10.02 sent ack_commit job1", "10.03 recv abort", "10.03 sent aborted job1"),
			"failed", true},
		{"hang", prof(&behaviour.Hang{}), healthy("10.02 recv commit job1", "10.02 sent ack_commit job1", "10.1 recv run job1", "10.1 sent ack_run job1"), "timed_out", true},
		{"nack run", prof(&behaviour.NackRun{}), healthy("10.02 recv commit job1", "10.02 sent ack_commit job1", "10.1 recv run job1", "10.1 sent nack_run job1"), "failed", true},
		{"dies running", prof(&behaviour.DieWhileRunning{After: time.Second}), healthy("10.02 recv commit job1", "10.02 sent ack_commit job1", "10.1 recv run job1", "10.1 beh die_while_running", "11.1 state down"), "crashed", true},
		{"slow command", prof(&behaviour.Duration{Distribution: behaviour.Distribution{Value: time.Minute}}), healthy("10.02 recv commit job1", "10.02 sent ack_commit job1", "10.1 recv run job1"), "timed_out", true},
		{"long tail", prof(&behaviour.Duration{Distribution: behaviour.Distribution{Kind: "longtail", Median: time.Second, P99: time.Minute}}), healthy("10.02 recv commit job1", "10.02 sent ack_commit job1", "10.1 recv run job1"), "succeeded|timed_out", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			job := testJob("n")
			job.quorum = 0 // the job runs whatever this node does
			preds, _, _ := predictJob(cfg, job, map[string]nodeInput{"n": {name: "n", profile: c.p, events: c.events}})
			p := preds["n"]
			if p.String() != c.want || p.Determinate != c.det {
				t.Errorf("prediction %s (determinate %v, %s), want %s (determinate %v)", p, p.Determinate, p.Reason, c.want, c.det)
			}
		})
	}
}

func TestOracleQuorum(t *testing.T) {
	cfg := testOracleConfig()
	ack := healthy("10.02 recv commit job1", "10.02 sent ack_commit job1")
	nack := healthy("10.02 recv commit job1", "10.02 sent nack_commit job1")
	job := testJob("a", "b", "c")
	job.quorum = 3
	in := map[string]nodeInput{
		"a": {name: "a", profile: prof(), events: ack},
		"b": {name: "b", profile: prof(), events: ack},
		"c": {name: "c", profile: prof(&behaviour.NackCommit{}), events: nack},
	}
	preds, jobPred, _ := predictJob(cfg, job, in)
	if jobPred.String() != "quorum_failed" || !jobPred.Determinate {
		t.Errorf("job %+v", jobPred)
	}
	if preds["a"].String() != "was_ready" || preds["c"].String() != "nacked" {
		t.Errorf("a %s, c %s", preds["a"], preds["c"])
	}
	// A node whose vote the timing leaves open makes the quorum open too.
	in["c"] = nodeInput{name: "c", profile: prof(&behaviour.AckCommit{Delay: 10 * time.Second}), events: healthy("10.02 recv commit job1", "20.02 sent ack_commit job1")}
	preds, jobPred, _ = predictJob(cfg, job, in)
	if jobPred.Determinate || !jobPred.allows("complete") || !jobPred.allows("quorum_failed") {
		t.Errorf("open quorum: job %+v", jobPred)
	}
	if !preds["a"].allows("was_ready") || !preds["a"].allows("succeeded") {
		t.Errorf("open quorum: a %+v", preds["a"])
	}
}

func TestOracleDisturbance(t *testing.T) {
	cfg := testOracleConfig()
	job := testJob("a", "b")
	job.quorum = 1
	in := map[string]nodeInput{
		"a": {name: "a", profile: prof(), events: healthy("10.02 recv commit job1", "10.02 sent ack_commit job1", "10.1 recv run job1", "10.2 sent succeeded job1")},
		// b was crashed by a fault before the job and stays down through the voting
		"b": {name: "b", profile: prof(), events: healthy("5 state down"), faults: []faultSpan{{name: "kill", kind: "crash", start: sec(5), end: -1}}},
	}
	preds, jobPred, _ := predictJob(cfg, job, in)
	if p := preds["b"]; p.String() != "unavailable" || !p.Determinate {
		t.Errorf("b %+v", p)
	}
	if jobPred.String() != "complete" {
		t.Errorf("job %+v", jobPred)
	}
	// A freeze during the run leaves b open.
	in["b"] = nodeInput{name: "b", profile: prof(), events: healthy("10.02 recv commit job1", "10.02 sent ack_commit job1", "10.1 recv run job1", "11 state frozen"),
		faults: []faultSpan{{name: "freeze", kind: "unavailable", start: sec(11), end: sec(21)}}}
	preds, _, verdicts := predictJob(cfg, job, in)
	if p := preds["b"]; p.Determinate || len(p.Statuses) < 5 || !verdicts["b"].disturbed {
		t.Errorf("frozen b %+v", p)
	}
	// A server restart during the job crashes it.
	job.serverRestart = true
	_, jobPred, _ = predictJob(cfg, job, in)
	if jobPred.String() != "crashed" {
		t.Errorf("job across a server restart: %+v", jobPred)
	}
}

func TestExpectedOutput(t *testing.T) {
	cfg := testOracleConfig()
	out, errOut, absent, known := expectedOutput(cfg, prof(&behaviour.CommandResult{Stdout: "hi\n", Stderr: ""}))
	if out != "hi\n" || errOut != "" || absent || !known {
		t.Errorf("small output: %q %q %v %v", out, errOut, absent, known)
	}
	if _, _, absent, known := expectedOutput(cfg, prof(&behaviour.CommandResult{StdoutBytes: 40000, StderrBytes: 30000})); !absent || !known {
		t.Error("output over the cap is dropped")
	}
	// 31,000 + 31,000 bytes are under the cap but not once JSON-encoded (newlines escape).
	if _, _, absent, known := expectedOutput(cfg, prof(&behaviour.CommandResult{StdoutBytes: 31000, StderrBytes: 31000})); !absent || !known {
		t.Error("output whose message is over the cap is dropped")
	}
	if _, _, absent, known := expectedOutput(cfg, prof(&behaviour.CommandResult{StdoutBytes: 28000, StderrBytes: 28000})); absent || !known {
		t.Error("output under the cap is kept")
	}
	if _, _, _, known := expectedOutput(cfg, prof(&behaviour.Exec{})); known {
		t.Error("a real command's output is not predicted")
	}
}
