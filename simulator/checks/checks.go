package checks

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Event is one SSE event as a client received it.
type Event struct {
	Name string
	ID   string
	Data json.RawMessage
}

// Violation is one broken rule, with the protocol.md section it comes from and the evidence.
type Violation struct {
	Rule    string // short name, e.g. "sse-order"
	Section string // protocol.md section
	Message string
	Event   int // index of the offending event, -1 when none
}

func (v Violation) String() string {
	if v.Event >= 0 {
		return fmt.Sprintf("%s (%s): event %d: %s", v.Rule, v.Section, v.Event, v.Message)
	}
	return fmt.Sprintf("%s (%s): %s", v.Rule, v.Section, v.Message)
}

// SSETimeLayout is the timestamp of SSE data objects: "2006-01-02 15:04:05.000000Z".
const SSETimeLayout = "2006-01-02 15:04:05.000000Z"

// JobOutcome is a job as GET /jobs/ID finally showed it.
type JobOutcome struct {
	Status string
	Nodes  map[string][]string // status -> node names
	Quorum int                 // -1 when unknown
}

// NodeStatus returns each node's final status.
func (o JobOutcome) NodeStatus() map[string]string {
	m := map[string]string{}
	for st, ns := range o.Nodes {
		for _, n := range ns {
			m[n] = st
		}
	}
	return m
}

type eventData struct {
	Timestamp string          `json:"timestamp"`
	Node      string          `json:"node"`
	Status    string          `json:"status"`
	NodeCount *int            `json:"node_count"`
	Quorum    *float64        `json:"quorum"`
	Command   *string         `json:"command"`
	Nodes     json.RawMessage `json:"nodes"`
}

// runCompleteStatus maps a run_complete status to the node status it leaves (protocol.md §5.5).
var runCompleteStatus = map[string]string{
	"success":                  "succeeded",
	"failure":                  "failed",
	"crashed":                  "crashed",
	"run_nacked":               "failed",
	"run_nacked_while_running": "failed",
}

