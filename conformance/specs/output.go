package specs

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pushlab/pushlab/conformance/framework"
	"github.com/pushlab/pushlab/internal/wire"
)

// outputPath is the output resource of a node of a job.
func outputPath(id, node, channel string) string {
	return s().Pushy("jobs/" + id + "/output/" + node + "/" + channel)
}

// capturedJob runs a job with capture_output on p, whose node sends result with stdout and
// stderr (nil: the field is left out), and returns the job id once finished.
func capturedJob(p *framework.Peer, capture bool, result string, stdout, stderr *string) string {
	GinkgoHelper()
	id := s().StartJob(job("capture_test", []string{p.Node}, "capture_output", capture))
	c := p.Expect(wire.TypeCommit).(wire.Commit)
	Expect(c.Capture).To(Equal(capture), "capture in the commit message")
	p.Send(wire.TypeAckCommit, id)
	p.Expect(wire.TypeRun)
	p.Send(wire.TypeAckRun, id)
	p.SendResult(result, id, stdout, stderr)
	s().WaitFinished(id)
	return id
}

func strp(s string) *string { return &s }

var _ = Describe("Captured output", L("output"), func() {
	// MUST: Output sent with succeeded or failed is served byte for byte by
	// jobs/ID/output/NODE/stdout and .../stderr as application/octet-stream, trailing newlines,
	// carriage returns, non-ASCII text and empty strings included.
	// Section: §2.7
	// Supersedes: end_to_end_spec.rb "output endpoints return exact testout\n/testerr\n for succeeding and failing commands; empty strings when command prints nothing; empty stderr / empty stdout cases"
	DescribeTable("stored output", func(result, stdout, stderr string) {
		p := s().Peer("DONKEY")
		id := capturedJob(p, true, result, &stdout, &stderr)
		for ch, want := range map[string]string{"stdout": stdout, "stderr": stderr} {
			r := s().Do(s().Who(framework.Admin), "GET", outputPath(id, p.Node, ch), "")
			Expect(r.Status).To(Equal(200), "%s: %s", ch, r)
			Expect(r.Header.Get("Content-Type")).To(HavePrefix("application/octet-stream"))
			Expect(string(r.Body)).To(Equal(want), "%s byte for byte", ch)
		}
	},
		Entry("a succeeding command", L("smoke"), wire.TypeSucceeded, "testout\n", "testerr\n"),
		Entry("a failing command", wire.TypeFailed, "testout\n", "testerr\n"),
		Entry("a command that prints nothing", wire.TypeSucceeded, "", ""),
		Entry("no stderr", wire.TypeSucceeded, "testout\n", ""),
		Entry("no stdout", wire.TypeFailed, "", "testerr\n"),
		Entry("non-ASCII and control characters", wire.TypeSucceeded, "héllo\r\nwörld ☃\x00\x1b[0m\n", "\t\"quoted\" \\ </tag>"),
		Entry("60,000 bytes", wire.TypeSucceeded, repeat("0123456789", 6000), repeat("e", 100)),
	)

	// MUST: Without capture the node sends no output and both output resources are 404.
	// Section: §2.7
	// Supersedes: end_to_end_spec.rb "without capture the node sends no stdout/stderr params; 404 when capture off"
	It("has no output without capture", func() {
		p := s().Peer("DONKEY")
		id := capturedJob(p, false, wire.TypeSucceeded, nil, nil)
		for _, ch := range []string{"stdout", "stderr"} {
			r := s().Do(s().Who(framework.Admin), "GET", outputPath(id, p.Node, ch), "")
			Expect(r.Status).To(Equal(404), "%s: %s", ch, r)
		}
	})

	// MUST: Output is stored whenever a result carries both stdout and stderr, even when the job
	// did not ask for capture; a result with only one of them stores nothing.
	// Section: §2.7
	// Supersedes: none (new in this suite; S:docs/capture.md)
	DescribeTable("output the job did not ask for", func(stdout, stderr *string, status int) {
		p := s().Peer("DONKEY")
		id := capturedJob(p, false, wire.TypeSucceeded, stdout, stderr)
		r := s().Do(s().Who(framework.Admin), "GET", outputPath(id, p.Node, "stdout"), "")
		Expect(r.Status).To(Equal(status), "reply %s", r)
		if status == 200 {
			Expect(string(r.Body)).To(Equal(*stdout))
		}
	},
		Entry("both channels", strp("out\n"), strp("err\n"), 200),
		Entry("stdout only", strp("out\n"), nil, 404))

	// MUST: The output resources of a job that does not exist, a node that is not in the job,
	// or a channel other than stdout and stderr are 404; PUT, POST and DELETE are 405; an
	// Accept without application/octet-stream is 406.
	// Section: §2.2, §2.7
	// Supersedes: pushy_api_test.erl "output resource 404/200"
	DescribeTable("output requests that fail", func(method, accept string, path func(id, node string) string, status int) {
		p := s().Peer("DONKEY")
		out, errOut := "x", "y"
		id := capturedJob(p, true, wire.TypeSucceeded, &out, &errOut)
		who := s().Who(framework.Admin)
		if status == 405 {
			who = framework.Requestor{}
		}
		r := s().Do(who, method, path(id, p.Node), "", setHeader("Accept", accept))
		Expect(r.Status).To(Equal(status), "reply %s", r)
	},
		Entry("an unknown job", "GET", "application/octet-stream", func(_, node string) string {
			return outputPath("abcdefabcdef807f32d9572f8aafbd03", node, "stdout")
		}, 404),
		Entry("a node not in the job", "GET", "application/octet-stream", func(id, _ string) string { return outputPath(id, "not-in-job", "stdout") }, 404),
		Entry("channel stdin", "GET", "application/octet-stream", func(id, node string) string { return outputPath(id, node, "stdin") }, 404),
		Entry("PUT", "PUT", "application/octet-stream", func(id, node string) string { return outputPath(id, node, "stdout") }, 405),
		Entry("POST", "POST", "application/octet-stream", func(id, node string) string { return outputPath(id, node, "stdout") }, 405),
		Entry("DELETE", "DELETE", "application/octet-stream", func(id, node string) string { return outputPath(id, node, "stdout") }, 405),
		Entry("a JSON Accept", "GET", "application/json", func(id, node string) string { return outputPath(id, node, "stdout") }, 406),
	)

	// MUST: Reading output follows the read rule: an unknown requestor gets 401 and a user
	// outside the org 403 with their exact bodies; a normal member reads it.
	// Section: §2.3, §2.7
	// Supersedes: none (new in this suite)
	DescribeTable("who may read output", L("auth"), func(a access) {
		p := s().Peer("DONKEY")
		out, errOut := "x", "y"
		id := capturedJob(p, true, wire.TypeSucceeded, &out, &errOut)
		a.check("GET", outputPath(id, p.Node, "stdout"), "")
	},
		Entry("a normal user", allowed(framework.NormalUser, 200)),
		Entry("a non-admin client", allowed(framework.NormalClient, 200)),
		Entry("an invalid user", unknown(framework.InvalidUser)),
		Entry("an outside user", outside(framework.OutsideUser)))

	// MUST: Each node of a job has its own output: three nodes with different output are
	// served each their own.
	// Section: §2.7
	// Supersedes: end_to_end_spec.rb "works on 3 nodes"
	It("keeps each node's output apart", func() {
		ps := s().Peers("DONKEY", 3)
		id := s().StartJob(job("capture_test", names(ps...), "capture_output", true))
		for _, p := range ps {
			p.Expect(wire.TypeCommit)
			p.Send(wire.TypeAckCommit, id)
		}
		for i, p := range ps {
			p.Expect(wire.TypeRun)
			p.Send(wire.TypeAckRun, id)
			out, errOut := p.Node+" out "+itoa(i)+"\n", p.Node+" err\n"
			p.SendResult(wire.TypeSucceeded, id, &out, &errOut)
		}
		s().WaitJob(id, "complete")
		for i, p := range ps {
			b, err := s().API.Output(ctx(), id, p.Node, "stdout")
			Expect(err).NotTo(HaveOccurred())
			Expect(string(b)).To(Equal(p.Node + " out " + itoa(i) + "\n"))
			b, err = s().API.Output(ctx(), id, p.Node, "stderr")
			Expect(err).NotTo(HaveOccurred())
			Expect(string(b)).To(Equal(p.Node + " err\n"))
		}
	})
})

func repeat(s string, n int) string {
	out := make([]byte, 0, len(s)*n)
	for i := 0; i < n; i++ {
		out = append(out, s...)
	}
	return string(out)
}
