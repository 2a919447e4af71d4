package specs

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pushlab/pushlab/conformance/framework"
	"github.com/pushlab/pushlab/internal/wire"
)

// startOn starts a job on the peers as the target's user and opens its feed at once.
func startOn(command string, quorum, runTimeout int, ps ...*framework.Peer) (string, *framework.FeedLog) {
	GinkgoHelper()
	id := s().StartJob(job(command, names(ps...), "quorum", quorum, "run_timeout", runTimeout))
	return id, s().JobFeed(id, "")
}

// step is one thing a node does in a table row: send a message type about the job, or go
// "down" (restart with a new incarnation).
func play(p *framework.Peer, id string, steps ...string) {
	for _, st := range steps {
		if st == "down" {
			p.Down()
			continue
		}
		p.Send(st, id)
	}
}

// votingRow is one row of protocol.md §5.4 played by node A.
type votingRow struct {
	steps  []string
	status string   // A's status before B votes
	events []string // A's events after start
}

// runningRow is one row of protocol.md §5.5 played by node A.
type runningRow struct {
	ackRun bool     // A acks the run first (running) before the row's message
	msg    string   // A's message, or "down"
	status string   // A's status after it
	events []string // A's events after its run_start (if any)
}

var _ = Describe("Job state machines", L("liveness"), func() {
	// MUST: During voting each message of a node moves it as protocol.md §5.4 says — from new,
	// ready or a terminal status, on ack_commit, nack_commit, going down or any other message —
	// with exactly the quorum_vote and rehab events of the table, in its order; once every node
	// has voted a job short of its quorum is quorum_failed and its ready nodes become was_ready.
	// Section: §5.4, §6
	// Supersedes: sse_spec.rb voting cases; pushy_job_state eunit transitions (not in the Ruby suite)
	DescribeTable("the voting table", func(r votingRow) {
		ps := s().Peers("vote", 2)
		a, b := ps[0], ps[1]
		id, feed := startOn("chef-client", 2, 60, a, b)
		a.Expect(wire.TypeCommit)
		b.Expect(wire.TypeCommit)
		play(a, id, r.steps...)
		feed.Read(1 + len(r.events)) // B votes once A's row has played out
		s().WaitNode(id, a.Node, r.status)
		b.Send(wire.TypeNackCommit, id)
		want := append(append([]string{"start"}, r.events...), "quorum_vote B failure", "job_complete quorum_failed")
		expectLines(feed.Drain(), aliases(a, b), want...)
		final := r.status
		if final == "ready" {
			final = "was_ready"
		}
		j := s().WaitJob(id, "quorum_failed")
		Expect(j.NodeStatus()).To(Equal(map[string]string{a.Node: final, b.Node: "nacked"}))
		checkFeed(feed.Events, j, 2)
	},
		Entry("new, ack_commit", votingRow{[]string{"ack_commit"}, "ready", []string{"quorum_vote A success"}}),
		Entry("new, nack_commit", votingRow{[]string{"nack_commit"}, "nacked", []string{"quorum_vote A failure"}}),
		Entry("new, down", votingRow{[]string{"down"}, "unavailable", []string{"quorum_vote A down", "rehab A"}}),
		Entry("new, another message", votingRow{[]string{"ack_run"}, "unavailable", []string{"rehab A"}}),
		Entry("ready, ack_commit", votingRow{[]string{"ack_commit", "ack_commit"}, "ready", []string{"quorum_vote A success", "quorum_vote A unexpected_commit"}}),
		Entry("ready, nack_commit", votingRow{[]string{"ack_commit", "nack_commit"}, "unavailable", []string{"quorum_vote A success", "rehab A", "quorum_vote A lost_availibility"}}),
		Entry("ready, down", votingRow{[]string{"ack_commit", "down"}, "unavailable", []string{"quorum_vote A success", "quorum_vote A down", "rehab A"}}),
		Entry("ready, another message", votingRow{[]string{"ack_commit", "succeeded"}, "unavailable", []string{"quorum_vote A success", "rehab A"}}),
		Entry("terminal, ack_commit", votingRow{[]string{"nack_commit", "ack_commit"}, "nacked", []string{"quorum_vote A failure", "rehab A", "quorum_vote A client_died_while_voting"}}),
		Entry("terminal, nack_commit", votingRow{[]string{"nack_commit", "nack_commit"}, "nacked", []string{"quorum_vote A failure", "rehab A", "quorum_vote A client_died_while_voting"}}),
		Entry("terminal, down", votingRow{[]string{"nack_commit", "down"}, "nacked", []string{"quorum_vote A failure", "quorum_vote A down", "rehab A"}}),
		Entry("terminal, another message", votingRow{[]string{"nack_commit", "failed"}, "nacked", []string{"quorum_vote A failure", "rehab A"}}),
	)

	// MUST: While a job runs each message of a node moves it as protocol.md §5.5 says — from
	// ready or running, on ack_run, nack_run, succeeded, failed, going down or another message —
	// with exactly the run_start, rehab and run_complete events of the table; the job is
	// complete once no node is ready or running, even when nodes failed or crashed.
	// Section: §5.5, §5.3, §6
	// Supersedes: sse_spec.rb run cases; end_to_end_spec.rb crash cases
	DescribeTable("the running table", func(r runningRow) {
		ps := s().Peers("run", 2)
		a, b := ps[0], ps[1]
		id, feed := startOn("chef-client", 2, 60, a, b)
		a.Expect(wire.TypeCommit)
		b.Expect(wire.TypeCommit)
		a.Send(wire.TypeAckCommit, id)
		feed.Read(2) // votes in a known order
		b.Send(wire.TypeAckCommit, id)
		a.Expect(wire.TypeRun)
		b.Expect(wire.TypeRun)
		b.Send(wire.TypeAckRun, id)
		s().WaitNode(id, b.Node, "running")
		want := []string{"start", "quorum_vote A success", "quorum_vote B success", "quorum_succeeded", "run_start B"}
		if r.ackRun {
			a.Send(wire.TypeAckRun, id)
			s().WaitNode(id, a.Node, "running")
			want = append(want, "run_start A")
		}
		play(a, id, r.msg)
		want = append(want, r.events...)
		feed.Read(len(want))
		s().WaitNode(id, a.Node, r.status)
		final := r.status
		if r.status == "running" {
			a.Send(wire.TypeSucceeded, id)
			want = append(want, "run_complete A success")
			final = "succeeded"
			feed.Read(len(want))
		}
		b.Send(wire.TypeSucceeded, id)
		want = append(want, "run_complete B success", "job_complete complete")
		expectLines(feed.Drain(), aliases(a, b), want...)
		j := s().WaitJob(id, "complete")
		Expect(j.NodeStatus()).To(Equal(map[string]string{a.Node: final, b.Node: "succeeded"}))
		checkFeed(feed.Events, j, 2)
	},
		Entry("ready, ack_run", runningRow{msg: wire.TypeAckRun, status: "running", events: []string{"run_start A"}}),
		Entry("ready, nack_run", runningRow{msg: wire.TypeNackRun, status: "failed", events: []string{"rehab A", "run_complete A run_nacked"}}),
		Entry("ready, succeeded", runningRow{msg: wire.TypeSucceeded, status: "crashed", events: []string{"rehab A", "run_complete A crashed"}}),
		Entry("ready, failed", runningRow{msg: wire.TypeFailed, status: "crashed", events: []string{"rehab A", "run_complete A crashed"}}),
		Entry("ready, down", runningRow{msg: "down", status: "crashed", events: []string{"rehab A", "run_complete A crashed"}}),
		Entry("ready, another message", runningRow{msg: wire.TypeAckCommit, status: "crashed", events: []string{"rehab A", "run_complete A crashed"}}),
		Entry("running, ack_run", runningRow{ackRun: true, msg: wire.TypeAckRun, status: "running"}),
		Entry("running, nack_run", runningRow{ackRun: true, msg: wire.TypeNackRun, status: "failed", events: []string{"rehab A", "run_complete A run_nacked_while_running"}}),
		Entry("running, succeeded", runningRow{ackRun: true, msg: wire.TypeSucceeded, status: "succeeded", events: []string{"run_complete A success"}}),
		Entry("running, failed", runningRow{ackRun: true, msg: wire.TypeFailed, status: "failed", events: []string{"run_complete A failure"}}),
		Entry("running, another message", runningRow{ackRun: true, msg: wire.TypeAckCommit, status: "crashed", events: []string{"rehab A", "run_complete A crashed"}}),
		Entry("running, aborted", runningRow{ackRun: true, msg: wire.TypeAborted, status: "crashed", events: []string{"rehab A", "run_complete A crashed"}}),
		Entry("running, down", runningRow{ackRun: true, msg: "down", status: "crashed", events: []string{"rehab A", "run_complete A crashed"}}),
	)

	// MUST: A node that already finished and then talks about the job, or goes down, while
	// another node still runs keeps its status but gets the spurious rehab and
	// run_complete(client_died_while_running) of protocol.md §5.5, in the table's order.
	// Section: §5.5
	// Supersedes: none (new in this suite)
	DescribeTable("a finished node that talks again", func(msg string, events []string) {
		ps := s().Peers("term", 2)
		a, b := ps[0], ps[1]
		id, feed := startOn("chef-client", 2, 60, a, b)
		for i, p := range ps {
			p.Expect(wire.TypeCommit)
			p.Send(wire.TypeAckCommit, id)
			feed.Read(2 + i)
		}
		for i, p := range ps {
			p.Expect(wire.TypeRun)
			p.Send(wire.TypeAckRun, id)
			feed.Read(5 + i)
		}
		a.Send(wire.TypeSucceeded, id)
		feed.Read(7)
		play(a, id, msg)
		want := append([]string{"start", "quorum_vote A success", "quorum_vote B success", "quorum_succeeded", "run_start A", "run_start B", "run_complete A success"}, events...)
		feed.Read(len(want))
		b.Send(wire.TypeSucceeded, id)
		want = append(want, "run_complete B success", "job_complete complete")
		expectLines(feed.Drain(), aliases(a, b), want...)
		j := s().WaitJob(id, "complete")
		Expect(j.NodeStatus()).To(Equal(map[string]string{a.Node: "succeeded", b.Node: "succeeded"}))
	},
		Entry("ack_run", wire.TypeAckRun, []string{"run_complete A client_died_while_running", "rehab A"}),
		Entry("nack_run", wire.TypeNackRun, []string{"rehab A", "run_complete A client_died_while_running"}),
		Entry("succeeded", wire.TypeSucceeded, []string{"rehab A", "run_complete A client_died_while_running"}),
		Entry("down", "down", []string{"rehab A", "run_complete A client_died_while_running"}),
	)

	// MUST: Nodes still ready or running when run_timeout expires become timed_out and are
	// aborted, without run_complete events; nodes that finished keep their status; the job is
	// timed_out.
	// Section: §5.3, §5.6
	// Supersedes: end_to_end_spec.rb "sleep 2 with run_timeout 1 → {timed_out: DONKEY}, job timed_out"; sse_spec.rb "Node ignores run (run_timeout 4)"
	It("times out nodes that run too long", L("slow"), func() {
		ps := s().Peers("slow", 3)
		a, b, c := ps[0], ps[1], ps[2]
		id, feed := startOn("sleep 100", 3, 1, a, b, c)
		for i, p := range ps {
			p.Expect(wire.TypeCommit)
			p.Send(wire.TypeAckCommit, id)
			feed.Read(2 + i)
		}
		for _, p := range ps {
			p.Expect(wire.TypeRun)
		}
		a.Send(wire.TypeAckRun, id)
		s().WaitNode(id, a.Node, "running")
		c.Send(wire.TypeAckRun, id)
		s().WaitNode(id, c.Node, "running")
		c.Send(wire.TypeSucceeded, id)
		expectLines(feed.Drain(), aliases(a, b, c), "start", "quorum_vote A success", "quorum_vote B success", "quorum_vote C success",
			"quorum_succeeded", "run_start A", "run_start C", "run_complete C success", "job_complete timed_out")
		j := s().WaitJob(id, "timed_out")
		Expect(j.NodeStatus()).To(Equal(map[string]string{a.Node: "timed_out", b.Node: "timed_out", c.Node: "succeeded"}))
		checkFeed(feed.Events, j, 3)
		for _, p := range []*framework.Peer{a, b} {
			p.ExpectExactly(wire.TypeAbort, wire.TypeAck)
		}
	})

	// MUST: Voting waits for every node, even after the quorum is met: a node that never
	// answers its commit holds the job in voting until the voting timeout, then gets
	// quorum_vote(voting_timeout) (no rehab event) and is unavailable; with the quorum met by
	// the others the job runs without it.
	// Section: §5.3, §5.4
	// Supersedes: sse_spec.rb "Node ignores commit (slow, ~60 s)"; end_to_end_spec.rb "Client drops ack_commit"
	It("waits for every vote until the voting timeout", L("slow"), func() {
		ps := s().Peers("silent", 2)
		a, b := ps[0], ps[1]
		id, feed := startOn("chef-client", 1, 60, a, b)
		b.Expect(wire.TypeCommit)
		b.Send(wire.TypeAckCommit, id)
		feed.Read(2)
		Consistently(func() string { return s().Job(id).Status }).WithTimeout(min(s().Timings.VotingTimeout/2, s().Timings.Quiet)).Should(Equal("voting"))
		Expect(s().Job(id).Nodes).To(framework.HaveNodes(map[string][]string{"new": {a.Node}, "ready": {b.Node}}))
		b.Expect(wire.TypeRun)
		b.Send(wire.TypeAckRun, id)
		b.Send(wire.TypeSucceeded, id)
		expectLines(feed.Drain(s().Timings.VotingTimeout), aliases(a, b), "start", "quorum_vote B success", "quorum_vote A voting_timeout",
			"quorum_succeeded", "run_start B", "run_complete B success", "job_complete complete")
		j := s().WaitJob(id, "complete")
		Expect(j.NodeStatus()).To(Equal(map[string]string{a.Node: "unavailable", b.Node: "succeeded"}))
		checkFeed(feed.Events, j, 1)
	})
})
