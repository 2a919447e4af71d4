package specs

import (
	"encoding/json"
	"net/http"
	"sort"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pushlab/pushlab/conformance/framework"
	"github.com/pushlab/pushlab/internal/sse"
	"github.com/pushlab/pushlab/internal/wire"
	"github.com/pushlab/pushlab/simulator/checks"
)

// commitAndRun plays a well-behaved node up to running: commit acked, run acked.
func commitAndRun(p *framework.Peer, id string) {
	GinkgoHelper()
	p.Expect(wire.TypeCommit)
	p.Send(wire.TypeAckCommit, id)
	p.Expect(wire.TypeRun)
	p.Send(wire.TypeAckRun, id)
}

// sorted returns the lines sorted, for events whose order among nodes is free.
func sorted(lines []string) []string {
	out := append([]string(nil), lines...)
	sort.Strings(out)
	return out
}

var _ = Describe("Job event feeds", L("sse"), func() {
	// MUST: The feed of a job the server does not know is 404; POST, PUT and DELETE on a feed
	// are 405; an unknown requestor gets 401; an Accept without text/event-stream is 406.
	// Section: §2.2, §6
	// Supersedes: sse_spec.rb "No job: feed for nonexistent → 404; POST to feed → 405; invalid user → 401"; "JSON Accept → 406"
	DescribeTable("requests a feed refuses", func(method string, role framework.Role, accept string, feed func() string, status int) {
		who := framework.Requestor{}
		if role != "" {
			who = s().Who(role)
		}
		var mutate []func(http.Header)
		if accept != "" {
			mutate = append(mutate, setHeader("Accept", accept))
		}
		r := s().Do(who, method, feed(), "", mutate...)
		Expect(r.Status).To(Equal(status), "reply %s", r)
		if status == 401 {
			Expect(string(r.Body)).To(MatchJSON(failedAuth(who.Name)))
		}
	},
		Entry("a job that does not exist", "GET", framework.Admin, "", func() string { return s().Pushy("job_status_feed/nonexistent") }, 404),
		Entry("POST to a job feed", "POST", framework.Role(""), "", func() string { return s().Pushy("job_status_feed/" + s().OfflineJob()) }, 405),
		Entry("PUT to a job feed", "PUT", framework.Role(""), "", func() string { return s().Pushy("job_status_feed/" + s().OfflineJob()) }, 405),
		Entry("DELETE a job feed", "DELETE", framework.Role(""), "", func() string { return s().Pushy("job_status_feed/" + s().OfflineJob()) }, 405),
		Entry("POST to the org feed", "POST", framework.Role(""), "", func() string { return s().Pushy("job_status_feed") }, 405),
		Entry("an invalid user", "GET", framework.InvalidUser, "", func() string { return s().Pushy("job_status_feed/" + s().OfflineJob()) }, 401),
		Entry("a JSON Accept", "GET", framework.Admin, "application/json", func() string { return s().Pushy("job_status_feed/" + s().OfflineJob()) }, 406),
		Entry("a JSON Accept on the org feed", "GET", framework.Admin, "application/json", func() string { return s().Pushy("job_status_feed") }, 406),
	)

	// MUST: A job on a node that never connected streams start (command, run_timeout, quorum,
	// node_count 1, user = the requesting user, capture false), quorum_vote(down), rehab and
	// job_complete(quorum_failed), as text/event-stream with ids job-1.. and timestamps that
	// parse and do not decrease, and the server closes the feed after job_complete.
	// Section: §6, §5.3
	// Supersedes: sse_spec.rb "One nonexistent node"
	It("streams a job on a node that never connected", L("smoke"), func() {
		node := s().Name("DONKEY")
		id := s().StartJob(job("sleep 1", []string{node}, "quorum", 1, "run_timeout", 4))
		feed := s().JobFeed(id, "")
		Expect(feed.Header()["Content-Type"]).To(ContainElement(HavePrefix("text/event-stream")))
		evs := feed.Drain()
		expectLines(evs, nil, "start", "quorum_vote "+node+" down", "rehab "+node, "job_complete quorum_failed")
		start := framework.EventData(evs[0])
		Expect(start).To(HaveKeyWithValue("command", "sleep 1"))
		Expect(start).To(HaveKeyWithValue("run_timeout", BeEquivalentTo(4)))
		Expect(start).To(HaveKeyWithValue("quorum", BeEquivalentTo(1)))
		Expect(start).To(HaveKeyWithValue("node_count", BeEquivalentTo(1)))
		Expect(start).To(HaveKeyWithValue("user", s().Target.User().Name))
		Expect(start).To(HaveKeyWithValue("capture", false))
		checkFeed(evs, s().WaitJob(id, "quorum_failed"), 1)
	})

	// MUST: A node that acks, runs and succeeds gives exactly start, quorum_vote(success),
	// quorum_succeeded, run_start, run_complete(success), job_complete(complete); a failing
	// command gives run_complete(failure) and the job is still complete; a node that nacks the
	// commit gives start, quorum_vote(failure), job_complete(quorum_failed); one that answers run
	// with nack_run gives rehab and run_complete(run_nacked); one that acks the run then nacks
	// it gives rehab and run_complete(run_nacked_while_running).
	// Section: §6, §5.4, §5.5
	// Supersedes: sse_spec.rb "One node, success", "Command fails", "Node nacks", "Node answers run with nack_run", "Buggy node sends ack_run then nack_run"
	DescribeTable("one node", func(play func(p *framework.Peer, id string), status string, want ...string) {
		p := s().Peer("DONKEY")
		id, feed := startOn("chef-client", 1, 60, p)
		play(p, id)
		evs := feed.Drain()
		expectLines(evs, aliases(p), want...)
		checkFeed(evs, s().WaitJob(id, status), 1)
	},
		Entry("succeeds", L("smoke"), func(p *framework.Peer, id string) {
			commitAndRun(p, id)
			p.Send(wire.TypeSucceeded, id)
		}, "complete", "start", "quorum_vote A success", "quorum_succeeded", "run_start A", "run_complete A success", "job_complete complete"),
		Entry("fails", func(p *framework.Peer, id string) {
			commitAndRun(p, id)
			p.Send(wire.TypeFailed, id)
		}, "complete", "start", "quorum_vote A success", "quorum_succeeded", "run_start A", "run_complete A failure", "job_complete complete"),
		Entry("nacks the commit", func(p *framework.Peer, id string) {
			p.Expect(wire.TypeCommit)
			p.Send(wire.TypeNackCommit, id)
		}, "quorum_failed", "start", "quorum_vote A failure", "job_complete quorum_failed"),
		Entry("answers run with nack_run", func(p *framework.Peer, id string) {
			p.Expect(wire.TypeCommit)
			p.Send(wire.TypeAckCommit, id)
			p.Expect(wire.TypeRun)
			p.Send(wire.TypeNackRun, id)
		}, "complete", "start", "quorum_vote A success", "quorum_succeeded", "rehab A", "run_complete A run_nacked", "job_complete complete"),
		Entry("acks the run then nacks it", func(p *framework.Peer, id string) {
			commitAndRun(p, id)
			p.Send(wire.TypeNackRun, id)
		}, "complete", "start", "quorum_vote A success", "quorum_succeeded", "run_start A", "rehab A", "run_complete A run_nacked_while_running", "job_complete complete"),
	)

	// MUST: A node that never answers run leaves the job running until run_timeout: start,
	// quorum_vote(success), quorum_succeeded, job_complete(timed_out), the node timed_out.
	// Section: §6, §5.3
	// Supersedes: sse_spec.rb "Node ignores run (run_timeout 4)"
	It("times out a run nobody answers", L("slow"), func() {
		p := s().Peer("DONKEY")
		id, feed := startOn("chef-client", 1, 1, p)
		p.Expect(wire.TypeCommit)
		p.Send(wire.TypeAckCommit, id)
		p.Expect(wire.TypeRun)
		evs := feed.Drain(time.Second)
		expectLines(evs, aliases(p), "start", "quorum_vote A success", "quorum_succeeded", "job_complete timed_out")
		j := s().WaitJob(id, "timed_out")
		Expect(j.NodeStatus()).To(Equal(map[string]string{p.Node: "timed_out"}))
		checkFeed(evs, j, 1)
	})

	// MUST: With two nodes and the default quorum (all nodes) the feed has start, both votes,
	// quorum_succeeded, both run_starts, both run_completes (in any order among nodes) and
	// job_complete(complete), the per-node statuses matching each run_complete.
	// Section: §6, §5.3
	// Supersedes: sse_spec.rb "Two nodes (quorum defaults to 2): both succeed → 9 events; both fail; DONKEY fails/FIONA succeeds"
	DescribeTable("two nodes", func(aResult, bResult string) {
		ps := s().Peers("pair", 2)
		a, b := ps[0], ps[1]
		id := s().StartJob(job("chef-client", names(a, b)))
		feed := s().JobFeed(id, "")
		for _, p := range ps {
			p.Expect(wire.TypeCommit)
			p.Send(wire.TypeAckCommit, id)
		}
		for _, p := range ps {
			p.Expect(wire.TypeRun)
			p.Send(wire.TypeAckRun, id)
		}
		a.Send(aResult, id)
		b.Send(bResult, id)
		evs := feed.Drain()
		Expect(evs).To(HaveLen(9))
		lines := framework.Lines(evs, aliases(a, b))
		Expect(lines[0]).To(Equal("start"))
		Expect(lines[8]).To(Equal("job_complete complete"))
		verdict := map[string]string{wire.TypeSucceeded: "success", wire.TypeFailed: "failure"}
		Expect(sorted(lines[1:8])).To(Equal(sorted([]string{"quorum_vote A success", "quorum_vote B success", "quorum_succeeded",
			"run_start A", "run_start B", "run_complete A " + verdict[aResult], "run_complete B " + verdict[bResult]})))
		Expect(lines[3]).To(Equal("quorum_succeeded"))
		status := map[string]string{wire.TypeSucceeded: "succeeded", wire.TypeFailed: "failed"}
		j := s().WaitJob(id, "complete")
		Expect(j.NodeStatus()).To(Equal(map[string]string{a.Node: status[aResult], b.Node: status[bResult]}))
		checkFeed(evs, j, 2)
	},
		Entry("both succeed", wire.TypeSucceeded, wire.TypeSucceeded),
		Entry("both fail", wire.TypeFailed, wire.TypeFailed),
		Entry("one fails, one succeeds", wire.TypeFailed, wire.TypeSucceeded),
	)

	// MUST: When one of two nodes rejects the commit, a quorum of 2 fails (start, the votes,
	// job_complete(quorum_failed), the acking node was_ready) and a quorum of 1 runs on the
	// other node alone to complete.
	// Section: §5.3, §6
	// Supersedes: sse_spec.rb "One node rejects vote: quorum 2 → quorum_failed; quorum 1 → complete"
	DescribeTable("a rejected vote", func(quorum int, want []string, status string) {
		ps := s().Peers("reject", 2)
		a, b := ps[0], ps[1]
		id, feed := startOn("chef-client", quorum, 60, a, b)
		a.Expect(wire.TypeCommit)
		b.Expect(wire.TypeCommit)
		a.Send(wire.TypeNackCommit, id)
		feed.Read(2)
		b.Send(wire.TypeAckCommit, id)
		if status == "complete" {
			b.Expect(wire.TypeRun)
			b.Send(wire.TypeAckRun, id)
			b.Send(wire.TypeSucceeded, id)
		}
		evs := feed.Drain()
		expectLines(evs, aliases(a, b), want...)
		j := s().WaitJob(id, status)
		final := map[string]string{a.Node: "nacked", b.Node: "succeeded"}
		if status == "quorum_failed" {
			final[b.Node] = "was_ready"
		}
		Expect(j.NodeStatus()).To(Equal(final))
		checkFeed(evs, j, quorum)
	},
		Entry("quorum 2", 2, []string{"start", "quorum_vote A failure", "quorum_vote B success", "job_complete quorum_failed"}, "quorum_failed"),
		Entry("quorum 1", 1, []string{"start", "quorum_vote A failure", "quorum_vote B success", "quorum_succeeded", "run_start B", "run_complete B success", "job_complete complete"}, "complete"),
	)

	// MUST: A node that acks the commit and then sends nack_run while the job still votes is
	// sent to rehab and is unavailable; the job (quorum 2) fails its quorum once the other node
	// votes.
	// Section: §5.4, §6
	// Supersedes: sse_spec.rb "DONKEY sends ack_commit then nack_run during voting while FIONA acks after 1 s"
	It("rehabs a node that nacks the run while voting", func() {
		ps := s().Peers("early", 2)
		a, b := ps[0], ps[1]
		id, feed := startOn("chef-client", 2, 60, a, b)
		a.Expect(wire.TypeCommit)
		b.Expect(wire.TypeCommit)
		a.Send(wire.TypeAckCommit, id)
		a.Send(wire.TypeNackRun, id)
		feed.Read(3)
		b.Send(wire.TypeAckCommit, id)
		evs := feed.Drain()
		expectLines(evs, aliases(a, b), "start", "quorum_vote A success", "rehab A", "quorum_vote B success", "job_complete quorum_failed")
		j := s().WaitJob(id, "quorum_failed")
		Expect(j.NodeStatus()).To(Equal(map[string]string{a.Node: "unavailable", b.Node: "was_ready"}))
	})

	// MUST: Once a finished job's full feed is gone (after wait_complete_time) the feed is a
	// single summary event with id job-1 whose data is the job object: command, status,
	// run_timeout, nodes (only statuses that have nodes), created_at ≤ updated_at; Last-Event-ID
	// does not change it.
	// Section: §6
	// Supersedes: sse_spec.rb "Job finished > 5 s ago: single summary event"
	It("summarises a finished job", func() {
		p := s().Peer("DONKEY")
		id, feed := startOn("chef-client", 1, 60, p)
		commitAndRun(p, id)
		p.Send(wire.TypeSucceeded, id)
		feed.Drain()
		var evs []sse.Event
		Eventually(func(g Gomega) {
			evs = nil
			f := s().JobFeed(id, "job-2")
			defer f.Close()
			evs = f.Drain()
			g.Expect(evs).To(HaveLen(1))
			g.Expect(evs[0].Name).To(Equal("summary"))
		}).WithTimeout(s().Timings.WaitCompleteTime + s().Timings.Job).Should(Succeed())
		Expect(evs[0].ID).To(Equal("job-1"))
		d := framework.EventData(evs[0])
		Expect(d).To(HaveKeyWithValue("command", "chef-client"))
		Expect(d).To(HaveKeyWithValue("status", "complete"))
		Expect(d).To(HaveKeyWithValue("run_timeout", BeEquivalentTo(60)))
		Expect(d).To(HaveKeyWithValue("id", id))
		Expect(d["nodes"]).To(Equal(map[string]any{"succeeded": []any{p.Node}}))
		created, err1 := time.Parse(time.RFC1123, d["created_at"].(string))
		updated, err2 := time.Parse(time.RFC1123, d["updated_at"].(string))
		Expect(err1).NotTo(HaveOccurred())
		Expect(err2).NotTo(HaveOccurred())
		Expect(updated).NotTo(BeTemporally("<", created))
		checkFeed(evs, s().Job(id), 1)
		again := s().JobFeed(id, "").Drain()
		Expect(again).To(HaveLen(1))
		Expect(again[0].Name).To(Equal("summary"))
		d2 := framework.EventData(again[0])
		delete(d, "timestamp")
		delete(d2, "timestamp")
		Expect(d2).To(Equal(d))
	})

	// MUST: Event data is JSON whatever the command holds: a non-ASCII command comes back
	// unchanged in the start event.
	// Section: §6
	// Supersedes: sse_spec.rb "Non-ASCII command (echo 'ĐONKEY'): events cleanly encoded"
	It("encodes a non-ASCII command", func() {
		cmd := "echo 'ĐONKEY' \"ü\" <&> \u2603"
		id := s().StartJob(job(cmd, []string{s().Name("DONKEY")}))
		evs := s().JobFeed(id, "").Drain()
		Expect(framework.EventData(evs[0])).To(HaveKeyWithValue("command", cmd))
		checkFeed(evs, s().WaitJob(id, "quorum_failed"), 1)
	})

	// MUST: A live job's feed streams: a reader sees the history at once and later events as
	// they happen; a second concurrent reader gets the same events; a reader resuming with the
	// Last-Event-ID of an event gets exactly the events after it; an unknown Last-Event-ID
	// (bleah) gives the whole feed.
	// Section: §6
	// Supersedes: sse_spec.rb "Live streaming", "A second concurrent stream", "Resume with Last-Event-ID" (flaky in the original), "Invalid Last-Event-ID bleah"
	It("streams a live job to several readers and resumes", L("smoke"), func() {
		p := s().Peer("DONKEY")
		id, first := startOn("chef-client", 1, 60, p)
		second := s().JobFeed(id, "")
		p.Expect(wire.TypeCommit)
		p.Send(wire.TypeAckCommit, id)
		p.Expect(wire.TypeRun)
		p.Send(wire.TypeAckRun, id)
		first.Read(4)
		second.Read(4)
		resumed := s().JobFeed(id, first.Events[2].ID)
		bleah := s().JobFeed(id, "bleah")
		bleah.Read(4)
		first.ExpectNoEvent(s().Timings.Quiet)
		p.Send(wire.TypeSucceeded, id)
		full := first.Drain()
		expectLines(full, aliases(p), "start", "quorum_vote A success", "quorum_succeeded", "run_start A", "run_complete A success", "job_complete complete")
		Expect(framework.ForChecks(second.Drain())).To(Equal(framework.ForChecks(full)))
		framework.ExpectNoViolations(checks.Resumed(framework.ForChecks(full), framework.ForChecks(resumed.Drain()), full[2].ID), "resumed feed")
		Expect(framework.ForChecks(bleah.Drain())).To(Equal(framework.ForChecks(full)))
	})

	// MUST: Keepalive comments sent while a job is silent longer than the keepalive time do not
	// corrupt the stream: the six events still arrive intact.
	// Section: §6
	// Supersedes: sse_spec.rb "Slow job (sleep 21, run_timeout 25): keepalives don't corrupt the stream"
	It("keeps a silent feed alive", L("slow"), func() {
		p := s().Peer("DONKEY")
		id, feed := startOn("chef-client", 1, 600, p)
		commitAndRun(p, id)
		feed.Read(4)
		feed.ExpectNoEvent(s().Timings.KeepAlive + 2*s().Timings.Heartbeat)
		p.Send(wire.TypeSucceeded, id)
		evs := feed.Drain()
		expectLines(evs, aliases(p), "start", "quorum_vote A success", "quorum_succeeded", "run_start A", "run_complete A success", "job_complete complete")
		checkFeed(evs, s().WaitJob(id, "complete"), 1)
	})

	// MUST: The start event of a job with options has job_user (the run-as user), dir, env,
	// file_specified true and capture, never the file itself, and user is the requesting Chef
	// user; the commit message carries command, user, dir, env, file (with its prefix) and
	// capture, and the run message none of them.
	// Section: §6, §4.4
	// Supersedes: sse_spec.rb "Job with user root, dir /tmp, env, file raw:foo: start event"; pushy_api_test.erl "optional params reach the commit message, params not in run message"
	It("describes a job's options in start and commit", func() {
		p := s().Peer("DONKEY")
		env := map[string]string{"ENV1": "one", "ENV2": "two"}
		id := s().StartJob(job("chef-client", []string{p.Node}, "user", "root", "dir", "/tmp", "env", env, "file", "raw:foo", "capture_output", true))
		feed := s().JobFeed(id, "")
		c := p.Expect(wire.TypeCommit).(wire.Commit)
		Expect(c.JobID).To(Equal(id))
		Expect(c.Command).To(Equal("chef-client"))
		Expect(c.User).To(Equal("root"))
		Expect(c.Dir).To(Equal("/tmp"))
		Expect(c.Env).To(Equal(env))
		Expect(c.File).To(Equal("raw:foo"))
		Expect(c.Capture).To(BeTrue())
		p.Send(wire.TypeAckCommit, id)
		run := p.Expect(wire.TypeRun).(wire.Run)
		Expect(run.JobID).To(Equal(id))
		p.Send(wire.TypeAckRun, id)
		out, errOut := "", ""
		p.SendResult(wire.TypeSucceeded, id, &out, &errOut)
		evs := feed.Drain()
		start := framework.EventData(evs[0])
		Expect(start).To(HaveKeyWithValue("job_user", "root"))
		Expect(start).To(HaveKeyWithValue("user", s().Target.User().Name))
		Expect(start).To(HaveKeyWithValue("dir", "/tmp"))
		Expect(start).To(HaveKeyWithValue("env", map[string]any{"ENV1": "one", "ENV2": "two"}))
		Expect(start).To(HaveKeyWithValue("file_specified", true))
		Expect(start).To(HaveKeyWithValue("capture", true))
		Expect(start).NotTo(HaveKey("file"))
	})

	// MUST: The commit of a job without options carries capture false and no user, dir, env or
	// file; the run message carries only type and job_id (plus sequence and timestamp).
	// Section: §4.4
	// Supersedes: pushy_api_test.erl "missing params are absent", "params not in run message"
	It("sends bare commit and run messages", L("liveness"), func() {
		p := s().Peer("DONKEY")
		id := s().StartJob(job("chef-client", []string{p.Node}))
		c := p.Expect(wire.TypeCommit).(wire.Commit)
		Expect(c.Capture).To(BeFalse())
		Expect(c.User).To(BeEmpty())
		Expect(c.Dir).To(BeEmpty())
		Expect(c.Env).To(BeNil())
		Expect(c.File).To(BeEmpty())
		Expect(c.Server).NotTo(BeEmpty())
		Expect(c.Sequence).To(BeNumerically(">", 0))
		_, err := wire.ParseTime(c.Timestamp)
		Expect(err).NotTo(HaveOccurred())
		p.Send(wire.TypeAckCommit, id)
		p.Expect(wire.TypeRun)
		p.Send(wire.TypeAckRun, id)
		p.Send(wire.TypeSucceeded, id)
		s().WaitJob(id, "complete")
	})
})

