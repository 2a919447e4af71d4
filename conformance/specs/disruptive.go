package specs

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pushlab/pushlab/conformance/framework"
	"github.com/pushlab/pushlab/internal/wire"
)

var _ = Describe("Server restarts", L("liveness", "disruptive"), Serial, func() {
	// MUST: A job running when the server restarts is crashed at the next start, with its
	// running node crashed; the server comes back with a new incarnation id; the node, fetching
	// config again and reporting the old job, is aborted, and after aborted runs a new job to
	// success; jobs finished before the restart keep their status.
	// Section: §5.1, §5.6, §4.5
	// Supersedes: end_to_end_spec.rb "Server restart during sleep 20 (backend only) → node returns online/available, a new job succeeds, the old job becomes crashed"
	It("crashes the jobs a restart interrupts", func() {
		done := s().OfflineJob()
		p := s().Peer("DONKEY")
		id, feed := startOn("sleep 20", 1, 60, p)
		commitAndRun(p, id)
		feed.Read(4)
		before, err := s().API.Status(ctx())
		Expect(err).NotTo(HaveOccurred())
		p.Close()
		s().RestartTarget()
		after, err := s().API.Status(ctx())
		Expect(err).NotTo(HaveOccurred())
		Expect(after.IncarnationID).NotTo(Equal(before.IncarnationID))
		j := s().WaitJob(id, "crashed")
		Expect(j.Nodes).To(framework.HaveNodes(framework.NodeMap("crashed", p.Node)))
		Expect(s().Job(done).Status).To(Equal("quorum_failed"))

		again := s().Dial(p.Client)
		again.SetJob("running", id)
		again.Heartbeat(s().Timings.Heartbeat)
		again.ExpectExactly(wire.TypeAbort, wire.TypeAck)
		again.SetJob("idle", "")
		again.Send(wire.TypeAborted, id)
		s().WaitAvailability(p.Node, "available")
		next, nextFeed := startOn("echo", 1, 60, again)
		commitAndRun(again, next)
		again.Send(wire.TypeSucceeded, next)
		nextFeed.Drain()
		Expect(s().WaitJob(next, "complete").Nodes).To(framework.HaveNodes(framework.NodeMap("succeeded", p.Node)))
	})
})
