package specs

import (
	"encoding/json"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pushlab/pushlab/conformance/framework"
	"github.com/pushlab/pushlab/internal/wire"
)

// nodeMessage is a node message of p with the given fields, as JSON.
func nodeMessage(p *framework.Peer, typ, jobID string, at time.Time) []byte {
	b, err := json.Marshal(wire.NodeMessage{Node: p.Node, Client: p.Node, ProtocolVersion: wire.ProtocolVersion, Org: p.Org,
		Type: typ, Sequence: 99, Timestamp: wire.FormatTime(at), IncarnationID: p.IncarnationID, JobID: jobID})
	Expect(err).NotTo(HaveOccurred())
	return b
}

var _ = Describe("Node protocol", L("liveness"), func() {
	// MUST: A node's first message creates its node state machine, which sends abort; until the
	// node answers aborted it is online but unavailable and the abort is sent again (rehab); after
	// aborted it is available.
	// Section: §4.4, §4.5
	// Supersedes: none (new in this suite; the Ruby client hid it)
	It("aborts a new node until it answers", L("smoke"), func() {
		nk := s().NodeClients("DONKEY", 1)[0]
		p := s().Dial(nk)
		p.Heartbeat(s().Timings.Heartbeat)
		p.ExpectExactly(wire.TypeAbort)
		s().WaitAvailability(p.Node, "unavailable")
		r := s().Do(s().Who(framework.Admin), "GET", s().Pushy("node_states/"+p.Node), "")
		framework.ExpectStatus(r, 200, `{"node_name":"`+p.Node+`","status":"online","availability":"unavailable"}`)
		p.ExpectExactly(wire.TypeAbort, wire.TypeAck) // sent again while in rehab
		p.Send(wire.TypeAborted, "")
		s().WaitAvailability(p.Node, "available")
	})

	// MUST: The server publishes heartbeats on its PUB socket, RSA-signed with the key of the
	// config's public_key, carrying type heartbeat, the server's incarnation id (the config's),
	// a server name, an RFC 1123 timestamp and a sequence that counts up by one.
	// Section: §4.3, §4.4
	// Supersedes: end_to_end_spec.rb "client must see server heartbeats"
	It("publishes signed heartbeats", L("smoke"), func() {
		p := s().Peer("DONKEY")
		hbs, err := p.SubscribeHeartbeats(3, s().Timings.Message)
		Expect(err).NotTo(HaveOccurred())
		for i, hb := range hbs {
			Expect(hb.Type).To(Equal("heartbeat"))
			Expect(hb.IncarnationID).To(Equal(p.Config.IncarnationID))
			Expect(hb.Server).NotTo(BeEmpty())
			_, err := wire.ParseTime(hb.Timestamp)
			Expect(err).NotTo(HaveOccurred())
			if i > 0 {
				Expect(hb.Sequence).To(Equal(hbs[i-1].Sequence + 1))
			}
		}
	})

	// MUST: A node that stops heartbeating is declared down (offline, unavailable) by the
	// decaying heartbeat average, not at once; when it talks again a fresh state machine aborts
	// it and, after aborted, it is available again.
	// Section: §4.6, §4.5
	// Supersedes: end_to_end_spec.rb "Client stopped and detected offline"; "client flips itself offline and must see heartbeats again"
	It("declares a silent node down and takes it back", L("slow"), func() {
		p := s().Peer("DONKEY")
		p.Heartbeat(0)
		silent := time.Now()
		Eventually(func(g Gomega) {
			r := s().Do(s().Who(framework.Admin), "GET", s().Pushy("node_states/"+p.Node), "")
			g.Expect(string(r.Body)).To(MatchJSON(`{"node_name":"` + p.Node + `","status":"offline","availability":"unavailable"}`))
		}).WithTimeout(s().Timings.NodeDown).Should(Succeed())
		Expect(time.Since(silent)).To(BeNumerically(">", s().Timings.Heartbeat), "declared down before a heartbeat was even missed")
		p.Heartbeat(s().Timings.Heartbeat)
		p.Rehab()
		s().WaitAvailability(p.Node, "available")
	})

	// MUST: A job on a node that has been declared down fails its quorum with the node
	// unavailable; the node stays out of the node list.
	// Section: §5.6, §2.8
	// Supersedes: end_to_end_spec.rb "Client stopped and detected offline → new job quickly quorum_failed, {unavailable}"
	It("fails a job on a node that went away", L("slow"), func() {
		p := s().Peer("DONKEY")
		p.Close()
		s().WaitAvailability(p.Node, "unavailable")
		id := s().StartJob(job("chef-client", []string{p.Node}))
		j := s().WaitJob(id, "quorum_failed")
		Expect(j.Nodes).To(framework.HaveNodes(framework.NodeMap("unavailable", p.Node)))
	})

	// MUST: A job on a node that has stopped but is not yet declared down ends quorum_failed
	// with the node unavailable (down during voting, or at the voting timeout).
	// Section: §5.4, §5.6
	// Supersedes: end_to_end_spec.rb "Client stopped but not yet detected (node_states still online) → job eventually quorum_failed {unavailable}"
	It("fails a job on a node that stopped unnoticed", L("slow"), func() {
		p := s().Peer("DONKEY")
		p.Close()
		id := s().StartJob(job("chef-client", []string{p.Node}))
		j := s().WaitJob(id, "quorum_failed", s().Timings.VotingTimeout)
		Expect(j.Nodes).To(framework.HaveNodes(framework.NodeMap("unavailable", p.Node)))
	})

	// MUST: A node that drops its ack_commit stays online while its job waits: the job shows it
	// new while voting, then quorum_failed with the node unavailable after the voting timeout.
	// Section: §5.6
	// Supersedes: end_to_end_spec.rb "Client drops ack_commit (slow): node status online; {new: [DONKEY]} while voting; after ≤65 s quorum_failed {unavailable}; node still online"
	It("keeps a node that lost its vote online", L("slow"), func() {
		p := s().Peer("DONKEY")
		id := s().StartJob(job("chef-client", []string{p.Node}))
		p.Expect(wire.TypeCommit)
		p.SetJob("committed", id)
		Expect(s().Job(id).Nodes).To(framework.HaveNodes(framework.NodeMap("new", p.Node)))
		j := s().WaitJob(id, "quorum_failed", s().Timings.VotingTimeout)
		Expect(j.Nodes).To(framework.HaveNodes(framework.NodeMap("unavailable", p.Node)))
		r := s().Do(s().Who(framework.Admin), "GET", s().Pushy("node_states/"+p.Node), "")
		Expect(string(r.Body)).To(ContainSubstring(`"status":"online"`))
	})

	// MUST: A heartbeat naming a job the server does not run sends the node to rehab (abort).
	// Section: §4.5
	// Supersedes: none (new in this suite)
	It("rehabs a node that reports an unknown job", func() {
		p := s().Peer("DONKEY")
		p.SetJob("running", "0123456789abcdef0123456789abcdef")
		p.ExpectExactly(wire.TypeAbort, wire.TypeAck)
		p.SetJob("idle", "")
		p.Send(wire.TypeAborted, "")
		s().WaitAvailability(p.Node, "available")
	})

	// MUST: A known node that reconnects (a new ZeroMQ identity) and sends a valid message is
	// answered ack, and stays available.
	// Section: §4.2, §4.5
	// Supersedes: end_to_end_spec.rb "Client killed and restarted quickly"; "reconnect with a new ZMQ identity"
	It("acknowledges a new connection of a known node", func() {
		p := s().Peer("DONKEY")
		p.Reconnect()
		p.ExpectExactly(wire.TypeAck, wire.TypeAbort)
		s().WaitAvailability(p.Node, "available")
	})

	// MUST: aborted about a job the server does not know does not send the node to rehab: the
	// server sends no abort.
	// Section: §4.5
	// Supersedes: end_to_end_spec.rb "Client sends aborted with nonexistent job id → server must not send abort"
	It("ignores aborted for an unknown job", func() {
		p := s().Peer("DONKEY")
		p.Send(wire.TypeAborted, "fedcba9876543210fedcba9876543210")
		p.ExpectNothing(s().Timings.Quiet, wire.TypeAck)
		s().WaitAvailability(p.Node, "available")
	})

	// MUST: Any other message about a job the server does not know (nack_commit with job id
	// "a", ack_run, succeeded) sends the node to rehab; after aborted it is available and runs a
	// new job.
	// Section: §4.5
	// Supersedes: end_to_end_spec.rb "nack_commit with job id a → crashed (node rehabbed) then recovers"
	DescribeTable("messages about an unknown job", func(typ, jobID string) {
		p := s().Peer("DONKEY")
		p.Send(typ, jobID)
		p.Rehab()
		s().WaitAvailability(p.Node, "available")
		id, feed := startOn("chef-client", 1, 60, p)
		commitAndRun(p, id)
		p.Send(wire.TypeSucceeded, id)
		feed.Drain()
		s().WaitJob(id, "complete")
	},
		Entry("nack_commit for job a", wire.TypeNackCommit, "a"),
		Entry("ack_run for an unknown job", wire.TypeAckRun, "fedcba9876543210fedcba9876543210"),
		Entry("succeeded for an unknown job", wire.TypeSucceeded, "fedcba9876543210fedcba9876543210"))

	// MUST: A node message that fails validation is dropped and never answered: a bad HMAC, an
	// HMAC under another key, a timestamp 1000 s old or 1000 s ahead, an unknown message type,
	// an unknown header version, a body that is not JSON; the vote it carries is not counted.
	// Section: §4.3, §4.4
	// Supersedes: end_to_end_spec.rb "nack_commit with a timestamp 1000 s old → ignored"
	DescribeTable("messages the server drops", func(forge func(p *framework.Peer, id string) (header, body []byte)) {
		ps := s().Peers("forger", 2)
		a, b := ps[0], ps[1]
		id, feed := startOn("chef-client", 2, 60, a, b)
		a.Expect(wire.TypeCommit)
		b.Expect(wire.TypeCommit)
		a.SendRaw(forge(a, id))
		b.Send(wire.TypeAckCommit, id) // travels after A's frame on another connection
		feed.Read(2)
		Consistently(func() string { return s().Job(id).NodeStatus()[a.Node] }).WithTimeout(s().Timings.Quiet).Should(Equal("new"))
		a.ExpectNothing(s().Timings.Poll, wire.TypeAck)
		a.Send(wire.TypeNackCommit, id)
		expectLines(feed.Drain(), aliases(a, b), "start", "quorum_vote B success", "quorum_vote A failure", "job_complete quorum_failed")
	},
		Entry("a bad HMAC", func(p *framework.Peer, id string) ([]byte, []byte) {
			return []byte("Version:2.0;SigningMethod:hmac_sha256;Signature:AAAA"), nodeMessage(p, wire.TypeAckCommit, id, time.Now())
		}),
		Entry("an HMAC under another key", func(p *framework.Peer, id string) ([]byte, []byte) {
			body := nodeMessage(p, wire.TypeAckCommit, id, time.Now())
			return wire.SignHMAC(make([]byte, 32), body), body
		}),
		Entry("a timestamp 1000 s old", func(p *framework.Peer, id string) ([]byte, []byte) {
			body := nodeMessage(p, wire.TypeAckCommit, id, time.Now().Add(-1000*time.Second))
			return wire.SignHMAC(p.SessionKey(), body), body
		}),
		Entry("a timestamp 1000 s ahead", func(p *framework.Peer, id string) ([]byte, []byte) {
			body := nodeMessage(p, wire.TypeAckCommit, id, time.Now().Add(1000*time.Second))
			return wire.SignHMAC(p.SessionKey(), body), body
		}),
		Entry("an unknown message type", func(p *framework.Peer, id string) ([]byte, []byte) {
			body := nodeMessage(p, "ack_commit_please", id, time.Now())
			return wire.SignHMAC(p.SessionKey(), body), body
		}),
		Entry("header version 3.0", func(p *framework.Peer, id string) ([]byte, []byte) {
			body := nodeMessage(p, wire.TypeAckCommit, id, time.Now())
			return []byte("Version:3.0;SigningMethod:hmac_sha256;Signature:" + wire.HMACSignature(p.SessionKey(), body)), body
		}),
		Entry("a body that is not JSON", func(p *framework.Peer, id string) ([]byte, []byte) {
			body := []byte("ack_commit " + id)
			return wire.SignHMAC(p.SessionKey(), body), body
		}),
	)

	// MUST: A node message dated 100 s ago, inside the 300 s window, is accepted: an unexpected
	// nack_commit for the running job crashes the node, and the job completes.
	// Section: §4.3, §5.5
	// Supersedes: end_to_end_spec.rb "100 s old → accepted → crashed"
	It("accepts a message inside the skew window", func() {
		p := s().Peer("DONKEY")
		id, feed := startOn("sleep 10", 1, 60, p)
		commitAndRun(p, id)
		feed.Read(4)
		body := nodeMessage(p, wire.TypeNackCommit, id, time.Now().Add(-100*time.Second))
		p.SendRaw(wire.SignHMAC(p.SessionKey(), body), body)
		expectLines(feed.Drain(), aliases(p), "start", "quorum_vote A success", "quorum_succeeded", "run_start A", "rehab A", "run_complete A crashed", "job_complete complete")
		j := s().WaitJob(id, "complete")
		Expect(j.NodeStatus()).To(Equal(map[string]string{p.Node: "crashed"}))
	})

	// MUST: A CURVE key that no config request admitted gets no message through: its messages
	// are never answered.
	// Section: §4.2
	// Supersedes: none (new in this suite)
	It("refuses a CURVE key no config request admitted", func() {
		p := s().Peer("DONKEY")
		got, err := s().UnadmittedProbe(p, s().Timings.Quiet)
		Expect(err).NotTo(HaveOccurred())
		Expect(got).To(BeFalse(), "an unadmitted CURVE key got a message")
	})
})
