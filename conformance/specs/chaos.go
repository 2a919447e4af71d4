package specs

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pushlab/pushlab/conformance/framework"
	"github.com/pushlab/pushlab/fakenodes"
	"github.com/pushlab/pushlab/fakenodes/behaviour"
)

// chaosGroup is a set of simulated nodes with one misbehaviour and the per-node status a
// server must report for them (protocol.md §5.6).
type chaosGroup struct {
	name       string
	behaviours []behaviour.Behaviour
	want       string // status in the complete job
	nodes      []string
}

func spec(bs ...behaviour.Behaviour) []behaviour.Spec {
	out := make([]behaviour.Spec, len(bs))
	for i, b := range bs {
		out[i] = behaviour.Of(b)
	}
	return out
}

var _ = Describe("Chaos", L("chaos"), Ordered, func() {
	running := func() *behaviour.Duration {
		return &behaviour.Duration{Distribution: behaviour.Distribution{Value: 3 * framework.FastHeartbeat}}
	}
	groups := []*chaosGroup{
		{name: "healthy", want: "succeeded"},
		{name: "crash after ack_commit", behaviours: []behaviour.Behaviour{&behaviour.AckCommitThenDie{}}, want: "crashed"},
		{name: "die while running", behaviours: []behaviour.Behaviour{&behaviour.DieWhileRunning{}}, want: "crashed"},
		{name: "restart while running", behaviours: []behaviour.Behaviour{&behaviour.DieWhileRunning{RestartAfter: 300 * time.Millisecond}}, want: "crashed"},
		{name: "nack the commit", behaviours: []behaviour.Behaviour{&behaviour.NackCommit{}}, want: "nacked"},
		{name: "never answer the commit", behaviours: []behaviour.Behaviour{&behaviour.IgnoreCommit{}}, want: "unavailable"},
		{name: "nack the run", behaviours: []behaviour.Behaviour{&behaviour.NackRun{}}, want: "failed"},
		{name: "fail", behaviours: []behaviour.Behaviour{&behaviour.CommandResult{ExitStatus: 1, Stderr: "boom\n"}}, want: "failed"},
		{name: "stale, forged and unknown messages", behaviours: []behaviour.Behaviour{running(),
			&behaviour.BogusMessage{When: "running", Type: "nack_commit", TimeOffset: -1000 * time.Second, Schedule: behaviour.Schedule{Times: 1}},
			&behaviour.BogusMessage{When: "running", Type: "nack_commit", BadSignature: true, Schedule: behaviour.Schedule{Times: 1}},
			&behaviour.BogusMessage{When: "running", Type: "bogus_type", Schedule: behaviour.Schedule{Times: 1}}}, want: "succeeded"},
		{name: "unavailable", want: "unavailable"},
		{name: "hang past run_timeout", behaviours: []behaviour.Behaviour{&behaviour.Hang{}}, want: "timed_out"},
	}
	byName := map[string]*chaosGroup{}
	var fleet *fakenodes.Fleet
	BeforeAll(func() {
		per := max(2, s().Config.LoadNodes/50)
		clients := s().NodeClients("chaos", per*len(groups))
		plan := &behaviour.Plan{}
		for i, g := range groups {
			byName[g.name] = g
			g.nodes = nil
			for _, c := range clients[i*per : (i+1)*per] {
				g.nodes = append(g.nodes, c.Name)
			}
			plan.Groups = append(plan.Groups, behaviour.Group{Name: g.name, Nodes: g.nodes, Behaviours: spec(g.behaviours...)})
		}
		fleet = s().Fleet(clients, plan, 7)
		for _, n := range fleet.Select(fakenodes.ByName(byName["unavailable"].nodes...)) {
			n.Unavailable(time.Hour, true)
		}
		for _, n := range byName["unavailable"].nodes {
			s().WaitAvailability(n, "unavailable")
		}
	})

	// MUST: While a job runs on nodes that crash after acking, die or restart while running,
	// nack the commit, nack the run, fail, send stale, forged or unknown messages, or are
	// unreachable, the server gives each node its status of protocol.md §5.6
	// (crashed, nacked, unavailable, failed; succeeded for the nodes whose bad messages it must
	// drop), completes the job, and its feed is complete and consistent with the statuses.
	// Section: §5.6, §4.3, §6
	// Supersedes: end_to_end_spec.rb crash, restart, nack and stale-message cases (one node at a time in the original)
	It("reports every misbehaving node's status", L("smoke"), func() {
		var nodes []string
		for _, g := range groups {
			if g.name != "hang past run_timeout" && g.name != "never answer the commit" {
				nodes = append(nodes, g.nodes...)
			}
		}
		id := s().StartJob(job("chef-client", nodes, "quorum", len(byName["healthy"].nodes)))
		feed := s().JobFeed(id, "")
		j := s().WaitJob(id, "complete", s().Timings.VotingTimeout, s().Timings.NodeDown)
		got := j.NodeStatus()
		for _, g := range groups {
			if g.name == "hang past run_timeout" || g.name == "never answer the commit" {
				continue
			}
			for _, n := range g.nodes {
				Expect(got[n]).To(Equal(g.want), "node %s (%s)", n, g.name)
			}
		}
		checkFeed(feed.Drain(), j, len(byName["healthy"].nodes))
	})

	// MUST: In a job whose voting waits for nodes that never answer the commit, those nodes
	// become unavailable at the voting timeout; nodes still running a hung command when
	// run_timeout expires are timed_out; the others keep their status; the job is timed_out.
	// Section: §5.3, §5.4, §5.6
	// Supersedes: end_to_end_spec.rb "sleep 2 with run_timeout 1 → {timed_out}" and "Client drops ack_commit" (at scale)
	It("times out silent voters and hung nodes", L("slow"), func() {
		hung, healthy, silent := byName["hang past run_timeout"].nodes, byName["healthy"].nodes, byName["never answer the commit"].nodes
		nodes := append(append(append([]string{}, hung...), healthy...), silent...)
		id := s().StartJob(job("chef-client", nodes, "run_timeout", 1, "quorum", len(hung)+len(healthy)))
		feed := s().JobFeed(id, "")
		j := s().WaitJob(id, "timed_out", s().Timings.VotingTimeout+time.Second)
		Expect(j.Nodes).To(framework.HaveNodes(map[string][]string{"timed_out": hung, "succeeded": healthy, "unavailable": silent}))
		checkFeed(feed.Drain(s().Timings.VotingTimeout), j, len(hung)+len(healthy))
	})

	// MUST: After the chaos the server keeps serving: a new job on the nodes that stayed sane
	// completes with every node succeeded, and the status endpoint answers.
	// Section: §5.6
	// Supersedes: end_to_end_spec.rb "node comes out of rehab and a new echo job succeeds"
	It("keeps serving", func() {
		sane := append(append([]string{}, byName["healthy"].nodes...), byName["stale, forged and unknown messages"].nodes...)
		sane = append(sane, byName["hang past run_timeout"].nodes...)
		for _, n := range sane {
			s().WaitAvailability(n, "available")
		}
		id := s().StartJob(job("chef-client", append(append([]string{}, byName["healthy"].nodes...), byName["stale, forged and unknown messages"].nodes...)))
		j := s().WaitJob(id, "complete")
		Expect(j.Nodes).To(framework.HaveNodes(map[string][]string{"succeeded": append(append([]string{}, byName["healthy"].nodes...), byName["stale, forged and unknown messages"].nodes...)}))
		r := s().Do(framework.Requestor{}, "GET", "/pushy/_status", "")
		Expect(r.Status).To(Equal(200))
	})
})
