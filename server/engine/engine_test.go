package engine

import (
	"slices"
	"testing"
	"time"
)

// The canonical sequences of protocol.md §6, end to end through the engine.
func TestCanonicalSequences(t *testing.T) {
	t.Run("success", func(t *testing.T) {
		h := newHarness(t, Config{})
		h.online("A", "B")
		id := h.start(2, "A", "B")
		sent, events := h.rec.take()
		eq(t, "commits", sent, []string{"A commit " + id, "B commit " + id})
		h.msg("A", MsgAckCommit, id)
		h.msg("B", MsgAckCommit, id)
		sent, more := h.rec.take()
		events = append(events, more...)
		eq(t, "runs", sent, []string{"A run " + id, "B run " + id})
		h.msg("A", MsgAckRun, id)
		h.msg("B", MsgAckRun, id)
		h.msg("B", MsgSucceeded, id)
		h.msg("A", MsgSucceeded, id)
		eq(t, "events", append(events, h.rec.events...), []string{"start", "quorum_vote(A,success)", "quorum_vote(B,success)",
			"quorum_succeeded", "run_start(A)", "run_start(B)", "run_complete(B,success)",
			"run_complete(A,success)", "job_complete(complete)"})
		if h.rec.jobSt[id] != JobComplete || h.job(id).Status != JobComplete {
			t.Errorf("job status stored %q", h.rec.jobSt[id])
		}
	})
	t.Run("nack", func(t *testing.T) {
		h := newHarness(t, Config{})
		h.online("A")
		id := h.start(1, "A")
		h.msg("A", MsgNackCommit, id)
		eq(t, "events", h.rec.events, []string{"start", "quorum_vote(A,failure)", "job_complete(quorum_failed)"})
		if h.rec.nodeSt[id+"/A"] != NodeNacked {
			t.Errorf("A stored %q", h.rec.nodeSt[id+"/A"])
		}
	})
	t.Run("nonexistent node", func(t *testing.T) {
		h := newHarness(t, Config{})
		id := h.start(1, "DONKEY")
		eq(t, "events", h.rec.events, []string{"start", "quorum_vote(DONKEY,down)", "rehab(DONKEY)", "job_complete(quorum_failed)"})
		eq(t, "sent", h.rec.sent, nil)
		j := h.job(id)
		if j.Status != JobQuorumFailed || j.Nodes["DONKEY"] != NodeUnavailable {
			t.Errorf("job %+v", j)
		}
	})
	t.Run("run ignored", func(t *testing.T) {
		h := newHarness(t, Config{})
		h.online("A")
		id := h.start(1, "A")
		h.msg("A", MsgAckCommit, id)
		h.rec.take()
		h.advance(3599 * time.Second)
		if h.job(id).Status != JobRunning {
			t.Fatal("timed out early")
		}
		h.advance(time.Second)
		sent, events := h.rec.take()
		eq(t, "events", events, []string{"job_complete(timed_out)"})
		eq(t, "sent", sent, []string{"A abort"})
		if h.job(id).Nodes["A"] != NodeTimedOut || h.rec.jobSt[id] != JobTimedOut {
			t.Errorf("A %s job %s", h.job(id).Nodes["A"], h.rec.jobSt[id])
		}
	})
}

func TestVotingTimeout(t *testing.T) {
	h := newHarness(t, Config{VotingTimeout: 60 * time.Second})
	h.online("A", "B", "C")
	id := h.start(1, "A", "B", "C")
	h.msg("B", MsgAckCommit, id)
	h.rec.take()
	h.advance(59 * time.Second)
	if _, ev := h.rec.take(); len(ev) != 0 {
		t.Fatalf("events before the timeout: %v", ev)
	}
	h.advance(time.Second)
	sent, events := h.rec.take()
	// Voting waits for every node even with quorum met; late nodes are aborted without rehab events.
	eq(t, "events", events, []string{"quorum_vote(A,voting_timeout)", "quorum_vote(C,voting_timeout)", "quorum_succeeded"})
	eq(t, "sent", sent, []string{"A abort", "C abort", "B run " + id})
	j := h.job(id)
	if j.Nodes["A"] != NodeUnavailable || j.Nodes["C"] != NodeUnavailable || j.Status != JobRunning {
		t.Errorf("job %+v", j)
	}
}