// JobFeed checks a complete job feed (from the start, the server having closed it after
// job_complete) against protocol.md §6 and, when outcome is not nil, against the final job.
func JobFeed(events []Event, outcome *JobOutcome) []Violation {
	var vs []Violation
	add := func(rule, section string, i int, format string, args ...any) {
		vs = append(vs, Violation{Rule: rule, Section: section, Message: fmt.Sprintf(format, args...), Event: i})
	}
	if len(events) == 0 {
		add("sse-complete", "§6", -1, "the feed has no events")
		return vs
	}
	if len(events) == 1 && events[0].Name == "summary" {
		return summaryFeed(events[0], outcome)
	}
	ids := map[string]bool{}
	var last time.Time
	votes := map[string]string{}
	runStarted := map[string]bool{}
	runDone := map[string]string{}
	lostInVoting := map[string]bool{} // ready nodes that went down or to rehab before the quorum (§5.4)
	quorumAt, completeAt := -1, -1
	var nodeCount int = -1
	for i, ev := range events {
		if ids[ev.ID] {
			add("sse-unique-ids", "§6", i, "id %q repeats", ev.ID)
		}
		ids[ev.ID] = true
		if want := "job-" + strconv.Itoa(i+1); ev.ID != want {
			add("sse-ids", "§6", i, "id %q, want %q", ev.ID, want)
		}
		var d eventData
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			add("sse-data", "§6", i, "data is not a JSON object: %v", err)
			continue
		}
		if !strings.HasPrefix(strings.TrimSpace(string(ev.Data)), `{"timestamp"`) {
			add("sse-data", "§6", i, "data does not begin with \"timestamp\"")
		}
		t, err := time.Parse(SSETimeLayout, d.Timestamp)
		if err != nil {
			add("sse-timestamps", "§2.4", i, "timestamp %q does not parse", d.Timestamp)
		} else {
			if t.Before(last) {
				add("sse-timestamps", "§6", i, "timestamp %s is before the previous %s", d.Timestamp, last.Format(SSETimeLayout))
			}
			last = t
		}
		if completeAt >= 0 {
			add("sse-order", "§6", i, "%s after job_complete", ev.Name)
		}
		switch ev.Name {
		case "start":
			if i != 0 {
				add("sse-order", "§6", i, "start is not the first event")
			}
			if d.NodeCount != nil {
				nodeCount = *d.NodeCount
			}
		case "quorum_vote":
			if quorumAt >= 0 && d.Status != "unexpected_commit" && d.Status != "client_died_while_voting" {
				add("sse-order", "§5.4", i, "quorum_vote(%s) for %s after quorum_succeeded", d.Status, d.Node)
			}
			if d.Node == "" {
				add("sse-data", "§6", i, "quorum_vote without node")
			}
			if _, ok := votes[d.Node]; ok && d.Status != "unexpected_commit" && d.Status != "client_died_while_voting" && d.Status != "lost_availibility" && d.Status != "down" {
				add("sse-votes", "§5.4", i, "second vote %s for %s", d.Status, d.Node)
			}
			if _, ok := votes[d.Node]; !ok {
				votes[d.Node] = d.Status
			}
			if quorumAt < 0 && (d.Status == "down" || d.Status == "lost_availibility") {
				lostInVoting[d.Node] = true
			}
		case "quorum_succeeded":
			if quorumAt >= 0 {
				add("sse-order", "§5.3", i, "second quorum_succeeded")
			}
			quorumAt = i
		case "run_start":
			if quorumAt < 0 {
				add("sse-order", "§5.3", i, "run_start(%s) before quorum_succeeded", d.Node)
			}
			if runStarted[d.Node] {
				add("sse-order", "§5.5", i, "second run_start for %s", d.Node)
			}
			runStarted[d.Node] = true
		case "run_complete":
			if quorumAt < 0 {
				add("sse-order", "§5.3", i, "run_complete(%s) before quorum_succeeded", d.Node)
			}
			if _, ok := runCompleteStatus[d.Status]; !ok && d.Status != "client_died_while_running" {
				add("sse-data", "§6", i, "run_complete status %q", d.Status)
			}
			if (d.Status == "success" || d.Status == "failure" || d.Status == "run_nacked_while_running") && !runStarted[d.Node] {
				add("sse-order", "§5.5", i, "run_complete(%s, %s) without run_start", d.Node, d.Status)
			}
			if _, ok := runDone[d.Node]; !ok && d.Status != "client_died_while_running" {
				runDone[d.Node] = d.Status
			}
		case "job_complete":
			completeAt = i
			if outcome != nil && d.Status != outcome.Status {
				add("sse-final", "§6", i, "job_complete(%s) but the job is %s", d.Status, outcome.Status)
			}
		case "rehab":
			if d.Node == "" {
				add("sse-data", "§6", i, "rehab without node")
			}
			if quorumAt < 0 {
				lostInVoting[d.Node] = true
			}
		default:
			add("sse-data", "§6", i, "unknown event %q", ev.Name)
		}
	}
	if events[0].Name != "start" {
		add("sse-order", "§6", 0, "the first event is %s, not start", events[0].Name)
	}
	if completeAt < 0 {
		add("sse-complete", "§6", -1, "no job_complete event")
	}
	if outcome == nil {
		return vs
	}
	final := outcome.NodeStatus()
	if nodeCount >= 0 && nodeCount != len(final) {
		add("sse-counts", "§6", 0, "start says node_count %d, the job has %d nodes", nodeCount, len(final))
	}
	for node, st := range runDone {
		want := runCompleteStatus[st]
		if final[node] != want {
			add("sse-counts", "§5.5", -1, "run_complete(%s) for %s, but the node is %s", st, node, final[node])
		}
	}
	for node, st := range final {
		switch st {
		case "succeeded", "failed":
			if _, ok := runDone[node]; !ok {
				add("sse-complete", "§6", -1, "%s is %s but has no run_complete", node, st)
			}
		case "nacked":
			if votes[node] != "failure" {
				add("sse-complete", "§5.4", -1, "%s is nacked but its vote was %q", node, votes[node])
			}
		case "unavailable":
			if v, ok := votes[node]; ok && v == "success" && quorumAt < 0 && !lostInVoting[node] {
				add("sse-complete", "§5.4", -1, "%s is unavailable but voted success", node)
			}
		}
	}
	if outcome.Status == "complete" || outcome.Status == "timed_out" {
		if quorumAt < 0 {
			add("sse-complete", "§5.3", -1, "job %s without quorum_succeeded", outcome.Status)
		}
	}
	if outcome.Status == "quorum_failed" && quorumAt >= 0 {
		add("sse-order", "§5.3", quorumAt, "quorum_succeeded in a job that failed its quorum")
	}
	return vs
}

// summaryFeed checks a feed that is a single summary event: the finished job's object.
func summaryFeed(ev Event, outcome *JobOutcome) []Violation {
	var vs []Violation
	var d struct {
		Timestamp string              `json:"timestamp"`
		Status    string              `json:"status"`
		Nodes     map[string][]string `json:"nodes"`
	}
	if err := json.Unmarshal(ev.Data, &d); err != nil {
		return []Violation{{Rule: "sse-data", Section: "§6", Message: "summary data: " + err.Error(), Event: 0}}
	}
	if ev.ID != "job-1" {
		vs = append(vs, Violation{Rule: "sse-ids", Section: "§6", Message: fmt.Sprintf("summary id %q, want job-1", ev.ID), Event: 0})
	}
	if outcome != nil {
		if d.Status != outcome.Status {
			vs = append(vs, Violation{Rule: "sse-final", Section: "§6", Message: fmt.Sprintf("summary status %s, job %s", d.Status, outcome.Status), Event: 0})
		}
		if norm(d.Nodes) != norm(outcome.Nodes) {
			vs = append(vs, Violation{Rule: "sse-final", Section: "§6", Message: fmt.Sprintf("summary nodes %v, job %v", d.Nodes, outcome.Nodes), Event: 0})
		}
	}
	return vs
}

