package engine

import (
	"fmt"
	"testing"
)

// stimulus applies one node event to node A of job id.
func (h *harness) stimulus(ev, id string) {
	if ev == "down" {
		// A heartbeat from a new incarnation stops the node FSM: the jobs watching it see it go down.
		h.e.NodeMessage(NodeMsg{Org: org, Node: "A", Type: MsgHeartbeat, IncarnationID: "restarted"})
		h.e.Sync()
		return
	}
	h.msg("A", ev, id)
}

type row struct {
	from, event string
	status      string   // A's status afterwards
	events      []string // SSE events, in order
	sent        []string // messages to A
}

func rehabA(ev ...string) []string { return ev }

// TestVotingTable has one row per cell of protocol.md §5.4. Node B stays "new" so voting stays open.
func TestVotingTable(t *testing.T) {
	abort := []string{"A abort"}
	others := []string{MsgAckRun, MsgNackRun, MsgSucceeded, MsgFailed, MsgAborted}
	rows := []row{
		{"new", MsgAckCommit, "ready", []string{"quorum_vote(A,success)"}, nil},
		{"new", MsgNackCommit, "nacked", []string{"quorum_vote(A,failure)"}, nil},
		{"new", "down", "unavailable", []string{"quorum_vote(A,down)", "rehab(A)"}, nil},
		{"ready", MsgAckCommit, "ready", []string{"quorum_vote(A,unexpected_commit)"}, nil},
		{"ready", MsgNackCommit, "unavailable", []string{"rehab(A)", "quorum_vote(A,lost_availibility)"}, abort},
		{"ready", "down", "unavailable", []string{"quorum_vote(A,down)", "rehab(A)"}, nil},
		{"terminal", MsgAckCommit, "nacked", []string{"rehab(A)", "quorum_vote(A,client_died_while_voting)"}, abort},
		{"terminal", MsgNackCommit, "nacked", []string{"rehab(A)", "quorum_vote(A,client_died_while_voting)"}, abort},
		{"terminal", "down", "nacked", []string{"quorum_vote(A,down)", "rehab(A)"}, nil},
	}
	for _, o := range others {
		rows = append(rows,
			row{"new", o, "unavailable", rehabA("rehab(A)"), abort},
			row{"ready", o, "unavailable", rehabA("rehab(A)"), abort},
			row{"terminal", o, "nacked", rehabA("rehab(A)"), abort},
		)
	}
	for _, r := range rows {
		t.Run(fmt.Sprintf("%s/%s", r.from, r.event), func(t *testing.T) {
			h := newHarness(t, Config{})
			h.online("A", "B")
			id := h.start(1, "A", "B")
			switch r.from {
			case "ready":
				h.msg("A", MsgAckCommit, id)
			case "terminal":
				h.msg("A", MsgNackCommit, id)
			}
			h.rec.take()
			h.stimulus(r.event, id)
			sent, events := h.rec.take()
			j := h.job(id)
			if got := j.Nodes["A"]; got != r.status {
				t.Errorf("A status %q, want %q", got, r.status)
			}
			if j.Nodes["B"] != NodeNew || j.Status != JobVoting {
				t.Errorf("job %s, B %s: want voting, new", j.Status, j.Nodes["B"])
			}
			eq(t, "events", events, r.events)
			eq(t, "sent", sent, r.sent)
			if got := h.rec.nodeSt[id+"/A"]; r.status != "new" && got != r.status {
				t.Errorf("stored A status %q, want %q", got, r.status)
			}
		})
	}
}

// TestRunningTable has one row per cell of protocol.md §5.5. Node B is running, so the job stays
// running.
func TestRunningTable(t *testing.T) {
	abort := []string{"A abort"}
	crashed := []string{"rehab(A)", "run_complete(A,crashed)"}
	died := []string{"rehab(A)", "run_complete(A,client_died_while_running)"}
	rows := []row{
		{"ready", MsgAckRun, "running", []string{"run_start(A)"}, nil},
		{"ready", MsgNackRun, "failed", []string{"rehab(A)", "run_complete(A,run_nacked)"}, abort},
		{"ready", MsgSucceeded, "crashed", crashed, abort},
		{"ready", MsgFailed, "crashed", crashed, abort},
		{"ready", "down", "crashed", crashed, nil},
		{"running", MsgAckRun, "running", nil, nil},
		{"running", MsgNackRun, "failed", []string{"rehab(A)", "run_complete(A,run_nacked_while_running)"}, abort},
		{"running", MsgSucceeded, "succeeded", []string{"run_complete(A,success)"}, nil},
		{"running", MsgFailed, "failed", []string{"run_complete(A,failure)"}, nil},
		{"running", "down", "crashed", crashed, nil},
		{"terminal", MsgAckRun, "succeeded", []string{"run_complete(A,client_died_while_running)", "rehab(A)"}, abort},
		{"terminal", MsgNackRun, "succeeded", died, abort},
		{"terminal", MsgSucceeded, "succeeded", died, abort},
		{"terminal", MsgFailed, "succeeded", died, abort},
		{"terminal", "down", "succeeded", died, nil},
	}
	for _, o := range []string{MsgAckCommit, MsgNackCommit, MsgAborted} {
		rows = append(rows,
			row{"ready", o, "crashed", crashed, abort},
			row{"running", o, "crashed", crashed, abort},
			row{"terminal", o, "succeeded", died, abort},
		)
	}
	for _, r := range rows {
		t.Run(fmt.Sprintf("%s/%s", r.from, r.event), func(t *testing.T) {
			h := newHarness(t, Config{})
			h.online("A", "B")
			id := h.start(2, "A", "B")
			h.msg("A", MsgAckCommit, id)
			h.msg("B", MsgAckCommit, id)
			h.msg("B", MsgAckRun, id)
			switch r.from {
			case "running":
				h.msg("A", MsgAckRun, id)
			case "terminal":
				h.msg("A", MsgAckRun, id)
				h.msg("A", MsgSucceeded, id)
			}
			h.rec.take()
			h.stimulus(r.event, id)
			sent, events := h.rec.take()
			j := h.job(id)
			if got := j.Nodes["A"]; got != r.status {
				t.Errorf("A status %q, want %q", got, r.status)
			}
			if j.Nodes["B"] != NodeRunning || j.Status != JobRunning {
				t.Errorf("job %s, B %s: want running, running", j.Status, j.Nodes["B"])
			}
			eq(t, "events", events, r.events)
			eq(t, "sent", sent, r.sent)
			if got := h.rec.nodeSt[id+"/A"]; got != r.status {
				t.Errorf("stored A status %q, want %q", got, r.status)
			}
		})
	}
}