func TestQuorum(t *testing.T) {
	t.Run("zero with no ready node runs nothing and completes", func(t *testing.T) {
		h := newHarness(t, Config{})
		h.online("A")
		id := h.start(0, "A")
		h.msg("A", MsgNackCommit, id)
		eq(t, "events", h.rec.events, []string{"start", "quorum_vote(A,failure)", "quorum_succeeded", "job_complete(complete)"})
	})
	t.Run("above node count always fails, ready nodes become was_ready", func(t *testing.T) {
		h := newHarness(t, Config{})
		h.online("A")
		id := h.start(999, "A")
		h.rec.take()
		h.msg("A", MsgAckCommit, id)
		sent, events := h.rec.take()
		eq(t, "events", events, []string{"quorum_vote(A,success)", "job_complete(quorum_failed)"})
		eq(t, "sent", sent, []string{"A abort"})
		if h.job(id).Nodes["A"] != NodeWasReady {
			t.Errorf("A %s", h.job(id).Nodes["A"])
		}
	})
	t.Run("exactly met", func(t *testing.T) {
		h := newHarness(t, Config{})
		h.online("A", "B", "C")
		id := h.start(2, "A", "B", "C")
		h.msg("A", MsgAckCommit, id)
		h.msg("B", MsgNackCommit, id)
		h.msg("C", MsgAckCommit, id)
		if h.job(id).Status != JobRunning {
			t.Errorf("status %s", h.job(id).Status)
		}
	})
}

func TestNodeUnavailableAtStart(t *testing.T) {
	h := newHarness(t, Config{})
	h.online("A")
	h.msg("R", MsgHeartbeat, "") // R has an FSM but is still in rehab (never answered abort)
	h.rec.take()
	id := h.start(1, "A", "R", "X")
	sent, events := h.rec.take()
	// Commits go to every node with an FSM (even in rehab); down events follow, in name order.
	eq(t, "sent", sent, []string{"A commit " + id, "R commit " + id})
	eq(t, "events", events, []string{"start", "quorum_vote(R,down)", "rehab(R)", "quorum_vote(X,down)", "rehab(X)"})
	j := h.job(id)
	if j.Nodes["R"] != NodeUnavailable || j.Nodes["X"] != NodeUnavailable || j.Nodes["A"] != NodeNew {
		t.Errorf("nodes %v", j.Nodes)
	}
	// X connecting later is a new FSM the job never watched: its death is not reported.
	h.msg("X", MsgHeartbeat, "")
	h.e.NodeMessage(NodeMsg{Org: org, Node: "X", Type: MsgHeartbeat, IncarnationID: "other"})
	h.e.Sync()
	if _, ev := h.rec.take(); len(ev) != 0 {
		t.Errorf("unwatched node produced %v", ev)
	}
}

func TestRehabCadence(t *testing.T) {
	h := newHarness(t, Config{RehabInterval: time.Second})
	h.msg("A", MsgHeartbeat, "")
	sent, _ := h.rec.take()
	eq(t, "first message", sent, []string{"A abort"})
	for i := 0; i < 3; i++ {
		h.advance(999 * time.Millisecond)
		if s, _ := h.rec.take(); len(s) != 0 {
			t.Fatalf("re-sent early: %v", s)
		}
		h.advance(time.Millisecond)
		s, _ := h.rec.take()
		eq(t, "re-send", s, []string{"A abort"})
	}
	h.msg("A", MsgAborted, "")
	h.advance(5 * time.Second)
	if s, _ := h.rec.take(); len(s) != 0 {
		t.Errorf("sent after aborted: %v", s)
	}
	if on, av := h.e.NodeState(org, "A"); !on || !av {
		t.Errorf("A online %v available %v", on, av)
	}
}

func TestSequenceNumbersPerFSM(t *testing.T) {
	h := newHarness(t, Config{})
	var seqs []int
	rec := &seqSender{out: &seqs}
	h.e.send = rec
	h.msg("A", MsgHeartbeat, "")
	h.advance(time.Second)
	h.e.NodeMessage(NodeMsg{Org: org, Node: "A", Type: MsgHeartbeat, IncarnationID: "new"})
	h.e.Sync()
	h.msg("A", MsgHeartbeat, "")
	if !slices.Equal(seqs, []int{1, 2, 1}) {
		t.Errorf("sequences %v", seqs)
	}
}

type seqSender struct{ out *[]int }

func (s *seqSender) Send(org, node string, m Outbound) { *s.out = append(*s.out, m.Sequence) }

