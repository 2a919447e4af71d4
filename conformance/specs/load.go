package specs

import (
	"fmt"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pushlab/pushlab/conformance/framework"
	"github.com/pushlab/pushlab/fakenodes/behaviour"
	"github.com/pushlab/pushlab/internal/sse"
	"github.com/pushlab/pushlab/simulator/checks"
)

// countLines counts the event lines that start with prefix.
func countEvents(evs []sse.Event, name string) int {
	n := 0
	for _, ev := range evs {
		if ev.Name == name {
			n++
		}
	}
	return n
}

var _ = Describe("Under load", L("load"), Ordered, func() {
	var nodes []string
	BeforeEach(func() { s().WaitAllAvailable(nodes) })
	BeforeAll(func() {
		clients := s().NodeClients("load", s().Config.LoadNodes)
		plan := &behaviour.Plan{Groups: []behaviour.Group{{Name: "distinct output", Weight: 1,
			Behaviours: []behaviour.Spec{behaviour.Of(&framework.DistinctOutput{})}}}}
		s().Fleet(clients, plan, 6)
		for _, c := range clients {
			nodes = append(nodes, c.Name)
		}
	})

	// MUST: The feed of a job on hundreds of nodes is complete and ordered: start with
	// node_count N, N quorum_vote(success), one quorum_succeeded, N run_start and N
	// run_complete(success) after it, job_complete(complete) last; ids job-1.. unique and in
	// order; timestamps non-decreasing; the counts match the final node statuses.
	// Section: §6, §5.3
	// Supersedes: none (new in this suite; the original never ran more than three nodes)
	It("streams a job on hundreds of nodes", L("smoke"), func() {
		id := s().StartJob(job("chef-client", nodes))
		evs := s().JobFeed(id, "").Drain()
		j := s().WaitJob(id, "complete")
		Expect(j.Nodes).To(framework.HaveNodes(map[string][]string{"succeeded": nodes}))
		Expect(evs).To(HaveLen(3 + 3*len(nodes)))
		Expect(framework.EventData(evs[0])).To(HaveKeyWithValue("node_count", BeEquivalentTo(len(nodes))))
		for name, want := range map[string]int{"quorum_vote": len(nodes), "quorum_succeeded": 1, "run_start": len(nodes), "run_complete": len(nodes), "job_complete": 1} {
			Expect(countEvents(evs, name)).To(Equal(want), "%s events", name)
		}
		checkFeed(evs, j, len(nodes))
	})

	// MUST: Several jobs on disjoint sets of nodes run at once; each job's feed is complete and
	// ordered on its own, and the org feed carries each job's start before its job_complete.
	// Section: §6
	// Supersedes: pushy_api_test.erl "several jobs interleave but per-job order holds"
	It("streams concurrent jobs", func() {
		org := s().OrgFeed("")
		const jobs = 4
		per := len(nodes) / jobs
		ids := make([]string, jobs)
		feeds := make([]*framework.FeedLog, jobs)
		for i := range ids {
			ids[i] = s().StartJob(job("chef-client", nodes[i*per:(i+1)*per]))
			feeds[i] = s().JobFeed(ids[i], "")
		}
		for i, id := range ids {
			evs := feeds[i].Drain()
			j := s().WaitJob(id, "complete")
			Expect(j.Nodes["succeeded"]).To(HaveLen(per), "job %d nodes %v", i, j.Nodes)
			checkFeed(evs, j, per)
		}
		for _, id := range ids {
			evs := orgEventsOf(org, id, 2)
			Expect([]string{evs[0].Name, evs[1].Name}).To(Equal([]string{"start", "job_complete"}), "org events of %s", id)
		}
		framework.ExpectNoViolations(checks.OrgFeed(framework.ForChecks(org.Events)), "org feed")
	})

	// MUST: A reader that resumes a busy job's feed with the Last-Event-ID of an event in the
	// middle gets exactly the events after it, live ones included.
	// Section: §6
	// Supersedes: sse_spec.rb "Resume with Last-Event-ID" (flaky in the original)
	It("resumes a feed mid-stream", func() {
		id := s().StartJob(job("chef-client", nodes))
		full := s().JobFeed(id, "")
		half := len(nodes)
		full.Read(half)
		lastID := full.Events[half-1].ID
		resumed := s().JobFeed(id, lastID)
		all := full.Drain()
		framework.ExpectNoViolations(checks.Resumed(framework.ForChecks(all), framework.ForChecks(resumed.Drain()), lastID), "resumed feed")
		checkFeed(all, s().WaitJob(id, "complete"), len(nodes))
	})

	// MUST: After wait_complete_time the feed of a finished job on hundreds of nodes is a single
	// summary event whose status and nodes are the job's.
	// Section: §6
	// Supersedes: sse_spec.rb "Job finished > 5 s ago: single summary event" (at scale)
	It("summarises a big finished job", func() {
		id := s().StartJob(job("chef-client", nodes))
		s().JobFeed(id, "").Drain()
		j := s().WaitJob(id, "complete")
		Eventually(func(g Gomega) {
			f := s().JobFeed(id, "")
			defer f.Close()
			evs := f.Drain()
			g.Expect(evs).To(HaveLen(1))
			g.Expect(evs[0].Name).To(Equal("summary"))
			g.Expect(checks.JobFeed(framework.ForChecks(evs), &checks.JobOutcome{Status: j.Status, Nodes: j.Nodes, Quorum: len(nodes)})).To(BeEmpty())
		}).WithTimeout(s().Timings.WaitCompleteTime + s().Timings.Job).Should(Succeed())
	})

	// MUST: Hundreds of nodes each sending their own output — empty, one line, many lines,
	// control characters, non-ASCII text, JSON-escaped characters, no trailing newline, 60,000
	// bytes — get it back byte for byte from the output resources.
	// Section: §2.7
	// Supersedes: end_to_end_spec.rb capture cases (three nodes at most in the original)
	It("captures distinct outputs byte for byte", L("output"), func() {
		id := s().StartJob(job("capture_test", nodes, "capture_output", true))
		j := s().WaitJob(id, "complete")
		Expect(j.Nodes).To(framework.HaveNodes(map[string][]string{"succeeded": nodes}))
		var mu sync.Mutex
		var wrong []string
		var wg sync.WaitGroup
		work := make(chan string)
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer GinkgoRecover()
				defer wg.Done()
				for node := range work {
					stdout, stderr := framework.OutputOf(node)
					for ch, want := range map[string]string{"stdout": stdout, "stderr": stderr} {
						got, err := s().API.Output(ctx(), id, node, ch)
						if err != nil || string(got) != want {
							mu.Lock()
							wrong = append(wrong, fmt.Sprintf("%s %s: %d bytes, want %d (%v)", node, ch, len(got), len(want), err))
							mu.Unlock()
						}
					}
				}
			}()
		}
		for _, n := range nodes {
			work <- n
		}
		close(work)
		wg.Wait()
		Expect(wrong).To(BeEmpty())
	})
})