func norm(m map[string][]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		ns := append([]string(nil), m[k]...)
		sort.Strings(ns)
		fmt.Fprintf(&b, "%s=%v;", k, ns)
	}
	return b.String()
}

// Outcome checks that a finished job's status agrees with its nodes' statuses (protocol.md §5.3).
func Outcome(o JobOutcome) []Violation {
	var vs []Violation
	add := func(format string, args ...any) {
		vs = append(vs, Violation{Rule: "job-status", Section: "§5.3", Message: fmt.Sprintf(format, args...), Event: -1})
	}
	count := func(statuses ...string) int {
		n := 0
		for _, s := range statuses {
			n += len(o.Nodes[s])
		}
		return n
	}
	for st := range o.Nodes {
		switch st {
		case "new", "ready", "running", "succeeded", "failed", "nacked", "unavailable", "crashed", "was_ready", "timed_out", "aborted":
		default:
			add("unknown node status %q", st)
		}
	}
	switch o.Status {
	case "complete":
		if n := count("new", "ready", "running"); n > 0 {
			add("job complete with %d node(s) still new/ready/running", n)
		}
		if count("was_ready") > 0 {
			add("job complete with was_ready nodes")
		}
	case "quorum_failed":
		if n := count("running", "succeeded", "failed", "timed_out", "ready"); n > 0 {
			add("quorum_failed with %d node(s) that ran or are ready", n)
		}
		if o.Quorum >= 0 && count("was_ready") >= o.Quorum && o.Quorum > 0 {
			add("quorum_failed although %d node(s) were ready for quorum %d", count("was_ready"), o.Quorum)
		}
	case "timed_out":
		if count("timed_out") == 0 {
			add("timed_out without a timed_out node")
		}
		if n := count("new", "ready", "running"); n > 0 {
			add("timed_out with %d node(s) still new/ready/running", n)
		}
	case "crashed", "voting", "running", "new":
	default:
		add("unknown job status %q", o.Status)
	}
	return vs
}

// OrgFeed checks an org feed: only start and job_complete events, ids org-N increasing,
// non-decreasing timestamps, each job's start before its job_complete, and a start_of_history
// only first.
func OrgFeed(events []Event) []Violation {
	var vs []Violation
	add := func(i int, format string, args ...any) {
		vs = append(vs, Violation{Rule: "org-feed", Section: "§6", Message: fmt.Sprintf(format, args...), Event: i})
	}
	started := map[string]bool{}
	completed := map[string]bool{}
	lastN := 0
	var last time.Time
	for i, ev := range events {
		var d struct {
			Timestamp string `json:"timestamp"`
			Job       string `json:"job"`
		}
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			add(i, "data: %v", err)
			continue
		}
		if t, err := time.Parse(SSETimeLayout, d.Timestamp); err == nil {
			if t.Before(last) && ev.Name != "start_of_history" {
				add(i, "timestamp goes back")
			}
			last = t
		} else {
			add(i, "timestamp %q does not parse", d.Timestamp)
		}
		switch ev.Name {
		case "start_of_history":
			if i != 0 {
				add(i, "start_of_history is not first")
			}
			continue
		case "start":
			if started[d.Job] {
				add(i, "second start for %s", d.Job)
			}
			started[d.Job] = true
		case "job_complete":
			if completed[d.Job] {
				add(i, "second job_complete for %s", d.Job)
			}
			completed[d.Job] = true
		default:
			add(i, "event %q on the org feed", ev.Name)
		}
		n, err := strconv.Atoi(strings.TrimPrefix(ev.ID, "org-"))
		if err != nil || !strings.HasPrefix(ev.ID, "org-") {
			add(i, "id %q is not org-N", ev.ID)
		} else if n <= lastN {
			add(i, "id %q does not increase", ev.ID)
		} else {
			lastN = n
		}
	}
	return vs
}

// Resumed checks Last-Event-ID resumption: the resumed stream must be exactly the part of the
// full stream after the event with id lastID.
func Resumed(full, resumed []Event, lastID string) []Violation {
	at := -1
	for i, ev := range full {
		if ev.ID == lastID {
			at = i
		}
	}
	if at < 0 {
		return []Violation{{Rule: "sse-resume", Section: "§6", Message: fmt.Sprintf("id %q is not in the full stream", lastID), Event: -1}}
	}
	want := full[at+1:]
	if len(want) != len(resumed) {
		return []Violation{{Rule: "sse-resume", Section: "§6", Message: fmt.Sprintf("resumed after %s: %d events, want %d", lastID, len(resumed), len(want)), Event: -1}}
	}
	for i := range want {
		if want[i].ID != resumed[i].ID || want[i].Name != resumed[i].Name || string(want[i].Data) != string(resumed[i].Data) {
			return []Violation{{Rule: "sse-resume", Section: "§6", Message: fmt.Sprintf("resumed event %d is %s %s, want %s %s", i, resumed[i].ID, resumed[i].Name, want[i].ID, want[i].Name), Event: i}}
		}
	}
	return nil
}