func TestHeartbeatRouting(t *testing.T) {
	h := newHarness(t, Config{})
	h.online("A")
	t.Run("unknown job id rehabs", func(t *testing.T) {
		h.msg("A", MsgHeartbeat, "nosuchjob")
		sent, _ := h.rec.take()
		eq(t, "sent", sent, []string{"A abort"})
		if _, av := h.e.NodeState(org, "A"); av {
			t.Error("still available")
		}
		h.msg("A", MsgAborted, "")
	})
	t.Run("live job id does not", func(t *testing.T) {
		id := h.start(1, "A")
		h.rec.take()
		h.msg("A", MsgHeartbeat, id)
		if s, _ := h.rec.take(); len(s) != 0 {
			t.Errorf("sent %v", s)
		}
	})
	t.Run("new identity gets ack", func(t *testing.T) {
		h.e.NodeMessage(NodeMsg{Org: org, Node: "A", Type: MsgHeartbeat, IncarnationID: "inc-A", NewIdentity: true})
		h.e.Sync()
		sent, _ := h.rec.take()
		eq(t, "sent", sent, []string{"A ack"})
	})
	t.Run("job message without job rehabs", func(t *testing.T) {
		h.msg("A", MsgSucceeded, "")
		sent, _ := h.rec.take()
		eq(t, "sent", sent, []string{"A abort"})
	})
	t.Run("aborted never rehabs", func(t *testing.T) {
		h.msg("A", MsgAborted, "gone-job")
		h.msg("A", MsgAborted, "gone-job")
		if s, _ := h.rec.take(); len(s) != 0 {
			t.Errorf("sent %v", s)
		}
	})
	t.Run("unknown type ignored", func(t *testing.T) {
		h.msg("A", "bogus", "")
		if s, _ := h.rec.take(); len(s) != 0 {
			t.Errorf("sent %v", s)
		}
	})
}

func TestIncarnationChangeStopsFSM(t *testing.T) {
	h := newHarness(t, Config{})
	h.online("A")
	h.e.NodeMessage(NodeMsg{Org: org, Node: "A", Type: MsgHeartbeat, IncarnationID: "second"})
	h.e.Sync()
	if on, _ := h.e.NodeState(org, "A"); on {
		t.Fatal("FSM survived an incarnation change")
	}
	if n, _ := h.e.Status(); n != 0 {
		t.Fatalf("node FSMs %d", n)
	}
	h.e.NodeMessage(NodeMsg{Org: org, Node: "A", Type: MsgHeartbeat, IncarnationID: "second"})
	h.e.Sync()
	sent, _ := h.rec.take()
	eq(t, "new FSM aborts", sent, []string{"A abort"})
}

// Liveness per §4.6 with heartbeat 1 s, decay window 4, threshold 0.6, scan every 4 s. The
// average starts at 1.2; a bucket holding the first beat gives 1.15, then each silent bucket
// multiplies by 0.75: 0.8625, 0.647, 0.485 (< 0.6).
func TestLiveness(t *testing.T) {
	sec := Config{HeartbeatInterval: time.Second}
	t.Run("steady heartbeats keep the node", func(t *testing.T) {
		h := newHarness(t, sec)
		h.online("A")
		for i := 0; i < 30; i++ {
			h.advance(time.Second)
			h.msg("A", MsgHeartbeat, "")
		}
		if on, _ := h.e.NodeState(org, "A"); !on {
			t.Fatal("steady node declared down")
		}
	})
	t.Run("silent node found by the scanner", func(t *testing.T) {
		h := newHarness(t, sec)
		h.online("A")
		// At the 4 s scan: three silent buckets after the first -> 0.485 < 0.6: down.
		h.advance(3999 * time.Millisecond)
		if on, _ := h.e.NodeState(org, "A"); !on {
			t.Fatal("down before the scan")
		}
		h.advance(time.Millisecond)
		if on, _ := h.e.NodeState(org, "A"); on {
			t.Fatal("silent node still online after the scan")
		}
	})
	t.Run("threshold evaluated on heartbeat", func(t *testing.T) {
		h := newHarness(t, Config{HeartbeatInterval: time.Second, DetectOfflineNodesInterval: 1000})
		h.online("A")
		h.advance(3 * time.Second) // buckets: 1.15, 0.8625, 0.647 -> alive
		h.msg("A", MsgHeartbeat, "")
		if on, _ := h.e.NodeState(org, "A"); !on {
			t.Fatal("down at 0.647")
		}
		h.advance(2 * time.Second) // (0.647*0.75+1*0.25)=0.735, then *0.75 = 0.551 -> down
		h.msg("A", MsgHeartbeat, "")
		if n, _ := h.e.Status(); n != 0 {
			// the heartbeat that found it dead stopped the FSM; nothing recreated it
			t.Fatalf("FSMs %d", n)
		}
	})
	t.Run("a node that never heartbeats is never declared down", func(t *testing.T) {
		h := newHarness(t, sec)
		h.msg("A", MsgAborted, "")
		h.advance(time.Minute)
		if on, _ := h.e.NodeState(org, "A"); !on {
			t.Fatal("down without stats")
		}
	})
	t.Run("dead node crashes its running job", func(t *testing.T) {
		h := newHarness(t, sec)
		h.online("A")
		id := h.start(1, "A")
		h.msg("A", MsgAckCommit, id)
		h.msg("A", MsgAckRun, id)
		h.rec.take()
		h.advance(4 * time.Second)
		_, events := h.rec.take()
		eq(t, "events", events, []string{"rehab(A)", "run_complete(A,crashed)", "job_complete(complete)"})
	})
}

