package checks

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestMoves(t *testing.T) {
	legal := [][2]string{
		{"new", "voting"}, {"voting", "complete"}, {"new", "timed_out"}, {"voting", "quorum_failed"}, {"running", "crashed"},
	}
	for _, m := range legal {
		if !JobMove(m[0], m[1]) {
			t.Errorf("job %s -> %s should be legal", m[0], m[1])
		}
	}
	illegal := [][2]string{{"running", "voting"}, {"complete", "running"}, {"quorum_failed", "complete"}, {"running", "quorum_failed"}}
	for _, m := range illegal {
		if JobMove(m[0], m[1]) {
			t.Errorf("job %s -> %s should be illegal", m[0], m[1])
		}
	}
	nodeLegal := [][2]string{{"new", "running"}, {"new", "succeeded"}, {"ready", "was_ready"}, {"new", "crashed"}, {"ready", "failed"}}
	for _, m := range nodeLegal {
		if !NodeMove(m[0], m[1]) {
			t.Errorf("node %s -> %s should be legal", m[0], m[1])
		}
	}
	nodeIllegal := [][2]string{{"running", "was_ready"}, {"succeeded", "failed"}, {"nacked", "ready"}, {"ready", "nacked"}, {"running", "unavailable"}, {"unavailable", "crashed"}}
	for _, m := range nodeIllegal {
		if NodeMove(m[0], m[1]) {
			t.Errorf("node %s -> %s should be illegal", m[0], m[1])
		}
	}
}

func TestPolls(t *testing.T) {
	good := []Poll{
		{Status: "voting", Nodes: map[string]string{"a": "new", "b": "new"}},
		{Status: "running", Nodes: map[string]string{"a": "running", "b": "ready"}},
		{Status: "complete", Nodes: map[string]string{"a": "succeeded", "b": "crashed"}},
	}
	if vs := Polls(good); len(vs) != 0 {
		t.Errorf("legal polls: %v", vs)
	}
	bad := []Poll{
		{Status: "running", Nodes: map[string]string{"a": "running", "b": "succeeded"}},
		{Status: "voting", Nodes: map[string]string{"a": "was_ready", "b": "failed"}},
	}
	vs := Polls(bad)
	var got []string
	for _, v := range vs {
		got = append(got, v.Rule+": "+v.Message)
	}
	want := []string{
		"job-transition: job status went from running to voting",
		"node-transition: a went from running to was_ready",
		"node-transition: b went from succeeded to failed",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("violations:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if vs := Polls([]Poll{{Status: "voting", Nodes: map[string]string{"a": "new"}}, {Status: "voting", Nodes: map[string]string{}}}); len(vs) != 1 || !strings.Contains(vs[0].Message, "vanished") {
		t.Errorf("a vanished node: %v", vs)
	}
}

// timed builds events at the given offsets in milliseconds: "0 start", "10000 quorum_vote(D,voting_timeout)".
func timed(specs ...string) []Event {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var evs []Event
	for i, s := range specs {
		var ms int
		var rest string
		fmt.Sscanf(s, "%d %s", &ms, &rest)
		name, args, _ := strings.Cut(rest, "(")
		parts := strings.Split(strings.TrimSuffix(args, ")"), ",")
		d := map[string]any{"timestamp": t0.Add(time.Duration(ms) * time.Millisecond).Format(SSETimeLayout)}
		switch name {
		case "quorum_vote":
			d["node"], d["status"] = parts[0], parts[1]
		case "rehab":
			d["node"] = parts[0]
		case "job_complete":
			d["status"] = parts[0]
		}
		b, _ := json.Marshal(d)
		evs = append(evs, Event{Name: name, ID: fmt.Sprintf("job-%d", i+1), Data: b})
	}
	return evs
}

func TestTimers(t *testing.T) {
	ok := timed("0 start", "20 quorum_vote(A,success)", "10005 quorum_vote(B,voting_timeout)", "10006 quorum_succeeded", "40010 job_complete(timed_out)")
	if vs := Timers(ok, 2, 10*time.Second, 30*time.Second, 50*time.Millisecond); len(vs) != 0 {
		t.Errorf("timers kept: %v", vs)
	}
	early := timed("0 start", "20 quorum_vote(A,success)", "3000 quorum_vote(B,voting_timeout)", "3001 quorum_succeeded", "5000 job_complete(timed_out)")
	vs := Timers(early, 2, 10*time.Second, 30*time.Second, 50*time.Millisecond)
	if len(vs) != 2 || vs[0].Rule != "voting-timeout" || vs[1].Rule != "run-timeout" {
		t.Errorf("early timers: %v", vs)
	}
	hasty := timed("0 start", "20 quorum_vote(A,success)", "21 quorum_succeeded", "500 job_complete(complete)")
	if vs := Timers(hasty, 2, 0, 0, 0); len(vs) != 1 || vs[0].Rule != "voting-complete" {
		t.Errorf("quorum before every node decided: %v", vs)
	}
	rehabbed := timed("0 start", "1 quorum_vote(A,down)", "1 rehab(A)", "20 quorum_vote(B,success)", "21 quorum_succeeded")
	if vs := Timers(rehabbed, 2, 0, 0, 0); len(vs) != 0 {
		t.Errorf("a node sent to rehab counts as decided: %v", vs)
	}
}
