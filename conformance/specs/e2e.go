package specs

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pushlab/pushlab/conformance/framework"
	"github.com/pushlab/pushlab/internal/wire"
)

// runAll plays every peer through a job: ack the commit, ack the run, then send its result
// ("" means the node nacks the commit).
func runAll(id string, results map[*framework.Peer]string) {
	GinkgoHelper()
	for p, res := range results {
		p.Expect(wire.TypeCommit)
		if res == "" {
			p.Send(wire.TypeNackCommit, id)
			continue
		}
		p.Send(wire.TypeAckCommit, id)
	}
}

var _ = Describe("Jobs end to end", L("liveness"), func() {
	// MUST: A job on three answering nodes with the default quorum is complete with every node
	// succeeded and run_timeout 3600.
	// Section: §5.3, §2.6
	// Supersedes: end_to_end_spec.rb "Echo job on all clients → complete, nodes {succeeded: all}, run_timeout 3600"
	It("runs a job on every node", L("smoke"), func() {
		ps := s().Peers("DONKEY", 3)
		id := s().StartJob(job("echo YAHOO", names(ps...)))
		for _, p := range ps {
			p.Expect(wire.TypeCommit)
			p.Send(wire.TypeAckCommit, id)
		}
		for _, p := range ps {
			p.Expect(wire.TypeRun)
			p.Send(wire.TypeAckRun, id)
			p.Send(wire.TypeSucceeded, id)
		}
		j := s().WaitJob(id, "complete")
		Expect(j.Nodes).To(framework.HaveNodes(map[string][]string{"succeeded": names(ps...)}))
		Expect(j.RunTimeout.String()).To(Equal("3600"))
	})

	// MUST: With three nodes the per-node statuses follow each node's part: failed for the one
	// whose command fails; nacked for busy nodes and was_ready for the ones that acked when the
	// quorum fails; with quorum 2 and one nack the others run and the job completes.
	// Section: §5.3, §5.6
	// Supersedes: end_to_end_spec.rb "Three clients: DONKEY-only failure; FARQUAD+FIONA busy with quorum 2; DONKEY busy + quorum-2; DONKEY busy + 100%; two more jobs on busy DONKEY"
	DescribeTable("three nodes", func(quorum int, parts []string, status string, want map[string]string) {
		ps := s().Peers("trio", 3)
		id := s().StartJob(job("chef-client", names(ps...), "quorum", quorum))
		for i, p := range ps {
			p.Expect(wire.TypeCommit)
			if parts[i] == "nack" {
				p.Send(wire.TypeNackCommit, id)
			} else {
				p.Send(wire.TypeAckCommit, id)
			}
		}
		if status != "quorum_failed" {
			for i, p := range ps {
				if parts[i] == "nack" {
					continue
				}
				p.Expect(wire.TypeRun)
				p.Send(wire.TypeAckRun, id)
				p.Send(parts[i], id)
			}
		}
		j := s().WaitJob(id, status)
		got := map[string]string{}
		for n, st := range j.NodeStatus() {
			got[aliases(ps...)[n]] = st
		}
		Expect(got).To(Equal(want))
	},
		Entry("one fails", 3, []string{wire.TypeFailed, wire.TypeSucceeded, wire.TypeSucceeded}, "complete",
			map[string]string{"A": "failed", "B": "succeeded", "C": "succeeded"}),
		Entry("two busy, quorum 2", 2, []string{wire.TypeSucceeded, "nack", "nack"}, "quorum_failed",
			map[string]string{"A": "was_ready", "B": "nacked", "C": "nacked"}),
		Entry("one busy, quorum 2", 2, []string{"nack", wire.TypeSucceeded, wire.TypeSucceeded}, "complete",
			map[string]string{"A": "nacked", "B": "succeeded", "C": "succeeded"}),
		Entry("one busy, quorum of all", 3, []string{"nack", wire.TypeSucceeded, wire.TypeSucceeded}, "quorum_failed",
			map[string]string{"A": "nacked", "B": "was_ready", "C": "was_ready"}),
	)

	// MUST: Jobs on disjoint nodes run concurrently and both complete; a busy node's nack of a
	// second job leaves that job quorum_failed while the first completes.
	// Section: §5.3, §5.6
	// Supersedes: end_to_end_spec.rb "DONKEY busy + concurrent job on others → both complete"; "two more jobs on busy DONKEY → both {nacked:[DONKEY]} quorum_failed"
	It("runs concurrent jobs", func() {
		ps := s().Peers("busy", 3)
		a, b, c := ps[0], ps[1], ps[2]
		first := s().StartJob(job("sleep 5", []string{a.Node}))
		commitAndRun(a, first)
		second := s().StartJob(job("chef-client", []string{b.Node, c.Node}))
		for _, p := range []*framework.Peer{b, c} {
			p.Expect(wire.TypeCommit)
			p.Send(wire.TypeAckCommit, second)
		}
		for _, p := range []*framework.Peer{b, c} {
			p.Expect(wire.TypeRun)
			p.Send(wire.TypeAckRun, second)
			p.Send(wire.TypeSucceeded, second)
		}
		third := s().StartJob(job("chef-client", []string{a.Node}))
		a.Expect(wire.TypeCommit)
		a.Send(wire.TypeNackCommit, third)
		Expect(s().WaitJob(third, "quorum_failed").Nodes).To(framework.HaveNodes(framework.NodeMap("nacked", a.Node)))
		Expect(s().WaitJob(second, "complete").Nodes).To(framework.HaveNodes(map[string][]string{"succeeded": {b.Node, c.Node}}))
		a.Send(wire.TypeSucceeded, first)
		Expect(s().WaitJob(first, "complete").Nodes).To(framework.HaveNodes(framework.NodeMap("succeeded", a.Node)))
	})

	// MUST: A running node that sends an unexpected nack_commit for its job is crashed and sent
	// to rehab, the job completes, and after aborted the node runs a new job to success.
	// Section: §5.5, §4.5
	// Supersedes: end_to_end_spec.rb "During sleep 10: client sends unexpected nack_commit with valid job id → node crashed, job complete; node comes out of rehab and a new echo job succeeds"
	It("crashes a node that contradicts itself and takes it back", func() {
		p := s().Peer("DONKEY")
		id := s().StartJob(job("sleep 10", []string{p.Node}))
		commitAndRun(p, id)
		s().WaitNode(id, p.Node, "running")
		p.Send(wire.TypeNackCommit, id)
		Expect(s().WaitJob(id, "complete").Nodes).To(framework.HaveNodes(framework.NodeMap("crashed", p.Node)))
		p.Rehab()
		s().WaitAvailability(p.Node, "available")
		next := s().StartJob(job("echo", []string{p.Node}))
		commitAndRun(p, next)
		p.Send(wire.TypeSucceeded, next)
		Expect(s().WaitJob(next, "complete").Nodes).To(framework.HaveNodes(framework.NodeMap("succeeded", p.Node)))
	})

	// MUST: A node process that restarts (a new incarnation) while its job runs is crashed and
	// the job completes; the restarted node is aborted by its new state machine.
	// Section: §4.5, §5.6
	// Supersedes: end_to_end_spec.rb "Client stopped and restarted while running sleep 5 → node crashed, job complete"
	It("crashes a node restarted mid-run", func() {
		p := s().Peer("DONKEY")
		id := s().StartJob(job("sleep 5", []string{p.Node}))
		commitAndRun(p, id)
		s().WaitNode(id, p.Node, "running")
		p.Close()
		again := s().Dial(p.Client)
		again.Heartbeat(s().Timings.Heartbeat)
		Expect(s().WaitJob(id, "complete").Nodes).To(framework.HaveNodes(framework.NodeMap("crashed", p.Node)))
		again.Rehab()
		s().WaitAvailability(p.Node, "available")
	})

	// MUST: A node that dies silently after acking its commit, or while running, is crashed once
	// the server declares it down, and the job completes.
	// Section: §4.6, §5.6
	// Supersedes: end_to_end_spec.rb "Client killed right after sending ack_commit → node crashed, job complete"; "Client killed when its job state becomes running → crashed, complete"
	DescribeTable("a node that dies", L("slow"), func(running bool) {
		ps := s().Peers("dying", 2)
		a, b := ps[0], ps[1]
		id := s().StartJob(job("sleep 5", names(a, b), "quorum", 2))
		for _, p := range ps {
			p.Expect(wire.TypeCommit)
			p.Send(wire.TypeAckCommit, id)
		}
		a.Expect(wire.TypeRun)
		b.Expect(wire.TypeRun)
		b.Send(wire.TypeAckRun, id)
		if running {
			a.Send(wire.TypeAckRun, id)
			s().WaitNode(id, a.Node, "running")
		}
		a.Close()
		s().WaitNode(id, a.Node, "crashed")
		b.Send(wire.TypeSucceeded, id)
		Expect(s().WaitJob(id, "complete").NodeStatus()).To(Equal(map[string]string{a.Node: "crashed", b.Node: "succeeded"}))
	}, Entry("after ack_commit", false), Entry("while running", true))

	// MUST: A quick command with a short run_timeout succeeds: the timer starts at the run and
	// only fires on nodes still running.
	// Section: §5.3
	// Supersedes: end_to_end_spec.rb "run_timeout 2 with quick echo → succeeded/complete"
	It("lets a quick command beat its run_timeout", func() {
		p := s().Peer("DONKEY")
		id := s().StartJob(job("echo", []string{p.Node}, "run_timeout", 2))
		commitAndRun(p, id)
		p.Send(wire.TypeSucceeded, id)
		Expect(s().WaitJob(id, "complete").Nodes).To(framework.HaveNodes(framework.NodeMap("succeeded", p.Node)))
	})

	// MUST: A job with quorum 0 whose nodes are all unavailable still passes voting, runs on no
	// node and completes at once.
	// Section: §5.3
	// Supersedes: none (new in this suite)
	It("completes a quorum-0 job with no ready node", func() {
		node := s().Name("DONKEY")
		id := s().StartJob(job("chef-client", []string{node}, "quorum", 0))
		evs := s().JobFeed(id, "").Drain()
		expectLines(evs, nil, "start", "quorum_vote "+node+" down", "rehab "+node, "quorum_succeeded", "job_complete complete")
		j := s().WaitJob(id, "complete")
		Expect(j.Nodes).To(framework.HaveNodes(framework.NodeMap("unavailable", node)))
	})
})
