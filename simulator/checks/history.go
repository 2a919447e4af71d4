package checks

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"
)

// jobMoves and nodeMoves are the transitions of the job and per-node state machines
// (protocol.md §5.1–5.5); crashed also comes from a server restart. Final statuses never move.
var (
	jobMoves = map[string][]string{
		"new":     {"voting", "crashed"},
		"voting":  {"running", "quorum_failed", "crashed", "complete"},
		"running": {"complete", "timed_out", "crashed"},
	}
	nodeMoves = map[string][]string{
		"new":     {"ready", "nacked", "unavailable", "crashed"},
		"ready":   {"running", "unavailable", "was_ready", "failed", "crashed", "timed_out"},
		"running": {"succeeded", "failed", "crashed", "timed_out"},
	}
)

// reachable reports whether to follows from in the table through any number of moves: a
// client polling a job sees only some of the states it passes through.
func reachable(table map[string][]string, from, to string) bool {
	if from == to {
		return true
	}
	for _, x := range table[from] {
		if x == to || reachable(table, x, to) {
			return true
		}
	}
	return false
}

// JobMove reports whether a job seen in status from may later be seen in status to.
func JobMove(from, to string) bool { return reachable(jobMoves, from, to) }

// NodeMove reports whether a node seen in status from in a job may later be seen in status to.
func NodeMove(from, to string) bool { return reachable(nodeMoves, from, to) }

// Poll is a job as one GET /jobs/ID showed it.
type Poll struct {
	Status string
	Nodes  map[string]string // node -> status
}

// Polls checks successive polls of one job against the state machines: every change of the
// job's or a node's status is a legal move, and no node leaves the job. Event is the index of
// the offending poll.
func Polls(polls []Poll) []Violation {
	var vs []Violation
	for i := 1; i < len(polls); i++ {
		prev, cur := polls[i-1], polls[i]
		if !JobMove(prev.Status, cur.Status) {
			vs = append(vs, Violation{Rule: "job-transition", Section: "§5.1", Event: i,
				Message: fmt.Sprintf("job status went from %s to %s", prev.Status, cur.Status)})
		}
		for _, n := range sortedNodes(cur.Nodes) {
			from, ok := prev.Nodes[n]
			if !ok {
				from = "new"
			}
			if to := cur.Nodes[n]; !NodeMove(from, to) {
				vs = append(vs, Violation{Rule: "node-transition", Section: "§5.4–5.5", Event: i,
					Message: fmt.Sprintf("%s went from %s to %s", n, from, to)})
			}
		}
		for _, n := range sortedNodes(prev.Nodes) {
			if _, ok := cur.Nodes[n]; !ok {
				vs = append(vs, Violation{Rule: "node-transition", Section: "§2.6", Event: i,
					Message: fmt.Sprintf("%s (%s) vanished from the job", n, prev.Nodes[n])})
			}
		}
	}
	return vs
}

func sortedNodes(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Timers checks a complete job feed against the server's timers, as the events' own
// timestamps show them: the voting ends only when no node is still new (every node has voted
// or been sent to rehab before quorum_succeeded, §5.3); no quorum_vote(voting_timeout) comes
// before the voting timeout after start; no job_complete(timed_out) before the run timeout
// after quorum_succeeded. A zero timeout skips its rule; tolerance absorbs timestamp rounding.
func Timers(events []Event, nodes int, votingTimeout, runTimeout, tolerance time.Duration) []Violation {
	var vs []Violation
	var start, quorumAt time.Time
	decided := map[string]bool{}
	for i, ev := range events {
		var d struct {
			Timestamp string `json:"timestamp"`
			Node      string `json:"node"`
			Status    string `json:"status"`
		}
		if json.Unmarshal(ev.Data, &d) != nil {
			continue
		}
		ts, err := time.Parse(SSETimeLayout, d.Timestamp)
		if err != nil {
			continue
		}
		switch ev.Name {
		case "start":
			start = ts
		case "quorum_vote", "rehab":
			if quorumAt.IsZero() {
				decided[d.Node] = true
			}
			if ev.Name == "quorum_vote" && d.Status == "voting_timeout" && votingTimeout > 0 && !start.IsZero() {
				if el := ts.Sub(start); el < votingTimeout-tolerance {
					vs = append(vs, Violation{Rule: "voting-timeout", Section: "§5.4", Event: i,
						Message: fmt.Sprintf("quorum_vote(voting_timeout) for %s %s after start; the voting timeout is %s", d.Node, el.Round(time.Millisecond), votingTimeout)})
				}
			}
		case "quorum_succeeded":
			quorumAt = ts
			if len(decided) < nodes {
				vs = append(vs, Violation{Rule: "voting-complete", Section: "§5.3", Event: i,
					Message: fmt.Sprintf("quorum_succeeded with %d of %d nodes decided: the voting ends only when no node is new", len(decided), nodes)})
			}
		case "job_complete":
			if d.Status == "timed_out" && runTimeout > 0 && !quorumAt.IsZero() {
				if el := ts.Sub(quorumAt); el < runTimeout-tolerance {
					vs = append(vs, Violation{Rule: "run-timeout", Section: "§5.3", Event: i,
						Message: fmt.Sprintf("job_complete(timed_out) %s after quorum_succeeded; the run timeout is %s", el.Round(time.Millisecond), runTimeout)})
				}
			}
		}
	}
	return vs
}