var _ = Describe("The org event feed", L("sse"), func() {
	// MUST: The org feed carries only start and job_complete of the org's jobs, renumbered
	// org-N, each with the job id added; a reader opened without Last-Event-ID sees no history,
	// only what happens next; a reader opened after a job started sees only its job_complete.
	// Section: §6
	// Supersedes: pushy_api_test.erl org feed cases (the Ruby suite could not test the never-ending org feed)
	It("pairs start and job_complete", L("smoke"), func() {
		org := s().OrgFeed("")
		org.ExpectNoEvent(s().Timings.Quiet / 3)
		p := s().Peer("DONKEY")
		id, feed := startOn("chef-client", 1, 60, p)
		p.Expect(wire.TypeCommit)
		late := s().OrgFeed("")
		p.Send(wire.TypeAckCommit, id)
		p.Expect(wire.TypeRun)
		p.Send(wire.TypeAckRun, id)
		p.Send(wire.TypeSucceeded, id)
		feed.Drain()
		evs := orgEventsOf(org, id, 2)
		Expect([]string{evs[0].Name, evs[1].Name}).To(Equal([]string{"start", "job_complete"}))
		Expect(framework.EventData(evs[0])).To(HaveKeyWithValue("command", "chef-client"))
		Expect(framework.EventData(evs[1])).To(HaveKeyWithValue("status", "complete"))
		framework.ExpectNoViolations(checks.OrgFeed(framework.ForChecks(org.Events)), "org feed")
		lateEvs := orgEventsOf(late, id, 1)
		Expect(lateEvs[0].Name).To(Equal("job_complete"))
		Expect(lateEvs[0].ID).To(Equal(evs[1].ID))
	})

	// MUST: An org reader resuming with the Last-Event-ID of the latest event gets nothing more
	// until new events happen; with an older id it gets the retained events after it; with an
	// unknown id it gets start_of_history first, then every retained event.
	// Section: §6
	// Supersedes: pushy_api_test.erl "Last-Event-ID of the latest event → nothing; older id → later events; unknown id → start_of_history + history"
	It("resumes from Last-Event-ID", func() {
		org := s().OrgFeed("")
		first := s().StartJob(job("sleep 1", []string{s().Name("DONKEY")}))
		evs := orgEventsOf(org, first, 2)
		latest := s().OrgFeed(evs[1].ID)
		older := s().OrgFeed(evs[0].ID)
		unknown := s().OrgFeed("org-0")
		latest.ExpectNoEvent(s().Timings.Quiet)
		second := s().StartJob(job("sleep 1", []string{s().Name("DONKEY")}))
		Expect(orgEventsOf(latest, second, 2)[0].Name).To(Equal("start"))
		Expect(latest.Events[0].Name).To(Equal("start"))
		Expect(older.Read(1)[0].ID).To(Equal(evs[1].ID))
		orgEventsOf(older, second, 2)
		u := unknown.Read(1)
		Expect(u[0].Name).To(Equal("start_of_history"))
		Expect(orgEventsOf(unknown, first, 2)).To(HaveLen(2))
		orgEventsOf(unknown, second, 2)
		for _, f := range []*framework.FeedLog{org, latest, older, unknown} {
			framework.ExpectNoViolations(checks.OrgFeed(framework.ForChecks(f.Events)), "org feed")
		}
	})

	// MUST: Org feed events expire after org_feed_expiration: a reader with an unknown
	// Last-Event-ID no longer gets the events of a job that finished longer ago.
	// Section: §6, §12
	// Supersedes: pushy_api_test.erl "events expire (expiration 1 s → only start_of_history)"
	It("forgets expired events", L("slow"), func() {
		org := s().OrgFeed("")
		id := s().StartJob(job("sleep 1", []string{s().Name("DONKEY")}))
		orgEventsOf(org, id, 2)
		Eventually(func(g Gomega) {
			f := s().OrgFeed("org-0")
			defer f.Close()
			evs := f.Collect(s().Timings.Quiet / 3)
			g.Expect(evs).NotTo(BeEmpty())
			g.Expect(evs[0].Name).To(Equal("start_of_history"))
			for _, ev := range evs {
				g.Expect(string(ev.Data)).NotTo(ContainSubstring(id), "event %s %s", ev.Name, ev.ID)
			}
		}).WithTimeout(s().Timings.OrgFeedExpiration + s().Timings.Job).WithPolling(s().Timings.OrgFeedExpiration / 4).Should(Succeed())
	})
})

// orgEventsOf reads the org feed until n events of job id have arrived and returns them.
func orgEventsOf(f *framework.FeedLog, id string, n int) []sse.Event {
	GinkgoHelper()
	var out []sse.Event
	seen := 0
	for len(out) < n {
		f.Read(seen + 1)
		ev := f.Events[seen]
		seen++
		var d struct{ Job string }
		_ = json.Unmarshal(ev.Data, &d)
		if d.Job == id {
			out = append(out, ev)
		}
	}
	return out
}