func TestStaleListAvailability(t *testing.T) {
	h := newHarness(t, Config{})
	h.msg("B", MsgHeartbeat, "")
	h.online("A")
	h.msg("A", MsgHeartbeat, "nosuchjob") // back to rehab
	if _, av := h.e.NodeState(org, "A"); av {
		t.Fatal("named state still available")
	}
	got := h.e.NodeStates(org)
	want := []NodeAvailability{{"A", true}, {"B", false}}
	if !slices.Equal(got, want) {
		t.Errorf("list %v, want %v", got, want)
	}
	if on, av := h.e.NodeState(org, "nobody"); on || av {
		t.Error("unknown node online")
	}
	if len(h.e.NodeStates("other")) != 0 {
		t.Error("other org lists nodes")
	}
}

func TestJobLifetimeAndDurability(t *testing.T) {
	h := newHarness(t, Config{WaitCompleteTime: 5 * time.Second})
	h.online("A")
	id := h.start(1, "A")
	if _, ids := h.e.Status(); !slices.Equal(ids, []string{id}) {
		t.Fatalf("jobs %v", ids)
	}
	h.msg("A", MsgAckCommit, id)
	h.msg("A", MsgAckRun, id)
	out, errs := "hello\n", ""
	h.e.NodeMessage(NodeMsg{Org: org, Node: "A", Type: MsgSucceeded, JobID: id, IncarnationID: "inc-A", Stdout: &out, Stderr: &errs})
	h.e.Sync()
	if h.rec.outputs[id+"/A"] != "hello\n|" {
		t.Errorf("output %q", h.rec.outputs[id+"/A"])
	}
	// The final status is written before job_complete is delivered.
	iStatus := slices.Index(h.rec.log, "job_status complete")
	iEvent := slices.Index(h.rec.log, "event job_complete(complete)")
	if iStatus < 0 || iEvent < iStatus {
		t.Errorf("log %v", h.rec.log)
	}
	// Late messages while waiting around are ignored (no rehab).
	h.rec.take()
	h.msg("A", MsgSucceeded, id)
	if s, _ := h.rec.take(); len(s) != 0 {
		t.Errorf("sent %v", s)
	}
	h.advance(4 * time.Second)
	if _, ok := h.e.Job(id); !ok {
		t.Fatal("job gone before wait_complete")
	}
	h.advance(time.Second)
	if _, ok := h.e.Job(id); ok {
		t.Fatal("job still live after wait_complete")
	}
	if !slices.Equal(h.rec.gone, []string{id}) {
		t.Errorf("gone %v", h.rec.gone)
	}
	// Now a message for the job rehabs the node.
	h.msg("A", MsgSucceeded, id)
	sent, _ := h.rec.take()
	eq(t, "sent", sent, []string{"A abort"})
	// Event ids and timestamps.
	for i, ev := range h.rec.evs {
		if ev.Seq != i+1 {
			t.Errorf("event %d seq %d", i, ev.Seq)
		}
		if i > 0 && !ev.Time.After(h.rec.evs[i-1].Time) {
			t.Errorf("timestamps not increasing at %d", i)
		}
	}
}

func TestStrangerCrashesJob(t *testing.T) {
	h := newHarness(t, Config{})
	h.online("A", "Z")
	id := h.start(1, "A")
	h.rec.take()
	h.msg("Z", MsgAckCommit, id)
	_, events := h.rec.take()
	if len(events) != 0 {
		t.Errorf("events %v", events)
	}
	if _, ok := h.e.Job(id); ok || h.rec.jobSt[id] != JobCrashed || !slices.Equal(h.rec.gone, []string{id}) {
		t.Errorf("live %v stored %q gone %v", ok, h.rec.jobSt[id], h.rec.gone)
	}
}

func TestStartJobErrors(t *testing.T) {
	h := newHarness(t, Config{})
	id := h.start(1, "A")
	j := h.job(id)
	if err := h.e.StartJob(j); err == nil {
		t.Error("duplicate job accepted")
	}
	j.ID, j.Nodes = "empty", nil
	if err := h.e.StartJob(j); err == nil {
		t.Error("job without nodes accepted")
	}
	h.e.Close()
	j.ID, j.Nodes = "late", map[string]string{"A": "new"}
	if err := h.e.StartJob(j); err != ErrClosed {
		t.Errorf("after close: %v", err)
	}
}
